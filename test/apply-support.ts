// Prod and dev databases with the plan between them and what the trial would hand the apply, for the
// production apply's tests.
import { randomUUID } from 'node:crypto';
import { databasePairs, sql } from './support.ts';
import { withClient } from '../activities/db.ts';
import { planUrls, type PlanOptions } from '../activities/schema/plan.ts';
import type { Plan } from '../activities/schema/model.ts';
import { applyToProduction } from '../activities/production/apply.ts';
import { DEFAULT_LIMITS } from '../activities/production/execute.ts';
import type { AttemptIdentity } from '../activities/production/session.ts';
import { readCatalogObjects } from '../activities/convergence/catalog.ts';
import { catalogHash } from '../activities/convergence/diff.ts';

export const promotion = (promotionId = `p-${randomUUID()}`) => ({ promotionId, runId: randomUUID() });
export const firstAttempt = () => ({ ...promotion(), attempt: 1 });

/** The ledger's rows on prod, oldest first. */
export const ledger = async (database: string) =>
  (await sql('SELECT promotion_id, attempt, state FROM _pgpromote.applied_plans ORDER BY updated_at', database)).rows;

/** Databases planned with `pair` (dropped by `dropAll`), and `apply`, which applies any plan made from them. */
export function applyFixtures() {
  const databases = databasePairs();
  // What the trial would hand the apply: the hash of dev's catalog, by plan hash.
  const devCatalogs = new Map<string, string>();
  return {
    async pair(prodSql: string, devSql: string, options: PlanOptions = {}) {
      const { prod, dev } = await databases.pair(prodSql, devSql);
      const plan = await planUrls(prod.url, dev.url, options);
      devCatalogs.set(plan.planHash, catalogHash(await withClient(dev.url, (client) => readCatalogObjects(client, plan.schemas))));
      return { prod, dev, plan };
    },
    apply: (url: string, plan: Plan, identity: AttemptIdentity = firstAttempt(), signal?: AbortSignal) =>
      applyToProduction(url, plan, { identity, limits: DEFAULT_LIMITS, signal, devCatalog: devCatalogs.get(plan.planHash)! }),
    dropAll: databases.dropAll,
  };
}
