// The one executor: runs a plan's statements on one database the same way on a trial branch, on prod
// and in the schema corpus. The execution rule: the statements not in `main` that come before the
// plan's first `main` statement run first, then every `main` statement in one transaction, then the
// others in plan order (`own-transaction`: each in a transaction of its own; `no-transaction`: alone).
// Each statement runs with its own lock and statement timeouts; a lock timeout is retried with backoff
// until the plan's lock budget is spent, so that app queries never queue long behind a waiting DDL.
import type pg from 'pg';
import type { Plan, PlannedStatement, TableLock } from '../schema/model.ts';
import { qualified } from '../quote.ts';

export interface ExecutionLimits {
  /**
   * How long the server keeps a transaction whose client went quiet (ms): a frozen or vanished worker
   * holds prod's locks no longer than this, and its transaction can never commit after it.
   */
  idleInTransactionTimeoutMs: number;
}

export const DEFAULT_LIMITS: ExecutionLimits = { idleInTransactionTimeoutMs: 5_000 };

export interface StatementResult {
  sql: string;
  /** How long its last, successful run took. */
  ms: number;
  /** Rows the statement reported affecting, where Postgres reports any. */
  rows: number | null;
  /** How many times its step gave up waiting for a lock before it ran. */
  lockRetries: number;
}

/** A statement failed: nothing of its transaction was committed. */
export class StatementError extends Error {
  override name = 'StatementError';
}

/** A statement did not fail on its own: its connection was lost or ended. Nothing of its transaction
 * was committed, and another attempt may well succeed. */
export class StatementInterruptedError extends Error {
  override name = 'StatementInterruptedError';
}

/** The plan's lock budget is spent: a session kept the locks a statement needs. Retrying at once would
 * queue behind the same session again, so the apply stops here. */
export class LockBudgetSpentError extends Error {
  override name = 'LockBudgetSpentError';
}

/** One lock timeout, retried within the budget. */
class LockTimeoutError extends Error {
  /** `statement`: the planned statement that waited, when it was one (not the drop of a failed build). */
  constructor(where: string, readonly statement?: PlannedStatement) {
    super(where);
  }
}

// No SQLSTATE: the connection broke. 08: connection exceptions; 57P0x: the session was ended (by an
// administrator, a newer attempt, a restart); 25P03: idle in transaction too long.
const interrupted = (code: string | undefined) => !code || code.startsWith('08') || /^57P0\d$/.test(code) || code === '25P03';
const LOCK_NOT_AVAILABLE = '55P03';

/** What runs together: the main transaction, or one statement not in it. */
export interface Step {
  /** Its position among the plan's steps, from 0: the ledger counts finished steps. */
  number: number;
  statements: PlannedStatement[];
  /** In a transaction (the main one, or one of its own); else alone, outside any. */
  transaction: boolean;
}

/** The plan's steps in the order they run, by the execution rule. */
export function stepsOf(plan: Plan): Step[] {
  const firstMain = plan.statements.findIndex((statement) => statement.mode === 'main');
  const alone = (statement: PlannedStatement) => ({ statements: [statement], transaction: statement.mode === 'own-transaction' });
  const before = (firstMain < 0 ? plan.statements : plan.statements.slice(0, firstMain)).map(alone);
  const main = firstMain < 0 ? [] : [{ statements: plan.statements.filter((statement) => statement.mode === 'main'), transaction: true }];
  const after = firstMain < 0 ? [] : plan.statements.slice(firstMain).filter((statement) => statement.mode !== 'main').map(alone);
  return [...before, ...main, ...after].map((step, number) => ({ number, ...step }));
}

/** Whether the final check runs inside the main transaction, so that a failed check leaves nothing of
 * it applied: when that transaction is the plan's last step, unless the plan changes big tables online
 * (reading prod's schema there would hold their locks, and app queries would queue behind them). */
export function finishesInMain(plan: Plan, steps: Step[]): boolean {
  const last = steps.at(-1);
  return !plan.online && !!last && last.statements[0]!.mode === 'main';
}

