// A prod and a dev database loaded with SQL, for the planner's tests; dropped afterwards.
import type pg from 'pg';
import { planUrls, type PlanOptions } from '../../activities/schema/plan.ts';
import { withClient as withUrl } from '../../activities/db.ts';
import { createDatabase, databaseUrl, dropDatabase } from '../support.ts';

/** A connection to one database of the run's shared server, by name. */
export function withClient<T>(database: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  return withUrl(databaseUrl(database), use);
}

export async function withDatabases<T>(before: string, after: string, use: (prod: string, dev: string) => Promise<T>): Promise<T> {
  const [prod, dev] = await Promise.all([createDatabase('plan_prod', before), createDatabase('plan_dev', after)]);
  try {
    return await use(prod.name, dev.name);
  } finally {
    await Promise.all([dropDatabase(prod.name), dropDatabase(dev.name)]);
  }
}

export function plan(prod: string, dev: string, options: PlanOptions = {}) {
  return planUrls(databaseUrl(prod), databaseUrl(dev), options);
}

/** Plans `before` → `after` on fresh databases. */
export function planBetween(before: string, after: string, options: PlanOptions = {}) {
  return withDatabases(before, after, (prod, dev) => plan(prod, dev, options));
}
