// The apply on a prod that the app is using: a DDL that waits for its lock gives up after its short
// lock timeout (so app queries never queue long behind it) and retries within the plan's budget; a
// budget spent stops cleanly and names who held the lock; statements run outside a transaction are
// recorded one by one, so an apply killed between them resumes without running one twice.
import { afterAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { sql } from './support.ts';
import { applyFixtures, firstAttempt, ledger } from './apply-support.ts';
import { connect } from '../activities/db.ts';
import { ident, qualified } from '../activities/quote.ts';
import type { Plan, PlannedStatement } from '../activities/schema/model.ts';
import { execute, LockBudgetSpentError, StatementInterruptedError } from '../activities/production/execute.ts';

const { pair, apply, dropAll } = applyFixtures();
const clients: pg.Client[] = [];
afterAll(async () => {
  await Promise.all(clients.map((client) => client.end().catch(() => {})));
  await dropAll();
});

/** A connection of the app's (or of someone holding a lock), named so that messages can name it. */
async function session(url: string, name: string): Promise<pg.Client> {
  const client = await connect(url, name);
  clients.push(client);
  return client;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let tries = 0; tries < 1_200; tries++) {
    const found = await probe();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** The apply's session while it waits for a lock: its pid and when its statement started. */
const waitingApply = (database: string) => until('the apply to wait for a lock', async () => {
  const { rows } = await sql(
    `SELECT pid, query_start::text AS started FROM pg_stat_activity
      WHERE starts_with(application_name, 'pgpromote:apply:') AND wait_event_type = 'Lock' AND state = 'active'`,
    database,
  );
  return rows[0] as { pid: number; started: string } | undefined;
});

/** Runs `SELECT count(*)` on `table` over and over from its own connection until `stop` is called;
 * returns how many completed and the errors seen. */
async function appQueries(url: string, table: string) {
  const app = await session(url, 'app:reader');
  let running = true;
  let completed = 0;
  const errors: string[] = [];
  const loop = (async () => {
    while (running) {
      await app.query(`SELECT count(*) FROM ${ident(table)}`).then(() => completed++, (error) => errors.push(error.message));
    }
  })();
  return {
    completed: () => completed,
    stop: async () => {
      running = false;
      await loop;
      return { completed, errors };
    },
  };
}

/** `CREATE [UNIQUE] INDEX CONCURRENTLY` of `index` on public.`table`(`column`), as the online planner writes it. */
const concurrentIndex = (table: string, column: string, index: string, unique = false): PlannedStatement => ({
  sql: `CREATE ${unique ? 'UNIQUE ' : ''}INDEX CONCURRENTLY ${ident(index)} ON ${qualified('public', table)} (${ident(column)})`,
  kind: 'create_index',
  mode: 'no-transaction',
  lockTimeoutMs: 300,
  statementTimeoutMs: 60_000,
  target: { schema: 'public', table, index },
  hazards: [],
});

const indexOid = async (database: string, index: string) =>
  (await sql(`SELECT to_regclass('${index}')::oid::int AS oid, (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('${index}')) AS valid`, database)).rows[0];

const TWO_TABLES = 'CREATE TABLE a (id int, v int); CREATE TABLE b (id int, v int); INSERT INTO a SELECT i, i FROM generate_series(1, 1000) i; INSERT INTO b SELECT i, i FROM generate_series(1, 1000) i;';

/** The plan that builds dev's two indexes (the second unique if asked), each concurrently, outside any transaction. */
async function concurrentIndexes(uniqueSecond = false) {
  const { prod, plan } = await pair(TWO_TABLES, `${TWO_TABLES} CREATE INDEX a_v ON a (v); CREATE ${uniqueSecond ? 'UNIQUE ' : ''}INDEX b_v ON b (v);`);
  const statements = [concurrentIndex('a', 'v', 'a_v'), concurrentIndex('b', 'v', 'b_v', uniqueSecond)];
  return { prod, plan: { ...plan, lockBudgetMs: 120_000, statements } satisfies Plan };
}

/** Holds b in a mode that app reads and writes pass but an index build on it waits for. */
async function holdForIndexBuilds(url: string, name: string): Promise<pg.Client> {
  const blocker = await session(url, name);
  await blocker.query('BEGIN');
  await blocker.query('LOCK TABLE b IN SHARE UPDATE EXCLUSIVE MODE');
  return blocker;
}

describe('lock-queue safety', () => {
  it('a transaction holds the table: app queries keep running, the apply retries, and it succeeds once the blocker ends', async () => {
    const { prod, plan } = await pair(
      'CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100);',
      'CREATE TABLE t (id int, note text);',
      { lockTimeoutMs: 300, lockBudgetMs: 120_000 },
    );
    const blocker = await session(prod.url, 'app:long-report');
    await blocker.query('BEGIN');
    await blocker.query('SELECT count(*) FROM t');
    const app = await appQueries(prod.url, 't');
    const applied = apply(prod.url, plan);
    // The ALTER waits, times out, and waits again: a retry, seen by its new start.
    const first = await waitingApply(prod.name);
    const retried = await until('a retry', async () => {
      const now = await waitingApply(prod.name);
      return now.started !== first.started ? now : undefined;
    });
    expect(retried.pid).toBe(first.pid);
    // App queries queue behind each waiting ALTER, but only until its lock timeout: they keep completing.
    const completedWhileBlocked = app.completed();
    await until('app queries to complete while the blocker holds the table', async () => (app.completed() >= completedWhileBlocked + 3 ? true : undefined));
    await blocker.query('COMMIT');
    const result = await applied;
    const { errors } = await app.stop();
    expect(errors).toEqual([]);
    expect(result.statements.map((statement) => statement.sql)).toEqual(plan.statements.map((statement) => statement.sql));
    expect(result.statements[0]!.lockRetries).toBeGreaterThanOrEqual(1);
    expect((await ledger(prod.name)).map((row) => row.state)).toEqual(['applied']);
  });

  it('a blocker that never ends: the apply stops after its budget, names the blocker, and applies nothing of the transaction', async () => {
    const { prod, plan } = await pair(
      'CREATE TABLE t (id int);',
      'CREATE TABLE t (id int, note text); CREATE TABLE audit (id int);',
      { lockTimeoutMs: 200, lockBudgetMs: 1_500 },
    );
    expect(plan.statements.map((statement) => statement.mode)).toEqual(['main', 'main']);
    const blocker = await session(prod.url, 'app:stuck-batch');
    await blocker.query('BEGIN');
    await blocker.query('SELECT count(*) FROM t');
    const failure = await apply(prod.url, plan).catch((error) => error);
    expect(failure).toBeInstanceOf(LockBudgetSpentError);
    expect(failure.message).toContain("could not get its locks within the plan's lock budget of 1.5 s");
    expect(failure.message).toContain(`blocked by session ${(blocker as pg.Client & { processID: number }).processID} (application_name "app:stuck-batch", idle in transaction`);
    expect(failure.message).toContain('What ran in its transaction was rolled back');
    await blocker.query('ROLLBACK');
    expect((await sql("SELECT to_regclass('audit') AS audit, (SELECT count(*)::int FROM information_schema.columns WHERE table_name = 't') AS columns", prod.name)).rows[0])
      .toEqual({ audit: null, columns: 1 });
    expect((await ledger(prod.name)).map((row) => row.state)).toEqual(['started']);
  });

  it('names the session whose lock conflicts with the waiting statement, not an older one whose lock does not', async () => {
    // The online plan's VALIDATE (SHARE UPDATE EXCLUSIVE), applied to a prod that has the constraint NOT VALID.
    const dev = 'CREATE TABLE t (id int CONSTRAINT positive CHECK (id > 0));';
    const online = (await pair('CREATE TABLE t (id int);', dev, { online: 'always', lockTimeoutMs: 200 })).plan.statements;
    const validate = online.find(({ sql }) => sql.includes('VALIDATE CONSTRAINT'))!;
    expect([validate.mode, validate.lock]).toEqual(['own-transaction', 'SHARE UPDATE EXCLUSIVE']);
    const { prod, plan } = await pair('CREATE TABLE t (id int); ALTER TABLE t ADD CONSTRAINT positive CHECK (id > 0) NOT VALID;', dev, { lockBudgetMs: 1_500 });
    // A writer (ROW EXCLUSIVE: VALIDATE does not wait for it), older than the session that blocks (say, a
    // maintenance job: SHARE UPDATE EXCLUSIVE, which a writer does not wait for either).
    const writer = await session(prod.url, 'app:writer');
    await writer.query('BEGIN');
    await writer.query('INSERT INTO t VALUES (1)');
    const maintenance = await session(prod.url, 'app:maintenance');
    await maintenance.query('BEGIN');
    await maintenance.query('LOCK TABLE t IN SHARE UPDATE EXCLUSIVE MODE');
    const failure = await apply(prod.url, { ...plan, statements: [validate] }).catch((error) => error);
    expect(failure).toBeInstanceOf(LockBudgetSpentError);
    expect(failure.message).toContain(`blocked by session ${(maintenance as pg.Client & { processID: number }).processID} (application_name "app:maintenance"`);
    await Promise.all([writer.query('ROLLBACK'), maintenance.query('ROLLBACK')]);
  });

  it('a budget spent after a statement outside the transaction: that one stays applied and recorded, the waiting one leaves nothing', async () => {
    const { prod, plan } = await concurrentIndexes();
    const shortBudget = { ...plan, lockBudgetMs: 1_500 };
    const blocker = await holdForIndexBuilds(prod.url, 'app:maintenance');
    const failure = await apply(prod.url, shortBudget).catch((error) => error);
    expect(failure).toBeInstanceOf(LockBudgetSpentError);
    expect(failure.message).toContain('statement 2 of 2');
    expect(failure.message).toContain('application_name "app:maintenance"');
    expect(failure.message).toContain('The 1 statement(s) that ran before it stay applied and recorded');
    await blocker.query('ROLLBACK');
    expect((await indexOid(prod.name, 'a_v')).valid).toBe(true);
    expect(await indexOid(prod.name, 'b_v')).toEqual({ oid: null, valid: null });
    expect((await sql('SELECT state, steps_done FROM _pgpromote.applied_plans', prod.name)).rows).toEqual([{ state: 'prepared', steps_done: 1 }]);
  });
});

describe('exactly once across statements run outside a transaction', () => {
  it('an apply killed while building the second index resumes without rebuilding the first', async () => {
    const { prod, plan: short } = await concurrentIndexes();
    // It waits for its lock until it is killed: with a short lock timeout it could be between retries then.
    const plan = { ...short, statements: short.statements.map((statement) => ({ ...statement, lockTimeoutMs: 120_000 })) };
    const blocker = await holdForIndexBuilds(prod.url, 'app:maintenance');
    const identity = firstAttempt();
    const killed = apply(prod.url, plan, identity).catch((error) => error);
    const waiting = await waitingApply(prod.name);
    const first = await indexOid(prod.name, 'a_v');
    expect(first.valid).toBe(true);
    await sql(`SELECT pg_terminate_backend(${waiting.pid})`);
    expect(await killed).toBeInstanceOf(StatementInterruptedError);
    await blocker.query('COMMIT');

    const resumed = await apply(prod.url, plan, { ...identity, attempt: 2 });
    expect(resumed.statements.map((statement) => statement.sql)).toEqual([plan.statements[1]!.sql]);
    expect(await indexOid(prod.name, 'a_v')).toEqual(first);
    expect((await indexOid(prod.name, 'b_v')).valid).toBe(true);
    expect((await ledger(prod.name)).map((row) => [row.attempt, row.state])).toEqual([[2, 'applied']]);
  });

  it('a session ended between two statements (as while it pauses to retry a lock): the attempt stops as interrupted, to be tried again', async () => {
    const { prod, plan } = await concurrentIndexes();
    const client = await session(prod.url, 'pgpromote:apply:test');
    const { rows: [{ pid }] } = await client.query('SELECT pg_backend_pid() AS pid');
    const ended = new Promise((resolve) => client.once('end', resolve));
    // After the first build commits, the session is ended from outside, and its end is seen before the next statement.
    const afterCommit = async () => {
      await sql(`SELECT pg_terminate_backend(${pid})`);
      await ended;
    };
    const failure = await execute(client, plan, { hooks: { afterCommit } }).catch((error) => error);
    expect(failure).toBeInstanceOf(StatementInterruptedError); // retried by Temporal, unlike a StatementError
    expect(failure.message).toMatch(/the session to the database ended/);
    expect((await indexOid(prod.name, 'a_v')).valid).toBe(true);
  });

  it('a second build that fails leaves an invalid index, dropped before the retry that builds it', async () => {
    const { prod, plan } = await concurrentIndexes(true);
    await sql('INSERT INTO b VALUES (0, 1)', prod.name); // a duplicate of v = 1: the unique build fails
    const identity = firstAttempt();
    await expect(apply(prod.url, plan, identity)).rejects.toThrow(/statement 2 of 2 failed: could not create unique index "b_v"/);
    const first = await indexOid(prod.name, 'a_v');
    expect(await indexOid(prod.name, 'b_v')).toEqual({ oid: expect.any(Number), valid: false });
    await sql('DELETE FROM b WHERE id = 0', prod.name);

    const resumed = await apply(prod.url, plan, { ...identity, attempt: 2 });
    expect(resumed.statements.map((statement) => statement.sql)).toEqual([plan.statements[1]!.sql]);
    expect(await indexOid(prod.name, 'a_v')).toEqual(first);
    expect((await indexOid(prod.name, 'b_v')).valid).toBe(true);
    expect((await ledger(prod.name)).map((row) => row.state)).toEqual(['applied']);
  });
});