/** What differs between the callers, run by the executor at fixed points. Each may throw to stop. */
export interface ExecutionHooks {
  /** First thing in every transaction, and in a short one before each statement run outside any
   * (the apply checks there that its attempt may still go on). */
  beforeStep?: (client: pg.ClientBase) => Promise<unknown>;
  /** After a step: inside its transaction before commit, or for a statement run outside any, in a short
   * transaction after it. Not called when `finish` runs in the same transaction. */
  afterStep?: (client: pg.ClientBase, step: Step) => Promise<unknown>;
  /** After a step's commit (or a statement run outside any, and its `afterStep`), holding no lock of the
   * step: the apply reads prod's fingerprint here. Not called for the step that `finish` runs in. */
  afterCommit?: (client: pg.ClientBase, step: Step) => Promise<unknown>;
  /** After the last step: inside the main transaction before it commits when nothing runs after it (the
   * plan stays all-or-nothing), else in a last transaction of its own. */
  finish?: (client: pg.ClientBase) => Promise<unknown>;
}

export interface ExecuteOptions {
  hooks?: ExecutionHooks;
  /** Steps already finished (by an earlier attempt): execution resumes after them. */
  from?: number;
  /** Stops the wait between lock retries (the activity was cancelled). */
  signal?: AbortSignal;
}

/** Runs `plan` on `client` by the execution rule; returns what each statement run took, in plan order. */
export async function execute(client: pg.ClientBase, plan: Plan, options: ExecuteOptions = {}): Promise<StatementResult[]> {
  const { hooks = {}, from = 0 } = options;
  const steps = stepsOf(plan);
  const last = steps.at(-1);
  const finishInMain = finishesInMain(plan, steps);
  const budget = new LockBudget(plan, options.signal);
  const results: StatementResult[] = [];
  try {
    for (const step of steps.slice(from)) {
      const finish = step === last && finishInMain ? hooks.finish : undefined;
      const run = step.transaction
        ? () => runInTransaction(client, plan, step, { beforeStep: hooks.beforeStep, end: finish ?? (hooks.afterStep && ((c) => hooks.afterStep!(c, step))) })
        : () => runAlone(client, plan, step, hooks);
      const { value, retries } = await budget.retrying(client, step, steps, run);
      results.push(...value.map((result) => ({ ...result, lockRetries: retries })));
      if (!finish) await hooks.afterCommit?.(client, step);
    }
    if (hooks.finish && !finishInMain) await inTransaction(client, hooks.beforeStep, hooks.finish);
  } catch (error) {
    throw sessionLost(error) ?? error;
  }
  const position = (result: StatementResult) => plan.statements.findIndex((statement) => statement.sql === result.sql);
  return results.sort((a, b) => position(a) - position(b));
}

/**
 * The session ended between statements (say, terminated while it paused to retry a lock): pg then
 * throws plain errors with no SQLSTATE for whatever runs next. Like a statement whose session ended,
 * it is an interruption that another attempt may well get past, not a failure of the plan.
 */
function sessionLost(error: unknown): StatementInterruptedError | undefined {
  if (!(error instanceof Error) || error.constructor !== Error) return undefined; // ours and pg's DatabaseError are subclasses
  return new StatementInterruptedError(`the session to the database ended: ${error.message}`);
}

type Ran = Omit<StatementResult, 'lockRetries'>;

async function runInTransaction(
  client: pg.ClientBase,
  plan: Plan,
  step: Step,
  hooks: { beforeStep?: ExecutionHooks['beforeStep']; end?: (client: pg.ClientBase) => Promise<unknown> },
): Promise<Ran[]> {
  const results: Ran[] = [];
  await inTransaction(client, hooks.beforeStep, async () => {
    for (const statement of step.statements) {
      await client.query(`SET LOCAL lock_timeout = ${Math.round(statement.lockTimeoutMs)}`);
      await client.query(`SET LOCAL statement_timeout = ${Math.round(statement.statementTimeoutMs)}`);
      results.push(await run(client, plan, statement));
    }
    await hooks.end?.(client);
  });
  return results;
}

