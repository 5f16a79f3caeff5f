// The production apply: one promotion at a time per database (advisory lock), refused when prod
// drifted from the planned starting point, transactional, verified before commit, and recorded in a
// ledger so that a retried apply of the same plan carries on where it stopped, or does nothing.
import type pg from 'pg';
import { INTERNAL_SCHEMA, type IntrospectOptions } from '../schema/introspect.ts';
import { readSchema, schemaFingerprint, type Plan } from '../schema/plan.ts';
import { phasesOf, runInTransaction, type ExecutionLimits, type StatementResult } from './execute.ts';

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
  const { prepare, main } = phasesOf(plan);
  const { rows } = await prod.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${LOCK_KEY}) AS locked`);
  if (!rows[0]!.locked) throw new ProductionBusyError('another promotion is applying to this database right now');
  try {
    await prod.query(`CREATE SCHEMA IF NOT EXISTS ${INTERNAL_SCHEMA}`);
    await prod.query(`CREATE TABLE IF NOT EXISTS ${LEDGER} (
      plan_hash text PRIMARY KEY,
      promotion_id text NOT NULL,
      state text NOT NULL CHECK (state IN ('prepared', 'applied')),
      from_fingerprint text NOT NULL,
      prepared_fingerprint text,
      to_fingerprint text NOT NULL,
      statements jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`);
    const ledger = await prod.query<{ state: string; prepared_fingerprint: string }>(
      `SELECT state, prepared_fingerprint FROM ${LEDGER} WHERE plan_hash = $1`,
      [plan.planHash],
    );
    const entry = ledger.rows[0];
    if (entry?.state === 'applied') return { alreadyApplied: true, statements: [] };

    // A retry after the enum values were committed starts from that recorded state.
    const expected = entry ? entry.prepared_fingerprint : plan.fromFingerprint;
    const fingerprintOf = async (client: pg.ClientBase) => schemaFingerprint(await readSchema(client, options));
    if ((await fingerprintOf(prod)) !== expected) {
      throw new DriftError('prod changed since the plan was made (its schema fingerprint differs): nothing was applied; start a new promotion');
    }
    const record = (client: pg.ClientBase, state: 'prepared' | 'applied', preparedFingerprint: string | null) =>
      client.query(
        `INSERT INTO ${LEDGER} (plan_hash, promotion_id, state, from_fingerprint, prepared_fingerprint, to_fingerprint, statements)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (plan_hash) DO UPDATE SET state = excluded.state, updated_at = now()`,
        [plan.planHash, options.promotionId, state, plan.fromFingerprint, preparedFingerprint, plan.toFingerprint, JSON.stringify(plan.statements.map((s) => s.sql))],
      );
    const statements: StatementResult[] = [];
    if (!entry && prepare.length) {
      statements.push(...(await runInTransaction(prod, plan, prepare, options.limits, async (client) => record(client, 'prepared', await fingerprintOf(client)).then(() => {}))));
    }
    statements.push(
      ...(await runInTransaction(prod, plan, main, options.limits, async (client) => {
        if ((await fingerprintOf(client)) !== plan.toFingerprint) {
          throw new DriftError('after the statements, prod does not match dev (fingerprints differ): rolled back, nothing was applied');
        }
        await record(client, 'applied', entry?.prepared_fingerprint ?? null);
      })),
    );
    return { alreadyApplied: false, statements };
  } finally {
    await prod.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`).catch(() => {});
  }
}
