// The ledger on prod (`_pgpromote.applied_plans`): one row per promotion run and plan, written in
// the same transactions as the statements (for a statement run outside any, in a short one right
// after it), so that what it says is what prod holds, step by step. It fences
// attempts too: each attempt claims the row with its number, and a transaction that changes prod
// first locks the row and checks that its attempt is still the latest and not given up.
import type pg from 'pg';
import { INTERNAL_SCHEMA } from '../schema/read/catalog.ts';
import type { Plan } from '../schema/model.ts';
import { stepsOf } from './execute.ts';
import { SupersededError, type AttemptIdentity } from './session.ts';

export const LEDGER = `${INTERNAL_SCHEMA}.applied_plans`;

/** started → (prepared: some of the plan's steps committed, `steps_done` of them) → applied; or
 * abandoned once the workflow gave the apply up. */
export type LedgerState = 'started' | 'prepared' | 'applied' | 'abandoned';

export interface LedgerEntry {
  state: LedgerState;
  attempt: number;
  /** How many of the plan's steps (`stepsOf`) are committed: a new attempt resumes after them. */
  stepsDone: number;
  /** Prod's schema fingerprint once they were; null when the attempt ended between a step's commit and
   * this record (taken after the commit, so that the step's locks are not held while prod is read). */
  preparedFingerprint: string | null;
}

/** The workflow gave this promotion's apply up: no attempt may change prod for it any more. */
export class AbandonedError extends Error {
  override name = 'AbandonedError';
}

const STATES = "('started', 'prepared', 'applied', 'abandoned')";

