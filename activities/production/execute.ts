// Runs a plan's statements on one database, the same way on a trial branch and on prod: in
// transactions, with bounded lock waits and a check inside the transaction before it commits.
import type pg from 'pg';
import type { Plan, PlannedStatement } from '../schema/plan.ts';

export interface ExecutionLimits {
  /** How long one statement may wait for a lock before the whole apply gives up (ms). */
  lockTimeoutMs: number;
  /** How long one statement may run (ms). */
  statementTimeoutMs: number;
  /**
   * How long the server keeps a transaction whose client went quiet (ms): a frozen or vanished worker
   * holds prod's locks no longer than this, and its transaction can never commit after it.
   */
  idleInTransactionTimeoutMs: number;
}

export const DEFAULT_LIMITS: ExecutionLimits = { lockTimeoutMs: 10_000, statementTimeoutMs: 15 * 60_000, idleInTransactionTimeoutMs: 5_000 };

export interface StatementResult {
  sql: string;
  ms: number;
  /** Rows the statement reported affecting, where Postgres reports any. */
  rows: number | null;
}

/** A statement failed: nothing of its transaction was committed. */
export class StatementError extends Error {
  override name = 'StatementError';
}

/** A statement did not fail on its own: its connection was lost or ended, or it waited too long for a
 * lock. Nothing of its transaction was committed, and another attempt may well succeed. */
export class StatementInterruptedError extends Error {
  override name = 'StatementInterruptedError';
}

// No SQLSTATE: the connection broke. 08: connection exceptions; 57P0x: the session was ended (by an
// administrator, a newer attempt, a restart); 25P03: idle in transaction too long; 55P03: lock timeout.
const interrupted = (error: { code?: string }) =>
  !error.code || error.code.startsWith('08') || /^57P0\d$/.test(error.code) || error.code === '25P03' || error.code === '55P03';

export interface Phases {
  /** New enum values, committed first in a transaction of their own so that `main` can use them. */
  prepare: PlannedStatement[];
  /** Everything else, in one transaction. */
  main: PlannedStatement[];
}

/** Splits a plan into its transactions; refuses statements that must run after the main transaction. */
export function phasesOf(plan: Plan): Phases {
  const firstMain = plan.statements.findIndex((statement) => statement.mode === 'main');
  const prepare = firstMain < 0 ? plan.statements : plan.statements.slice(0, firstMain);
  const later = plan.statements.slice(prepare.length);
  const outside = [...prepare.filter((statement) => statement.mode === 'no-transaction'), ...later.filter((statement) => statement.mode !== 'main')];
  if (outside.length) {
    throw new StatementError(
      `the plan has ${outside.length} statement(s) that cannot run inside its transactions (first: ${outside[0]!.sql.trim()}); apply them by hand or change dev so they are not needed`,
    );
  }
  return { prepare, main: later };
}

/** Checks that run inside the transaction: `afterBegin` before the statements, `beforeCommit` after them. Either rolls everything back by throwing. */
export interface TransactionChecks {
  afterBegin?: (client: pg.ClientBase) => Promise<unknown>;
  beforeCommit?: (client: pg.ClientBase) => Promise<unknown>;
}

/** Executes `statements` (of `plan`) in one transaction, with `checks` inside it. Returns per-statement durations and row counts. */
export async function runInTransaction(
  client: pg.ClientBase,
  plan: Plan,
  statements: PlannedStatement[],
  limits: ExecutionLimits,
  checks: TransactionChecks = {},
): Promise<StatementResult[]> {
  const results: StatementResult[] = [];
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL lock_timeout = ${Math.round(limits.lockTimeoutMs)}`);
    await client.query(`SET LOCAL statement_timeout = ${Math.round(limits.statementTimeoutMs)}`);
    await checks.afterBegin?.(client);
    for (const statement of statements) {
      const started = performance.now();
      let result: pg.QueryResult;
      try {
        result = await client.query(statement.sql);
      } catch (error) {
        const number = plan.statements.indexOf(statement) + 1;
        const Failure = interrupted(error as { code?: string }) ? StatementInterruptedError : StatementError;
        throw new Failure(`statement ${number} of ${plan.statements.length} failed: ${(error as Error).message}\n  ${statement.sql.trim()}`);
      }
      results.push({ sql: statement.sql, ms: Math.round(performance.now() - started), rows: result.rowCount ?? null });
    }
    await checks.beforeCommit?.(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
  return results;
}