/** A statement that cannot run in a transaction: checked before, recorded after, each in a short transaction. */
async function runAlone(client: pg.ClientBase, plan: Plan, step: Step, hooks: ExecutionHooks): Promise<Ran[]> {
  const statement = step.statements[0]!;
  if (hooks.beforeStep) await inTransaction(client, hooks.beforeStep, async () => {});
  await client.query(`SET lock_timeout = ${Math.round(statement.lockTimeoutMs)}`);
  await client.query(`SET statement_timeout = ${Math.round(statement.statementTimeoutMs)}`);
  let result: Ran;
  try {
    await dropFailedBuild(client, statement);
    result = await run(client, plan, statement);
  } finally {
    await client.query('RESET lock_timeout; RESET statement_timeout').catch(() => {});
  }
  if (hooks.afterStep) await inTransaction(client, hooks.beforeStep, (c) => hooks.afterStep!(c, step));
  return [result];
}

async function inTransaction(client: pg.ClientBase, first: ExecutionHooks['beforeStep'], work: (client: pg.ClientBase) => Promise<unknown>) {
  await client.query('BEGIN');
  try {
    await first?.(client);
    await work(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

async function run(client: pg.ClientBase, plan: Plan, statement: PlannedStatement): Promise<Ran> {
  const started = performance.now();
  try {
    const result = await client.query(statement.sql);
    return { sql: statement.sql, ms: Math.round(performance.now() - started), rows: result.rowCount ?? null };
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    const where = `statement ${plan.statements.indexOf(statement) + 1} of ${plan.statements.length}`;
    if (code === LOCK_NOT_AVAILABLE) throw new LockTimeoutError(where, statement);
    const Failure = interrupted(code) ? StatementInterruptedError : StatementError;
    throw new Failure(`${where} failed: ${message}\n  ${statement.sql.trim()}`);
  }
}

/**
 * A `CREATE INDEX CONCURRENTLY` that failed (or whose session ended) leaves its index behind, INVALID:
 * dropped before the statement runs again. The index is known by the statement's target, never by its SQL.
 */
export async function dropFailedBuild(client: pg.ClientBase, statement: PlannedStatement): Promise<void> {
  const index = statement.target?.index;
  if (statement.mode !== 'no-transaction' || !index) return;
  const name = qualified(statement.target!.schema, index);
  const { rowCount } = await client.query('SELECT 1 FROM pg_index WHERE indexrelid = to_regclass($1) AND NOT indisvalid', [name]);
  if (!rowCount) return;
  await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`).catch((error) => {
    throw error.code === LOCK_NOT_AVAILABLE ? new LockTimeoutError(`dropping the invalid index ${name} left by a failed build`) : error;
  });
}

/** First wait between lock retries, and the longest (ms); each wait is jittered down to half. */
const BACKOFF_MS = { first: 200, max: 10_000 };

/** The plan's lock budget, spent by every wait for a lock that timed out and every pause after it. */
class LockBudget {
  private spentMs = 0;

  constructor(private readonly plan: Plan, private readonly signal?: AbortSignal) {}

  /** Runs `work` (step `step` of `steps`), again after each lock timeout while the budget lasts. */
  async retrying<T>(client: pg.ClientBase, step: Step, steps: Step[], work: () => Promise<T>): Promise<{ value: T; retries: number }> {
    for (let retries = 0; ; retries++) {
      const started = performance.now();
      try {
        return { value: await work(), retries };
      } catch (error) {
        if (!(error instanceof LockTimeoutError)) throw error;
        this.spentMs += performance.now() - started;
        const pauseMs = Math.min(BACKOFF_MS.max, BACKOFF_MS.first * 2 ** retries) * (0.5 + Math.random() / 2);
        if (this.spentMs + pauseMs > this.plan.lockBudgetMs) {
          throw new LockBudgetSpentError(await budgetSpentMessage(client, this.plan, step, steps, error, retries + 1));
        }
        await pause(pauseMs, this.signal);
        this.spentMs += pauseMs;
      }
    }
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new StatementInterruptedError('the apply was cancelled while it waited to retry a lock'));
    const stop = () => {
      clearTimeout(timer);
      reject(new StatementInterruptedError('the apply was cancelled while it waited to retry a lock'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', stop);
      resolve();
    }, ms);
    signal?.addEventListener('abort', stop, { once: true });
  });
}

async function budgetSpentMessage(client: pg.ClientBase, plan: Plan, step: Step, steps: Step[], timedOut: LockTimeoutError, tries: number) {
  const statement = timedOut.statement ?? step.statements[0]!;
  const where = timedOut.message;
  const blocker = await blockingSession(client, plan, step, timedOut.statement);
  const finished = steps.slice(0, step.number).reduce((count, done) => count + done.statements.length, 0);
  const kept = finished ? ` The ${finished} statement(s) that ran before it stay applied and recorded: a new promotion plans the rest from there.` : '';
  return `${where} could not get its locks within the plan's lock budget of ${seconds(plan.lockBudgetMs)} (${tries} tries, each waiting at most ${statement.lockTimeoutMs} ms, so that app queries never queued longer behind it)`
    + `: ${blocker ?? 'another session holds locks it needs (pgpromote could not tell which)'}. What ran in its transaction was rolled back.${kept}`
    + ' End that session or wait until it finishes, then retry (a larger --lock-budget waits longer).';
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/** Lock modes (pg_locks.mode) that conflict with each lock a statement takes on its table (Postgres's table of
 * conflicting lock modes). */
const CONFLICTING: Record<Exclude<TableLock, 'none'>, string[]> = {
  'ACCESS SHARE': ['AccessExclusiveLock'],
  'SHARE UPDATE EXCLUSIVE': ['ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'],
  SHARE: ['RowExclusiveLock', 'ShareUpdateExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'],
  'SHARE ROW EXCLUSIVE': ['RowExclusiveLock', 'ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'],
  'ACCESS EXCLUSIVE': ['AccessShareLock', 'RowShareLock', 'RowExclusiveLock', 'ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'],
};

/** The session that most likely kept the locks: the oldest transaction holding a lock on the table of the
 * statement that waited (else of the step), or else on any table of the plan's schemas. A statement in a
 * transaction waits only for locks that conflict with its own; one run outside (CONCURRENTLY) also waits for
 * older transactions to end, whatever they hold. */
async function blockingSession(client: pg.ClientBase, plan: Plan, step: Step, waited?: PlannedStatement): Promise<string | undefined> {
  const tables = (waited ? [waited] : step.statements).flatMap(({ target }) => (target?.table ? [qualified(target.schema, target.table)] : []));
  const lock = waited && waited.mode !== 'no-transaction' ? waited.lock : undefined;
  const conflicting = lock && lock !== 'none' ? CONFLICTING[lock] : null;
  const { rows } = await client.query<{ pid: number; application_name: string; state: string; seconds: number }>(
    `SELECT a.pid, a.application_name, a.state, round(extract(epoch FROM now() - coalesce(a.xact_start, a.query_start)))::int AS seconds
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE l.granted AND l.pid <> pg_backend_pid() AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND (l.relation IN (SELECT to_regclass(name) FROM unnest($1::text[]) name) OR n.nspname = ANY($2::text[]))
        AND ($3::text[] IS NULL OR l.mode = ANY($3::text[]))
      ORDER BY l.relation IN (SELECT to_regclass(name) FROM unnest($1::text[]) name) DESC, a.xact_start NULLS LAST
      LIMIT 1`,
    [tables, plan.schemas, conflicting],
  ).catch(() => ({ rows: [] }));
  const found = rows[0];
  if (!found) return undefined;
  return `blocked by session ${found.pid} (application_name "${found.application_name}", ${found.state}, in its transaction for ${found.seconds} s)`;
}
