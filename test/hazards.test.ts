// Hazards measured on prod: rows lost, rows that make a statement fail, locks on tables.
import { describe, expect, test } from 'vitest';
import type { Hazard } from '../activities/schema/hazards.ts';
import { plan, planBetween, withClient, withDatabases } from './schema-corpus/databases.ts';

/** The hazards of the plan from `before` to `after`, with the statement each belongs to. */
async function hazardsOf(before: string, after: string, answers?: Record<string, string>) {
  const result = await planBetween(before, after, { answers });
  return result.statements.flatMap((statement) => statement.hazards.map((hazard) => ({ sql: statement.sql, ...hazard })));
}

const kinds = (hazards: Hazard[]) => hazards.map(({ kind, object, rows }) => ({ kind, object, rows }));

describe.concurrent('hazards', () => {
  test('data loss: dropped table and column, with row counts', async () => {
    const before = `create table t(id int, note text); insert into t select i, case when i % 2 = 0 then 'x' end from generate_series(1, 10) i;
      create table gone(id int); insert into gone values (1), (2), (3);`;
    expect(kinds(await hazardsOf(before, 'create table t(id int)'))).toEqual([
      { kind: 'data-loss', object: 'public.gone', rows: 3 },
      { kind: 'data-loss', object: 'public.t.note', rows: 5 },
    ]);
  });

  test('will fail: NOT NULL without default on a table with rows, and NULLs for SET NOT NULL', async () => {
    const before = 'create table t(id int, n int); insert into t values (1, null), (2, null), (3, 4);';
    expect(kinds(await hazardsOf(before, 'create table t(id int, n int not null, m int not null)'))).toEqual([
      { kind: 'will-fail', object: 'public.t.n', rows: 2 },
      { kind: 'will-fail', object: 'public.t.m', rows: 3 },
    ]);
  });

  test('a renamed column is measured under its name on prod', async () => {
    const result = await planBetween('create table t(a int); insert into t values (1), (null)', 'create table t(b int not null)', { renames: ['t.a=t.b'] });
    expect(result.statements.flatMap((statement) => kinds(statement.hazards))).toEqual([{ kind: 'will-fail', object: 'public.t.b', rows: 1 }]);
  });

  test('will fail: a new unique constraint or index on duplicates, a primary key with NULLs', async () => {
    const before = 'create table t(a int, b int); insert into t values (1, 1), (1, 2), (1, 3), (2, null), (null, 5);';
    const hazards = await hazardsOf(before, 'create table t(a int unique, b int); create unique index t_b on t(b);');
    expect(kinds(hazards)).toEqual([
      { kind: 'locking', object: 'public.t', rows: undefined },
      { kind: 'will-fail', object: 'public.t', rows: 3 },
    ]);
    expect(hazards[1]!.message).toMatch(/unique constraint t_a_key on public\.t: 3 rows share/);
    expect(kinds(await hazardsOf(before, 'create table t(a int primary key, b int)'))).toContainEqual({ kind: 'will-fail', object: 'public.t', rows: 1 });
  });

  test('will fail: a foreign key with orphans and a violated check constraint', async () => {
    const before = 'create table p(id int primary key); insert into p values (1); create table c(p int, n int); insert into c values (1, 5), (2, -1), (3, -2), (null, 0);';
    const hazards = await hazardsOf(before, 'create table p(id int primary key); create table c(p int references p(id), n int constraint c_n check (n >= 0));');
    expect(kinds(hazards)).toEqual([
      { kind: 'will-fail', object: 'public.c', rows: 2 },
      { kind: 'will-fail', object: 'public.c', rows: 2 },
    ]);
    expect(hazards.map((hazard) => hazard.message)).toEqual([
      'foreign key c_p_fkey on public.c: 2 rows reference no row of p',
      'check constraint c_n on public.c is violated by 2 rows',
    ]);
  });

  test('a new column with a foreign key on an existing table has no orphans to measure', async () => {
    const before = 'create table p(id int primary key); insert into p values (1); create table c(id int); insert into c values (1), (2);';
    const result = await planBetween(before, 'create table p(id int primary key); create table c(id int, p int references p(id), q int references p(id));');
    expect(result.statements.map(({ kind, hazards }) => [kind, hazards])).toEqual([
      ['alter_table_add_column', []], ['alter_table_add_column', []], ['create_reference', []], ['create_reference', []],
    ]);
  });

  test('measuring runs nothing that writes on prod: a check calling setval() leaves the sequence alone', async () => {
    const before = "create sequence s; select setval('s', 5); create table t(n int); insert into t values (1);";
    await withDatabases(before, "create sequence s; create table t(n int check (setval('s', 100) > 0));", async (prod, dev) => {
      await expect(plan(prod, dev)).rejects.toThrow(/read-only transaction/);
      const { rows } = await withClient(prod, (client) => client.query('select last_value::int as n from s'));
      expect(rows).toEqual([{ n: 5 }]);
    });
  });

  test('will fail: an enum value still in use is removed', async () => {
    const before = "create type s as enum ('a', 'b'); create table t(s s); insert into t values ('a'), ('b'), ('b');";
    expect(kinds(await hazardsOf(before, "create type s as enum ('a'); create table t(s s);"))).toContainEqual({ kind: 'will-fail', object: 'public.t.s', rows: 2 });
  });

  test('narrowing type changes: values that change, values that do not fit, and the rewrite', async () => {
    const before = 'create table t(n numeric(10,2), b bigint); insert into t values (1.25, 1), (2, 5000000000), (3.5, 2);';
    const hazards = await hazardsOf(before, 'create table t(n numeric(10,0), b int)');
    expect(kinds(hazards)).toEqual([
      { kind: 'data-loss', object: 'public.t.n', rows: 2 },
      { kind: 'will-fail', object: 'public.t.b', rows: undefined },
      { kind: 'locking', object: 'public.t', rows: undefined },
    ]);
    expect(hazards[1]!.message).toMatch(/do not convert: integer out of range/);
    expect(hazards[2]!.message).toMatch(/^rewrites public\.t \([\d.]+ MB\) under an ACCESS EXCLUSIVE lock$/);
    expect(hazards[2]!.bytes).toBeGreaterThan(0);
  });

  test('locking: widening a varchar rewrites nothing; an index build without CONCURRENTLY blocks writes', async () => {
    expect(await hazardsOf("create table t(s varchar(5)); insert into t values ('x')", 'create table t(s varchar(9))')).toEqual([]);
    const hazards = await hazardsOf('create table t(s text)', 'create table t(s text); create index t_s on t(s);');
    expect(hazards.map(({ kind, message }) => [kind, message])).toEqual([
      ['locking', expect.stringMatching(/^builds an index on public\.t \([\d.]+ MB\) without CONCURRENTLY/)],
    ]);
  });

  test('data loss: a dropped sequence takes its counter along', async () => {
    const hazards = await hazardsOf("create sequence ids; select nextval('ids'); select nextval('ids');", 'create sequence ids2');
    expect(hazards.map(({ kind, message }) => [kind, message])).toEqual([
      ['data-loss', 'drops sequence public.ids, whose counter is at 2: a sequence created in its place starts over'],
    ]);
  });

  test('no hazard when nothing is at stake', async () => {
    expect(await hazardsOf('create table t(id int)', 'create table t(id int, n int not null default 0); create table u(id int)')).toEqual([]);
  });
});
