// The production apply: one promotion at a time per database (advisory lock), refused when prod
// drifted from the planned starting point, run by the one executor, recorded in the ledger step by
// step (a retry resumes after the last recorded step), verified before the plan is marked applied, and
// fenced: an attempt that Temporal gave up can never run another step.
import type pg from 'pg';
import { readSchema, schemaFingerprint } from '../schema/plan.ts';
import type { Plan } from '../schema/model.ts';
import { dropFailedBuild, execute, finishesInMain, stepsOf, type ExecutionLimits, type StatementResult } from './execute.ts';
import { abandon, claim, ensureLedger, guard, recordApplied, recordFingerprint, recordProgress, type LedgerEntry } from './ledger.ts';
import { abortOnSignal, openSession, FENCE, type AttemptIdentity } from './session.ts';
import { readCatalogObjects } from '../convergence/catalog.ts';
import { catalogHash } from '../convergence/diff.ts';

/** Prod is not what the plan was made from, or not what it should be after it: nothing was applied. */
export class DriftError extends Error {
  override name = 'DriftError';
}

/** Another promotion holds prod's lock right now; retrying later is fine. */
export class ProductionBusyError extends Error {
  override name = 'ProductionBusyError';
}

export interface ApplyResult {
  /** This promotion's plan was applied already (by an earlier attempt), and prod still matches it. */
  alreadyApplied: boolean;
  statements: StatementResult[];
}

const LOCK_KEY = "hashtext('pgpromote:apply')";

export interface ApplyOptions {
  identity: AttemptIdentity;
  limits: ExecutionLimits;
  /** Aborts when Temporal cancels or gives up the attempt: the statement in flight is ended on the server. */
  signal?: AbortSignal;
  /** The hash of dev's catalog that the trial's convergence check proved the branch equal to: prod must reach it before commit. */
  devCatalog: string;
}

export async function applyToProduction(prodUrl: string, plan: Plan, options: ApplyOptions): Promise<ApplyResult> {
  const { identity } = options;
  const prod = await openSession(prodUrl, 'apply', identity, options.limits);
  const stopWatching = abortOnSignal(prodUrl, prod, options.signal);
  try {
    await lockProd(prod);
    await ensureLedger(prod);
    const entry = await claim(prod, identity, plan);
    if (entry.state === 'applied') {
      if ((await fingerprintOf(prod, plan)) !== plan.toFingerprint) {
        throw new DriftError('this promotion applied its plan earlier, but prod has changed since (its schema no longer matches dev): start a new promotion');
      }
      return { alreadyApplied: true, statements: [] };
    }
    const from = await resumePoint(prod, plan, identity, entry);
    // Every transaction first locks the ledger row and checks that this attempt is still the one.
    const beforeStep = (client: pg.ClientBase) => guard(client, identity, plan);
    const statements = await execute(prod, plan, { from, signal: options.signal, hooks: {
      beforeStep,
      afterStep: (client, step) => recordProgress(client, identity, plan, step.number + 1),
      afterCommit: async (client, step) => recordFingerprint(client, identity, plan, step.number + 1, await fingerprintOf(client, plan)),
      finish: async (client) => {
        if ((await fingerprintOf(client, plan)) !== plan.toFingerprint) {
          throw new DriftError(`after the statements, prod does not match dev (fingerprints differ): ${undone(plan)}`);
        }
        if (catalogHash(await readCatalogObjects(client, plan.schemas)) !== options.devCatalog) {
          throw new DriftError(`after the statements, prod's catalog differs from dev's as the trial proved it, in what the planner does not see (did prod change after the trial?): ${undone(plan)}; start a new promotion`);
        }
        await recordApplied(client, identity, plan);
      },
    } });
    return { alreadyApplied: false, statements };
  } finally {
    stopWatching();
    await prod.end().catch(() => {}); // ends the session, and with it the advisory lock
  }
}

const fingerprintOf = async (client: pg.ClientBase, plan: Plan) => schemaFingerprint(await readSchema(client, { schemas: plan.schemas }));

/** What a failed final check leaves: it runs in the main transaction when nothing runs after it. */
function undone(plan: Plan): string {
  return finishesInMain(plan, stepsOf(plan))
    ? 'rolled back, nothing was applied'
    : 'the statements that ran outside the main transaction stay, and the plan is not marked applied';
}

/**
 * How many of the plan's steps are done, checked against prod: prod must hold what the ledger says
 * (the plan's starting point, or its fingerprint after the recorded steps). One thing can be done and
 * not recorded: a statement run outside a transaction, when the attempt ended right after it. Then prod
 * differs, the step is counted done, and the final check still proves prod equals dev.
 */
async function resumePoint(prod: pg.ClientBase, plan: Plan, identity: AttemptIdentity, entry: LedgerEntry): Promise<number> {
  const expected = entry.state === 'prepared' ? entry.preparedFingerprint : plan.fromFingerprint;
  // The last attempt ended between a step's commit and the record of prod's fingerprint after it, so
  // nothing ran after that step; the final check still proves prod equals dev.
  if (expected === null) return entry.stepsDone;
  if ((await fingerprintOf(prod, plan)) === expected) return entry.stepsDone;
  const next = stepsOf(plan)[entry.stepsDone];
  if (entry.state !== 'prepared' || !next || next.transaction) {
    throw new DriftError(entry.state === 'prepared'
      ? 'prod changed since this promotion\'s last recorded step (its schema fingerprint differs from the one the ledger recorded): nothing more was applied; start a new promotion'
      : 'prod changed since the plan was made (its schema fingerprint differs): nothing was applied; start a new promotion');
  }
  await dropFailedBuild(prod, next.statements[0]!);
  const current = await fingerprintOf(prod, plan);
  if (current === expected) return entry.stepsDone;
  await prod.query('BEGIN');
  try {
    await guard(prod, identity, plan);
    await recordProgress(prod, identity, plan, entry.stepsDone + 1);
    await prod.query('COMMIT');
  } catch (error) {
    await prod.query('ROLLBACK').catch(() => {});
    throw error;
  }
  await recordFingerprint(prod, identity, plan, entry.stepsDone + 1, current);
  return entry.stepsDone + 1;
}

/** Takes prod's apply lock, or says which promotion holds it. */
async function lockProd(prod: pg.ClientBase): Promise<void> {
  const { rows } = await prod.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${LOCK_KEY}) AS locked`);
  if (rows[0]!.locked) return;
  const holder = await prod.query<{ application_name: string }>(
    `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.objid = ${LOCK_KEY}::oid`,
  );
  const who = holder.rows[0]?.application_name;
  throw new ProductionBusyError(`another promotion is applying to this database right now${who ? ` (session ${who})` : ''}`);
}

/**
 * After the workflow gave the apply up (failed or cancelled): ends whatever session an attempt may
 * still have, and fences the promotion in the ledger so that no attempt can commit later. Returns
 * what prod holds, which is what the promotion reports.
 */
export async function settleAbandonedApply(prodUrl: string, plan: Plan, promotion: Omit<AttemptIdentity, 'attempt'>, limits: ExecutionLimits) {
  const identity = { ...promotion, attempt: FENCE };
  const prod = await openSession(prodUrl, 'apply', identity, limits);
  try {
    await ensureLedger(prod);
    return await abandon(prod, identity, plan);
  } finally {
    await prod.end().catch(() => {});
  }
}
