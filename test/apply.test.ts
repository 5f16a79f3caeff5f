// The production apply on its own: drift check, verification, idempotence, the lock.
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase, dropDatabase, sql } from './support.ts';
import { withClient } from '../activities/db.ts';
import { planUrls } from '../activities/schema/plan.ts';
import { applyToProduction } from '../activities/production/apply.ts';
import { DEFAULT_LIMITS } from '../activities/production/execute.ts';

const created: string[] = [];
afterAll(async () => {
  for (const name of created) await dropDatabase(name);
});

async function pair(prodSql: string, devSql: string) {
  const prod = await createDatabase('prod', prodSql);
  const dev = await createDatabase('dev', devSql);
  created.push(prod.name, dev.name);
  const plan = await planUrls(prod.url, dev.url);
  return { prod, dev, plan };
}

const apply = (url: string, plan: Parameters<typeof applyToProduction>[1], limits = DEFAULT_LIMITS) =>
  withClient(url, (client) => applyToProduction(client, plan, { promotionId: 'test', limits }));

describe('applyToProduction', () => {
  it('applies once; a retry of the same plan is a recorded no-op', async () => {
    const { prod, plan } = await pair('CREATE TABLE t (id int);', 'CREATE TABLE t (id int, note text);');
    expect((await apply(prod.url, plan)).alreadyApplied).toBe(false);
    const again = await apply(prod.url, plan);
    expect(again).toEqual({ alreadyApplied: true, statements: [] });
    expect((await sql('SELECT count(*)::int AS n FROM _pgpromote.applied_plans', prod.name)).rows[0].n).toBe(1);
  });

  it('refuses when prod drifted since the plan, and changes nothing', async () => {
    const { prod, plan } = await pair('CREATE TABLE t (id int);', 'CREATE TABLE t (id int, note text);');
    await sql('ALTER TABLE t ADD COLUMN sneaky int', prod.name);
    await expect(apply(prod.url, plan)).rejects.toThrow(/prod changed since the plan was made/);
    const columns = await sql("SELECT column_name FROM information_schema.columns WHERE table_name = 't' ORDER BY 1", prod.name);
    expect(columns.rows.map((r) => r.column_name)).toEqual(['id', 'sneaky']);
  });

  it('rolls back everything when a statement fails part-way', async () => {
    const { prod, plan } = await pair(
      "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (NULL);",
      'CREATE TABLE t (id int NOT NULL); CREATE TABLE extra (id int);',
    );
    expect(plan.statements.map((s) => s.kind).sort()).toEqual(['alter_table_alter_column_set_notnull', 'create_table']);
    await expect(apply(prod.url, plan)).rejects.toThrow(/failed: column "id" of relation "t" contains null values/);
    expect((await sql("SELECT to_regclass('extra') AS t", prod.name)).rows[0].t).toBeNull();
    expect((await sql("SELECT count(*)::int AS n FROM _pgpromote.applied_plans", prod.name)).rows[0].n).toBe(0);
  });

  it('lets one promotion apply to a database at a time', async () => {
    const { prod, plan } = await pair('CREATE TABLE t (id int);', 'CREATE TABLE t (id int, note text);');
    await withClient(prod.url, async (holder) => {
      await holder.query("SELECT pg_advisory_lock(hashtext('pgpromote:apply'))");
      await expect(apply(prod.url, plan)).rejects.toThrow(/another promotion is applying/);
    });
    expect((await apply(prod.url, plan)).alreadyApplied).toBe(false);
  });

  it('commits new enum values first so that later statements can use them, and a retry carries on from there', async () => {
    const { prod, plan } = await pair(
      "CREATE TYPE state AS ENUM ('new'); CREATE TABLE t (id int, s state); INSERT INTO t VALUES (1, 'new');",
      "CREATE TYPE state AS ENUM ('new', 'done'); CREATE TABLE t (id int, s state DEFAULT 'done');",
    );
    expect(plan.statements.map((s) => s.transactional)).toEqual([false, true]);
    // The first attempt's main transaction cannot get its lock: the enum value is committed, the rest is not.
    await withClient(prod.url, async (holder) => {
      await holder.query('BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE');
      await expect(apply(prod.url, plan, { lockTimeoutMs: 200, statementTimeoutMs: 10_000 })).rejects.toThrow(/lock timeout/);
      await holder.query('ROLLBACK');
    });
    expect((await sql("SELECT state FROM _pgpromote.applied_plans", prod.name)).rows).toEqual([{ state: 'prepared' }]);
    const retried = await apply(prod.url, plan);
    expect(retried.statements.map((s) => s.sql)).toEqual([plan.statements[1]!.sql]);
    expect((await sql("SELECT column_default FROM information_schema.columns WHERE table_name = 't' AND column_name = 's'", prod.name)).rows[0].column_default).toBe("'done'::state");
    expect((await sql("SELECT state FROM _pgpromote.applied_plans", prod.name)).rows).toEqual([{ state: 'applied' }]);
  });

  it('notices drift in what drizzle-kit does not model, such as a function body', async () => {
    const fn = (body: string) => `CREATE TABLE t (id int); CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT ${body}';`;
    const { prod, plan } = await pair(fn('1'), fn('2'));
    await sql("CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 3'", prod.name);
    await expect(apply(prod.url, plan)).rejects.toThrow(/prod changed since the plan was made/);
  });
});

