// A prod and a dev database loaded with SQL, for the planner's tests; dropped afterwards.
import type pg from 'pg';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { planUrls, type PlanOptions } from '../../activities/schema/plan.ts';
import type { Plan } from '../../activities/schema/model.ts';
import { withClient as withUrl } from '../../activities/db.ts';
import { execute } from '../../activities/production/execute.ts';
import { createDatabase, databaseUrl, dropDatabase, sql } from '../support.ts';

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

export async function schemaDump(database: string): Promise<string> {
  const { stdout } = await promisify(execFile)('pg_dump', ['--schema-only', databaseUrl(database)], { maxBuffer: 64 << 20 });
  return stdout
    .split('\n')
    // \restrict lines carry a random key per dump
    .filter((line) => line.trim() && !line.startsWith('--') && !/^SET |^SELECT pg_catalog\.set_config|^\\(un)?restrict /.test(line))
    .join('\n');
}

/** Applies the plan to the database at `url` with the executor that the trial and the production apply use. */
export async function applyPlan(url: string, plan: Plan): Promise<void> {
  await withUrl(url, async (client) => {
    try {
      await execute(client, plan);
    } catch (error: any) {
      throw new Error(`${error.message}\n  plan:\n${plan.statements.map((s) => `    ${s.sql}`).join('\n')}`);
    }
  });
}

/** A copy of prod (with its rows) with the plan applied, for `use`; dropped afterwards. */
export async function withAppliedCopy<T>(prod: string, plan: Plan, use: (copy: string) => Promise<T>): Promise<T> {
  const copy = `${prod}_copy`;
  await sql(`CREATE DATABASE "${copy}" TEMPLATE "${prod}"`);
  try {
    await applyPlan(databaseUrl(copy), plan);
    return await use(copy);
  } finally {
    await dropDatabase(copy);
  }
}
