// The production apply: one promotion at a time per database (advisory lock), refused when prod
// drifted from the planned starting point, transactional, verified before commit, and recorded in a
// ledger so that a retried apply of the same plan is a no-op.
import type pg from 'pg';
import { introspect, INTERNAL_SCHEMA, type IntrospectOptions } from '../schema/introspect.ts';
import { fingerprint } from '../schema/snapshot.ts';
import type { Plan } from '../schema/plan.ts';
import { executePlan, type ExecutionLimits, type StatementResult } from './execute.ts';

/** Prod is not what the plan was made from, or not what it should be after it: nothing was applied. */
export class DriftError extends Error {
  override name = 'DriftError';
}

/** Another promotion holds prod's lock right now; retrying later is fine. */
export class ProductionBusyError extends Error {
  override name = 'ProductionBusyError';
}

export interface ApplyResult {
  /** The ledger says this exact plan was applied already (e.g. a retried activity). */
  alreadyApplied: boolean;
  statements: StatementResult[];
}

const LOCK_KEY = "hashtext('pgpromote:apply')";
const LEDGER = `${INTERNAL_SCHEMA}.applied_plans`;

export async function applyToProduction(
  prod: pg.ClientBase,
  plan: Plan,
  options: IntrospectOptions & { promotionId: string; limits: ExecutionLimits },
): Promise<ApplyResult> {
  const { rows } = await prod.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${LOCK_KEY}) AS locked`);
  if (!rows[0]!.locked) throw new ProductionBusyError('another promotion is applying to this database right now');
  try {
    await prod.query(`CREATE SCHEMA IF NOT EXISTS ${INTERNAL_SCHEMA}`);
    await prod.query(`CREATE TABLE IF NOT EXISTS ${LEDGER} (
      plan_hash text PRIMARY KEY,
      promotion_id text NOT NULL,
      from_fingerprint text NOT NULL,
      to_fingerprint text NOT NULL,
      statements jsonb NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const applied = await prod.query(`SELECT 1 FROM ${LEDGER} WHERE plan_hash = $1`, [plan.planHash]);
    if (applied.rowCount) return { alreadyApplied: true, statements: [] };

    const current = fingerprint(await introspect(prod, options));
    if (current !== plan.fromFingerprint) {
      throw new DriftError('prod changed since the plan was made (its schema fingerprint differs): nothing was applied; start a new promotion');
    }
    const statements = await executePlan(prod, plan, options.limits, async (client) => {
      const after = fingerprint(await introspect(client, options));
      if (after !== plan.toFingerprint) {
        throw new DriftError('after the statements, prod does not match dev (fingerprints differ): rolled back, nothing was applied');
      }
      await client.query(
        `INSERT INTO ${LEDGER} (plan_hash, promotion_id, from_fingerprint, to_fingerprint, statements) VALUES ($1, $2, $3, $4, $5)`,
        [plan.planHash, options.promotionId, plan.fromFingerprint, plan.toFingerprint, JSON.stringify(plan.statements.map((s) => s.sql))],
      );
    });
    return { alreadyApplied: false, statements };
  } finally {
    await prod.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`).catch(() => {});
  }
}
