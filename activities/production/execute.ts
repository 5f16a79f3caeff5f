// Runs a plan's statements on one database, the same way on a trial branch and on prod: one
// transaction, bounded lock waits, a check inside the transaction before it commits.
import type pg from 'pg';
import type { Plan } from '../schema/plan.ts';

export interface ExecutionLimits {
  /** How long one statement may wait for a lock before the whole apply gives up (ms). */
  lockTimeoutMs: number;
  /** How long one statement may run (ms). */
  statementTimeoutMs: number;
}

export const DEFAULT_LIMITS: ExecutionLimits = { lockTimeoutMs: 10_000, statementTimeoutMs: 15 * 60_000 };

export interface StatementResult {
  sql: string;
  ms: number;
  /** Rows the statement reported affecting, where Postgres reports any. */
  rows: number | null;
}

/** A statement failed: nothing was committed. */
export class StatementError extends Error {
  override name = 'StatementError';
}

/** Statements that cannot run in a transaction block are not applied by this version: it would leave prod half-changed on failure. */
export function checkTransactional(plan: Plan): void {
  const outside = plan.statements.filter((statement) => !statement.transactional);
  if (outside.length) {
    throw new StatementError(
      `the plan has ${outside.length} statement(s) that cannot run inside a transaction (first: ${outside[0]!.sql.trim()}); apply them by hand or change dev so they are not needed`,
    );
  }
}

/**
 * Executes every statement in one transaction; `beforeCommit` runs inside it, after the statements,
 * and rolls everything back by throwing. Returns per-statement durations and row counts.
 */
export async function executePlan(
  client: pg.ClientBase,
  plan: Plan,
  limits: ExecutionLimits,
  beforeCommit: (client: pg.ClientBase) => Promise<void>,
): Promise<StatementResult[]> {
  checkTransactional(plan);
  const results: StatementResult[] = [];
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL lock_timeout = ${Math.round(limits.lockTimeoutMs)}`);
    await client.query(`SET LOCAL statement_timeout = ${Math.round(limits.statementTimeoutMs)}`);
    for (const [index, { sql }] of plan.statements.entries()) {
      const started = performance.now();
      let result: pg.QueryResult;
      try {
        result = await client.query(sql);
      } catch (error) {
        throw new StatementError(`statement ${index + 1} of ${plan.statements.length} failed: ${(error as Error).message}\n  ${sql.trim()}`);
      }
      results.push({ sql, ms: Math.round(performance.now() - started), rows: result.rowCount ?? null });
    }
    await beforeCommit(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
  return results;
}