/** Creates the ledger, or brings one of the first release (keyed by plan hash alone) to this shape. */
export async function ensureLedger(client: pg.ClientBase): Promise<void> {
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${INTERNAL_SCHEMA}`);
  await client.query(`CREATE TABLE IF NOT EXISTS ${LEDGER} (
    promotion_id text NOT NULL,
    run_id text NOT NULL,
    plan_hash text NOT NULL,
    attempt int NOT NULL,
    state text NOT NULL CONSTRAINT applied_plans_state_check CHECK (state IN ${STATES}),
    from_fingerprint text NOT NULL,
    prepared_fingerprint text,
    steps_done int NOT NULL DEFAULT 0,
    to_fingerprint text NOT NULL,
    statements jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (promotion_id, run_id, plan_hash)
  )`);
  const hasColumn = async (name: string) => (await client.query(
    `SELECT 1 FROM pg_attribute WHERE attrelid = '${LEDGER}'::regclass AND attname = $1 AND NOT attisdropped`, [name],
  )).rowCount;
  // Asked first: altering the table takes a lock that the ledger's readers would queue behind.
  if (!(await hasColumn('steps_done'))) await client.query(`ALTER TABLE ${LEDGER} ADD COLUMN IF NOT EXISTS steps_done int NOT NULL DEFAULT 0`);
  if (await hasColumn('run_id')) return;
  // First release: rows stay (their promotions are over), under an empty run id.
  await client.query('BEGIN');
  try {
    await client.query(`ALTER TABLE ${LEDGER}
      ADD COLUMN run_id text NOT NULL DEFAULT '',
      ADD COLUMN attempt int NOT NULL DEFAULT 0,
      DROP CONSTRAINT applied_plans_pkey,
      ADD PRIMARY KEY (promotion_id, run_id, plan_hash),
      DROP CONSTRAINT applied_plans_state_check,
      ADD CONSTRAINT applied_plans_state_check CHECK (state IN ${STATES})`);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

const KEY = 'promotion_id = $1 AND run_id = $2 AND plan_hash = $3';
const keyOf = (identity: AttemptIdentity, plan: Plan) => [identity.promotionId, identity.runId, plan.planHash];

const COLUMNS = 'state, attempt, steps_done, prepared_fingerprint';

const entryOf = (row: { state: LedgerState; attempt: number; steps_done: number; prepared_fingerprint: string | null }): LedgerEntry => ({
  state: row.state,
  attempt: row.attempt,
  stepsDone: row.steps_done,
  preparedFingerprint: row.prepared_fingerprint,
});

/**
 * Records that `identity` works on `plan` now (committed at once, so that an older attempt that
 * wakes up later sees it); refuses when a newer attempt claimed it or the apply was abandoned.
 */
export async function claim(client: pg.ClientBase, identity: AttemptIdentity, plan: Plan): Promise<LedgerEntry> {
  const { rows } = await upsert(client, identity, plan, 'started', 'attempt = greatest(l.attempt, excluded.attempt)');
  return check(entryOf(rows[0]), identity);
}

/** Inserts the row of `identity` and `plan` in `state`, or updates the existing one with `onConflict`. */
function upsert(client: pg.ClientBase, identity: AttemptIdentity, plan: Plan, state: LedgerState, onConflict: string) {
  return client.query(
    `INSERT INTO ${LEDGER} AS l (promotion_id, run_id, plan_hash, attempt, state, from_fingerprint, to_fingerprint, statements)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (promotion_id, run_id, plan_hash) DO UPDATE SET ${onConflict}, updated_at = now()
     RETURNING ${COLUMNS}`,
    [...keyOf(identity, plan), identity.attempt, state, plan.fromFingerprint, plan.toFingerprint, JSON.stringify(plan.statements.map((s) => s.sql))],
  );
}

function check(entry: LedgerEntry, identity: AttemptIdentity): LedgerEntry {
  if (entry.state === 'abandoned') {
    throw new AbandonedError(`promotion ${identity.promotionId} gave its apply up: attempt ${identity.attempt} stops without changing prod`);
  }
  if (entry.attempt > identity.attempt) {
    throw new SupersededError(`attempt ${identity.attempt} of promotion ${identity.promotionId} was superseded by attempt ${entry.attempt}: it stops without changing prod`);
  }
  return entry;
}

/** Inside a transaction that changes prod: locks the row until commit and checks this attempt may still go on. */
export async function guard(client: pg.ClientBase, identity: AttemptIdentity, plan: Plan): Promise<LedgerEntry> {
  const { rows } = await client.query(`SELECT ${COLUMNS} FROM ${LEDGER} WHERE ${KEY} FOR UPDATE`, keyOf(identity, plan));
  if (!rows[0]) throw new AbandonedError(`promotion ${identity.promotionId} has no ledger entry for plan ${plan.planHash}: it stops without changing prod`);
  return check(entryOf(rows[0]), identity);
}

/** Records that the plan's first `stepsDone` steps are committed: inside the transaction of the last of
 * them, or in the short one after a statement run outside any. */
export async function recordProgress(client: pg.ClientBase, identity: AttemptIdentity, plan: Plan, stepsDone: number): Promise<void> {
  await client.query(
    `UPDATE ${LEDGER} SET state = 'prepared', steps_done = $4, prepared_fingerprint = NULL, updated_at = now() WHERE ${KEY}`,
    [...keyOf(identity, plan), stepsDone],
  );
}

/** Records prod's fingerprint after the first `stepsDone` steps, once they are committed; a later step's
 * record is never overwritten. */
export async function recordFingerprint(client: pg.ClientBase, identity: AttemptIdentity, plan: Plan, stepsDone: number, fingerprint: string): Promise<void> {
  await client.query(
    `UPDATE ${LEDGER} SET prepared_fingerprint = $5, updated_at = now() WHERE ${KEY} AND state = 'prepared' AND steps_done = $4`,
    [...keyOf(identity, plan), stepsDone, fingerprint],
  );
}

/** Records the plan applied, inside the transaction that proved prod equals dev. */
export async function recordApplied(client: pg.ClientBase, identity: AttemptIdentity, plan: Plan): Promise<void> {
  await client.query(`UPDATE ${LEDGER} SET state = 'applied', steps_done = $4, updated_at = now() WHERE ${KEY}`, [...keyOf(identity, plan), stepsOf(plan).length]);
}

/**
 * Marks the apply given up, unless it was applied: from then on no attempt can change prod for this
 * promotion. Returns what prod holds, which is what the promotion must report: applied, or not, and
 * which of its statements were committed when it stopped part-way (null: none).
 */
export async function abandon(client: pg.ClientBase, identity: AttemptIdentity, plan: Plan): Promise<{ applied: boolean; committed: string | null }> {
  const { rows } = await upsert(client, identity, plan, 'abandoned',
    "state = CASE WHEN l.state = 'applied' THEN 'applied' ELSE 'abandoned' END, attempt = excluded.attempt");
  const entry = entryOf(rows[0]);
  return { applied: entry.state === 'applied', committed: entry.state === 'applied' ? null : committedSteps(plan, entry.stepsDone) };
}

/** The first `stepsDone` steps of `plan`, in words; null when there are none. */
function committedSteps(plan: Plan, stepsDone: number): string | null {
  const done = stepsOf(plan).slice(0, stepsDone).flatMap((step) => step.statements);
  if (!done.length) return null;
  if (done.every((statement) => statement.kind === 'alter_type_add_value')) return "the plan's new enum values, which were committed first";
  return `the ${done.length} of its ${plan.statements.length} statements that were committed before it stopped (${done.map((statement) => plan.statements.indexOf(statement) + 1).join(', ')})`;
}
