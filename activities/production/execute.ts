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

/** `ALTER TYPE ... ADD VALUE` may run in a transaction, but the new value is unusable until that commits.
 * Known by the statement's kind, never by its text, which holds dev's names. */
const addsEnumValue = (statement: PlannedStatement) => statement.kind === 'alter_type_add_value';

export interface Phases {
  /** New enum values, committed first in a transaction of their own so that `main` can use them. */
  prepare: PlannedStatement[];
  /** Everything else, in one transaction. */
  main: PlannedStatement[];
}

/** Splits a plan into its transactions; refuses statements that cannot run in a transaction at all. */
export function phasesOf(plan: Plan): Phases {
  const outside = plan.statements.filter((statement) => !statement.transactional && !addsEnumValue(statement));
  if (outside.length) {
    throw new StatementError(
      `the plan has ${outside.length} statement(s) that cannot run inside a transaction (first: ${outside[0]!.sql.trim()}); apply them by hand or change dev so they are not needed`,
    );
  }
  return {
    prepare: plan.statements.filter(addsEnumValue),
    main: plan.statements.filter((statement) => !addsEnumValue(statement)),
  };
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
