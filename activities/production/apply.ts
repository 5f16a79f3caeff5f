// The production apply: one promotion at a time per database (advisory lock), refused when prod
// drifted from the planned starting point, transactional, verified before commit, recorded in the
// ledger in the same transaction, and fenced: an attempt that Temporal gave up can never commit.
import type pg from 'pg';
import { readSchema, schemaFingerprint, type Plan } from '../schema/plan.ts';
import { phasesOf, runInTransaction, type ExecutionLimits, type StatementResult } from './execute.ts';
import { abandon, claim, ensureLedger, guard, record } from './ledger.ts';
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
  const { prepare, main } = phasesOf(plan);
  const prod = await openSession(prodUrl, 'apply', identity, options.limits);
  const stopWatching = abortOnSignal(prodUrl, prod, options.signal);
  try {
    await lockProd(prod);
    await ensureLedger(prod);
    const entry = await claim(prod, identity, plan);
    const fingerprintOf = async (client: pg.ClientBase) => schemaFingerprint(await readSchema(client, { schemas: plan.schemas }));
    if (entry.state === 'applied') {
      if ((await fingerprintOf(prod)) !== plan.toFingerprint) {
        throw new DriftError('this promotion applied its plan earlier, but prod has changed since (its schema no longer matches dev): start a new promotion');
      }
      return { alreadyApplied: true, statements: [] };
    }

    // A retry after the enum values were committed starts from that recorded state.
    const expected = entry.state === 'prepared' ? entry.preparedFingerprint : plan.fromFingerprint;
    if ((await fingerprintOf(prod)) !== expected) {
      throw new DriftError('prod changed since the plan was made (its schema fingerprint differs): nothing was applied; start a new promotion');
    }
    const statements: StatementResult[] = [];
    // Each transaction first locks the ledger row and checks that this attempt is still the one.
    const inTransaction = (phase: typeof main, beforeCommit: (client: pg.ClientBase) => Promise<void>) =>
      runInTransaction(prod, plan, phase, options.limits, { afterBegin: (client) => guard(client, identity, plan), beforeCommit });
    if (entry.state === 'started' && prepare.length) {
      statements.push(...(await inTransaction(prepare, async (client) => record(client, identity, plan, 'prepared', await fingerprintOf(client)))));
    }
    statements.push(
      ...(await inTransaction(main, async (client) => {
        if ((await fingerprintOf(client)) !== plan.toFingerprint) {
          throw new DriftError('after the statements, prod does not match dev (fingerprints differ): rolled back, nothing was applied');
        }
        if (catalogHash(await readCatalogObjects(client, plan.schemas)) !== options.devCatalog) {
          throw new DriftError("after the statements, prod's catalog differs from dev's as the trial proved it, in what the planner does not see (did prod change after the trial?): rolled back, nothing was applied; start a new promotion");
        }
        await record(client, identity, plan, 'applied');
      })),
    );
    return { alreadyApplied: false, statements };
  } finally {
    stopWatching();
    await prod.end().catch(() => {}); // ends the session, and with it the advisory lock
  }
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
