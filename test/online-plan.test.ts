// Online rewrites where Postgres cannot make them, and where an online plan's final check runs.
// Where Postgres cannot make them: on a partitioned table, an index is not built
// CONCURRENTLY and a foreign key is not added NOT VALID. The planner does not plan changes to
// partitioned tables yet (the corpus shows the refusal), so the rewrite is given the statements the
// differ would give, on a real partitioned table of prod.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onlineRewrites, type Planned } from '../activities/schema/online.ts';
import { withClient } from '../activities/db.ts';
import { createDatabase, dropDatabase } from './support.ts';
import { planBetween } from './schema-corpus/databases.ts';
import { finishesInMain, stepsOf } from '../activities/production/execute.ts';

const PROD = `create table parent(id int primary key);
  create table m(id int, p int) partition by range (id); create table m1 partition of m for values from (0) to (100);
  insert into parent values (1); insert into m select g, 1 from generate_series(0, 99) g;`;

const planned = (sql: string, kind: string, data: object, table = 'm'): Planned => ({
  statement: { sql, kind, mode: 'main', lockTimeoutMs: 2000, statementTimeoutMs: 60_000, target: { schema: 'public', table }, hazards: [] },
  source: { sql, kind, json: { type: kind, tableName: table, schema: '', data } },
  rewritesTable: false,
});

describe('online rewrites on a partitioned table', () => {
  let prod: { name: string; url: string };
  beforeAll(async () => {
    prod = await createDatabase('online_prod', PROD);
  });
  afterAll(() => dropDatabase(prod.name));

  it('keeps the blocking index build and foreign key, saying why, where Postgres refuses the online form', async () => {
    const index = planned('CREATE INDEX "m_p" ON "m" USING btree ("p");', 'create_index_pg', { name: 'm_p', isUnique: false });
    const reference = planned('ALTER TABLE "m" ADD CONSTRAINT "m_p_fk" FOREIGN KEY ("p") REFERENCES "public"."parent"("id");', 'create_reference',
      { name: 'm_p_fk', schemaTo: 'public', tableTo: 'parent' });
    await withClient(prod.url, async (client) => {
      const { statements } = await onlineRewrites(client, [index, reference], { online: 'always' });
      expect(statements.map(({ sql, mode, lock }) => ({ sql, mode, lock }))).toEqual([
        { sql: index.statement.sql, mode: 'main', lock: 'SHARE' },
        { sql: reference.statement.sql, mode: 'main', lock: 'SHARE ROW EXCLUSIVE' },
      ]);
      expect(statements.map(({ hazards }) => hazards.map((hazard) => hazard.message))).toEqual([
        ['cannot run online: public.m is partitioned, and Postgres builds no index on a partitioned table CONCURRENTLY'],
        ['cannot run online: public.m is partitioned, and Postgres adds no foreign key NOT VALID to a partitioned table'],
      ]);
      // What the rewrite would have planned, Postgres refuses; the kept statements run.
      await expect(client.query('CREATE INDEX CONCURRENTLY m_p ON m (p)')).rejects.toThrow(/cannot create index on partitioned table "m" concurrently/);
      await expect(client.query(`${reference.statement.sql.slice(0, -1)} NOT VALID`)).rejects.toThrow(/cannot add NOT VALID foreign key on partitioned table "m"/);
      for (const { sql } of statements) await client.query(sql);
    });
  });

  it('rewrites them on a plain table', async () => {
    const index = planned('CREATE INDEX "parent_id" ON "parent" USING btree ("id");', 'create_index_pg', { name: 'parent_id', isUnique: false }, 'parent');
    await withClient(prod.url, async (client) => {
      const { statements } = await onlineRewrites(client, [index], { onlineThresholdBytes: 0 });
      expect(statements.map(({ sql, mode, hazards }) => ({ sql, mode, hazards }))).toEqual([
        { sql: 'CREATE INDEX CONCURRENTLY "parent_id" ON "parent" USING btree ("id");', mode: 'no-transaction', hazards: [] },
      ]);
    });
  });
});

describe('where an online plan is verified', () => {
  const before = 'create table accounts (id int primary key, plan text);';
  const after = "create table accounts (id int primary key, plan text default 'free');";

  it('inside its main transaction when it changes only small tables; after it commits when it changes a big one (or --online)', async () => {
    const small = await planBetween(before, after);
    const online = await planBetween(before, after, { online: 'always' });
    expect(small.statements.map((statement) => statement.mode)).toEqual(['main']);
    expect(online.statements.map((statement) => statement.mode)).toEqual(['main']);
    expect([small.online, online.online]).toEqual([false, true]);
    expect([finishesInMain(small, stepsOf(small)), finishesInMain(online, stepsOf(online))]).toEqual([true, false]);
  });
});
