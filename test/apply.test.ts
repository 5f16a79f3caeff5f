// The production apply on its own: drift check, verification, the ledger, the lock, and fencing of
// attempts that Temporal gave up.
import { afterAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { columnsOf, sql } from './support.ts';
import { applyFixtures, firstAttempt, ledger } from './apply-support.ts';
import { withClient } from '../activities/db.ts';
import { planUrls } from '../activities/schema/plan.ts';
import type { Plan } from '../activities/schema/model.ts';
import { settleAbandonedApply } from '../activities/production/apply.ts';
import { DEFAULT_LIMITS, stepsOf } from '../activities/production/execute.ts';
import { openSession } from '../activities/production/session.ts';

const { pair, apply, dropAll } = applyFixtures();
afterAll(dropAll);

const ADD_NOTE = ['CREATE TABLE t (id int);', 'CREATE TABLE t (id int, note text);'] as const;

describe('applyToProduction', () => {
  it('applies once; a retry by the same promotion is a no-op that checks prod still matches', async () => {
    const { prod, plan } = await pair(...ADD_NOTE);
    const identity = firstAttempt();
    expect((await apply(prod.url, plan, identity)).alreadyApplied).toBe(false);
    const again = await apply(prod.url, plan, { ...identity, attempt: 2 });
    expect(again).toEqual({ alreadyApplied: true, statements: [] });
    expect(await ledger(prod.name)).toEqual([{ promotion_id: identity.promotionId, attempt: 2, state: 'applied' }]);

    await sql('ALTER TABLE t DROP COLUMN note', prod.name);
    await expect(apply(prod.url, plan, { ...identity, attempt: 3 })).rejects.toThrow(/applied its plan earlier, but prod has changed since/);
  });

  it('applies a plan again for a new promotion: re-adding a column an earlier promotion added and a later one dropped', async () => {
    const { prod, dev, plan } = await pair(...ADD_NOTE);
    await apply(prod.url, plan);
    await sql('ALTER TABLE t DROP COLUMN note', prod.name); // as a later promotion would
    const again = await planUrls(prod.url, dev.url);
    expect(again.planHash).toBe(plan.planHash);
    expect((await apply(prod.url, again)).alreadyApplied).toBe(false);
    expect(await columnsOf(prod.name, 't')).toEqual(['id', 'note']);
  });

  it('treats a reused promotion id (a new workflow run) as a new promotion', async () => {
    const { prod, dev, plan } = await pair(...ADD_NOTE);
    const first = firstAttempt();
    await apply(prod.url, plan, first);
    await sql('ALTER TABLE t DROP COLUMN note', prod.name);
    const rerun = { ...first, runId: randomUUID() };
    expect((await apply(prod.url, await planUrls(prod.url, dev.url), rerun)).alreadyApplied).toBe(false);
    expect(await columnsOf(prod.name, 't')).toEqual(['id', 'note']);
  });

  it('refuses when prod drifted since the plan, and changes nothing', async () => {
    const { prod, plan } = await pair(...ADD_NOTE);
    await sql('ALTER TABLE t ADD COLUMN sneaky int', prod.name);
    await expect(apply(prod.url, plan)).rejects.toThrow(/prod changed since the plan was made/);
    expect(await columnsOf(prod.name, 't')).toEqual(['id', 'sneaky']);
  });

  it('rolls back everything when a statement fails part-way', async () => {
    const { prod, plan } = await pair(
      "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (NULL);",
      'CREATE TABLE t (id int NOT NULL); CREATE TABLE extra (id int);',
    );
    expect(plan.statements.map((s) => s.kind).sort()).toEqual(['alter_table_alter_column_set_notnull', 'create_table']);
    await expect(apply(prod.url, plan)).rejects.toThrow(/failed: column "id" of relation "t" contains null values/);
    expect((await sql("SELECT to_regclass('extra') AS t", prod.name)).rows[0].t).toBeNull();
    expect((await ledger(prod.name)).map((row) => row.state)).toEqual(['started']);
  });

  it('lets one promotion apply to a database at a time, and names the one that holds it', async () => {
    const { prod, plan } = await pair(...ADD_NOTE);
    await withClient(prod.url, async (holder) => {
      await holder.query("SET application_name = 'pgpromote:apply:other:1'");
      await holder.query("SELECT pg_advisory_lock(hashtext('pgpromote:apply'))");
      await expect(apply(prod.url, plan)).rejects.toThrow('another promotion is applying to this database right now (session pgpromote:apply:other:1)');
    });
    expect((await apply(prod.url, plan)).alreadyApplied).toBe(false);
  });

  it('commits new enum values first so that later statements can use them, and a retry carries on from there', async () => {
    const { prod, plan } = await pair(
      "CREATE TYPE state AS ENUM ('new'); CREATE TABLE t (id int, s state); INSERT INTO t VALUES (1, 'new');",
      "CREATE TYPE state AS ENUM ('new', 'done'); CREATE TABLE t (id int, s state DEFAULT 'done');",
      { lockTimeoutMs: 200, lockBudgetMs: 500 },
    );
    expect(plan.statements.map((s) => s.mode)).toEqual(['own-transaction', 'main']);
    const identity = firstAttempt();
    // The first attempt's main transaction cannot get its lock: the enum value is committed, the rest is not.
    await withClient(prod.url, async (holder) => {
      await holder.query('BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE');
      await expect(apply(prod.url, plan, identity)).rejects.toThrow(/could not get its locks within the plan's lock budget/);
      await holder.query('ROLLBACK');
    });
    expect((await ledger(prod.name)).map((row) => row.state)).toEqual(['prepared']);
    const retried = await apply(prod.url, plan, { ...identity, attempt: 2 });
    expect(retried.statements.map((s) => s.sql)).toEqual([plan.statements[1]!.sql]);
    expect((await sql("SELECT column_default FROM information_schema.columns WHERE table_name = 't' AND column_name = 's'", prod.name)).rows[0].column_default).toBe("'done'::state");
    expect((await ledger(prod.name)).map((row) => row.state)).toEqual(['applied']);
  });

  it('orders steps by mode, never by text that dev\'s names can shape: before main, main, then the rest in plan order', () => {
    const statement = (sql: string, mode: string) => ({ sql, kind: 'k', mode, hazards: [] });
    const added = statement('ALTER TYPE "public"."e" ADD VALUE \'b\'', 'own-transaction');
    const renamed = statement('ALTER TYPE "public"."s ADD VALUE x" RENAME TO "t"', 'main');
    const index = statement('CREATE INDEX CONCURRENTLY "i" ON "t" ("a")', 'no-transaction');
    const column = statement('ALTER TABLE "t" ADD COLUMN "b" int', 'main');
    const validate = statement('ALTER TABLE "t" VALIDATE CONSTRAINT "c"', 'own-transaction');
    const plan = { statements: [added, renamed, index, column, validate] } as unknown as Plan;
    expect(stepsOf(plan)).toEqual([
      { number: 0, statements: [added], transaction: true },
      { number: 1, statements: [renamed, column], transaction: true },
      { number: 2, statements: [index], transaction: false },
      { number: 3, statements: [validate], transaction: true },
    ]);
  });

  it('renames an enum and adds a value to it: the value is added under the name prod has before the rename', async () => {
    const { prod, dev, plan } = await pair(
      "CREATE TYPE mood AS ENUM ('sad', 'ok'); CREATE TABLE t (m mood);",
      "CREATE TYPE feeling AS ENUM ('sad', 'ok', 'happy'); CREATE TABLE t (m feeling DEFAULT 'happy');",
      { renames: ['mood=feeling'] },
    );
    expect(plan.statements.map((s) => [s.kind, s.mode])).toEqual([
      ['alter_type_add_value', 'own-transaction'], ['rename_type_enum', 'main'], ['alter_table_alter_column_set_default', 'main'],
    ]);
    expect((await apply(prod.url, plan)).alreadyApplied).toBe(false);
    expect((await planUrls(prod.url, dev.url)).statements).toEqual([]);
  });

  it('notices drift in what drizzle-kit does not model, such as a function body', async () => {
    const fn = (body: string) => `CREATE TABLE t (id int); CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT ${body}';`;
    const { prod, plan } = await pair(fn('1'), fn('2'));
    await sql("CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 3'", prod.name);
    await expect(apply(prod.url, plan)).rejects.toThrow(/prod changed since the plan was made/);
  });
});

describe('fencing attempts that were given up', () => {
  it('an older attempt that wakes up after a newer one started changes nothing', async () => {
    const { prod, plan } = await pair(...ADD_NOTE);
    const identity = firstAttempt();
    await apply(prod.url, plan, { ...identity, attempt: 2 });
    await sql('ALTER TABLE t DROP COLUMN note', prod.name); // whatever attempt 1 would do now must not happen
    await expect(apply(prod.url, plan, identity)).rejects.toThrow(`attempt 1 of promotion ${identity.promotionId} was superseded by attempt 2`);
    expect(await columnsOf(prod.name, 't')).toEqual(['id']);
  });

  it('once the workflow settled a given-up apply, no attempt can apply, and settling says prod was not changed', async () => {
    const { prod, plan } = await pair(...ADD_NOTE);
    const identity = firstAttempt();
    expect(await settleAbandonedApply(prod.url, plan, identity, DEFAULT_LIMITS)).toEqual({ applied: false, committed: null });
    await expect(apply(prod.url, plan, identity)).rejects.toThrow(/gave its apply up: attempt 1 stops without changing prod/);
    await expect(apply(prod.url, plan, { ...identity, attempt: 7 })).rejects.toThrow(/gave its apply up/);
    expect(await columnsOf(prod.name, 't')).toEqual(['id']);
  });

  it('settling reports an apply that committed before it as applied', async () => {
    const { prod, plan } = await pair(...ADD_NOTE);
    const identity = firstAttempt();
    await apply(prod.url, plan, identity);
    expect(await settleAbandonedApply(prod.url, plan, identity, DEFAULT_LIMITS)).toEqual({ applied: true, committed: null });
    expect(await ledger(prod.name)).toEqual([{ promotion_id: identity.promotionId, attempt: 2 ** 31 - 1, state: 'applied' }]);
  });

  it('the server ends the transaction of an attempt whose worker went quiet, and app queries wait no longer than that', async () => {
    const { prod } = await pair('CREATE TABLE t (id int); INSERT INTO t VALUES (1);', 'CREATE TABLE t (id int);');
    const frozen = await openSession(prod.url, 'apply', firstAttempt(), { idleInTransactionTimeoutMs: 1_000 });
    const ended = new Promise<string>((resolve) => frozen.on('error', (error) => resolve(error.message)));
    await frozen.query('BEGIN');
    await frozen.query('LOCK TABLE t IN ACCESS EXCLUSIVE MODE');
    // The "worker" now sends nothing: an app query queues behind its lock until the server ends it.
    expect((await sql('SELECT count(*)::int AS n FROM t', prod.name)).rows[0].n).toBe(1);
    expect(await ended).toBe('terminating connection due to idle-in-transaction timeout');
    await expect(frozen.query('COMMIT')).rejects.toThrow();
    await frozen.end().catch(() => {});
  });

  it('a new attempt ends the session of an older one that still holds prod, and then applies', async () => {
    const { prod, plan } = await pair('CREATE TABLE t (id int); INSERT INTO t VALUES (1);', 'CREATE TABLE t (id int, note text);');
    const identity = firstAttempt();
    const orphan = await openSession(prod.url, 'apply', identity, DEFAULT_LIMITS);
    await orphan.query('SELECT pg_advisory_lock(hashtext(\'pgpromote:apply\'))');
    await orphan.query('BEGIN');
    await orphan.query('LOCK TABLE t IN ACCESS EXCLUSIVE MODE');
    expect((await apply(prod.url, plan, { ...identity, attempt: 2 })).alreadyApplied).toBe(false);
    await expect(orphan.query('COMMIT')).rejects.toThrow();
    await orphan.end().catch(() => {});
    expect(await columnsOf(prod.name, 't')).toEqual(['id', 'note']);
  });
});
