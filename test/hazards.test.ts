// Hazards measured on prod: rows lost, rows that make a statement fail, locks on tables.
import { describe, expect, test } from 'vitest';
import type { Hazard } from '../activities/schema/model.ts';
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

  test('a unique constraint or primary key on a column prod does not have yet (an open rename question) measures nothing', async () => {
    const before = 'create table u(id int, email text unique); insert into u values (1, \'a\'), (2, \'a2\');';
    const hazards = await hazardsOf(before, 'create table u(id int primary key, mail text unique);');
    expect(kinds(hazards).filter((hazard) => hazard.kind === 'will-fail')).toEqual([]);
    expect(kinds(hazards)).toContainEqual({ kind: 'data-loss', object: 'public.u.email', rows: 2 });
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
      { kind: 'data-loss', object: 'public.t.b', rows: undefined },
      { kind: 'will-fail', object: 'public.t.b', rows: undefined },
      { kind: 'locking', object: 'public.t', rows: undefined },
    ]);
    expect(hazards[0]!.message).toBe('changes public.t.n from numeric(10,2) to numeric(10, 0), a narrowing conversion: 2 values change now');
    expect(hazards[2]!.message).toMatch(/do not convert: integer out of range/);
    expect(hazards[3]!.message).toMatch(/^rewrites public\.t \([\d.]+ MB\) under an ACCESS EXCLUSIVE lock$/);
    expect(hazards[3]!.bytes).toBeGreaterThan(0);
  });

  test('a narrowing or USING type change is data loss even when no value changes now; a widening one is not', async () => {
    const dataLoss = async (before: string, after: string) => kinds(await hazardsOf(before, after)).filter(({ kind }) => kind === 'data-loss');
    const narrowed = { kind: 'data-loss', object: 'public.t.n', rows: 0 };
    expect(await dataLoss('create table t(n numeric(10,2))', 'create table t(n numeric(10,0))')).toEqual([narrowed]);
    expect(await dataLoss('create table t(n numeric(10,2)); insert into t values (1), (2.5)', 'create table t(n numeric(10,0))')).toEqual([{ ...narrowed, rows: 1 }]);
    expect(await dataLoss("create table t(n varchar(9)); insert into t values ('abc')", 'create table t(n varchar(5))')).toEqual([narrowed]);
    const mood = "create type mood as enum ('a', 'b');";
    const usingHazards = await hazardsOf(`${mood} create table t(n text); insert into t values ('a')`, `${mood} create table t(n mood)`);
    expect(usingHazards.filter(({ kind }) => kind === 'data-loss').map(({ sql, message, rows }) => [sql, message, rows])).toEqual([[
      'ALTER TABLE "t" ALTER COLUMN "n" SET DATA TYPE "public"."mood" USING "n"::"public"."mood";',
      'changes public.t.n from text to "public"."mood", a conversion with USING: 0 values change now', 0,
    ]]);
    const newType = await hazardsOf("create table t(n text); insert into t values ('a')", `${mood} create table t(n mood)`);
    expect(kinds(newType).filter(({ kind }) => kind !== 'locking')).toEqual([{ kind: 'data-loss', object: 'public.t.n', rows: undefined }]);
    for (const [from, to] of [['int', 'bigint'], ['varchar(5)', 'text'], ['numeric(10,2)', 'numeric(12,2)'], ['numeric(10,2)', 'numeric'], ['smallint[]', 'integer[]']]) {
      expect(await dataLoss(`create table t(n ${from}); insert into t values (null)`, `create table t(n ${to})`), `${from} → ${to}`).toEqual([]);
    }
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

  test('a view or materialized view rebuilt around a retyped column loses nothing', async () => {
    const base = 'create table t(id int, n int); insert into t values (1, 1); create view v as select id from t; create materialized view mv as select id from t;';
    const hazards = await hazardsOf(base, base.replace('id int', 'id bigint').replace(/insert into .*?;/, ''));
    expect(kinds(hazards)).toEqual([{ kind: 'locking', object: 'public.t', rows: undefined }]);
  });

  test('no hazard when nothing is at stake', async () => {
    expect(await hazardsOf('create table t(id int)', 'create table t(id int, n int not null default 0); create table u(id int)')).toEqual([]);
  });
});

/** Every kind of drop, planned from `before` (empty, then filled with `rows`) to `after`: a data-loss hazard each time. */
const DROPS: { name: string; before: string; rows: string; after: string; hazards: (filled: boolean) => { object: string; rows?: number }[] }[] = [
  { name: 'table', before: 'create table t(id int)', rows: 'insert into t select generate_series(1, 3)', after: '',
    hazards: (filled) => [{ object: 'public.t', rows: filled ? 3 : 0 }] },
  { name: 'column', before: 'create table t(id int, note text)', rows: "insert into t values (1, 'a'), (2, null)", after: 'create table t(id int)',
    hazards: (filled) => [{ object: 'public.t.note', rows: filled ? 1 : 0 }] },
  { name: 'schema', before: 'create schema app; create table app.t(id int)', rows: 'insert into app.t values (1), (2)', after: '',
    hazards: (filled) => [{ object: 'app.t', rows: filled ? 2 : 0 }, { object: 'app', rows: filled ? 2 : 0 }] },
  { name: 'enum', before: "create type mood as enum ('a', 'b'); create table t(id int, m mood)", rows: "insert into t values (1, 'a'), (2, null), (3, 'b')",
    after: 'create table t(id int)', hazards: (filled) => [{ object: 'public.t.m', rows: filled ? 2 : 0 }, { object: 'public.mood', rows: filled ? 2 : 0 }] },
  { name: 'domain', before: 'create domain posint as int check (value > 0); create table t(id int, p posint)', rows: 'insert into t values (1, 5), (2, null)',
    after: 'create table t(id int)', hazards: (filled) => [{ object: 'public.t.p', rows: filled ? 1 : 0 }, { object: 'public.posint', rows: filled ? 1 : 0 }] },
  { name: 'composite type', before: 'create type pair as (a int, b text); create table t(id int, p pair)', rows: "insert into t values (1, row(1, 'x'))",
    after: 'create table t(id int)', hazards: (filled) => [{ object: 'public.t.p', rows: filled ? 1 : 0 }, { object: 'public.pair', rows: filled ? 1 : 0 }] },
  { name: 'sequence', before: 'create sequence s', rows: "select nextval('s')", after: '', hazards: () => [{ object: 'public.s' }] },
  { name: 'view', before: 'create table t(id int); create view v as select id from t', rows: 'insert into t values (1)', after: 'create table t(id int)',
    hazards: () => [{ object: 'public.v', rows: 0 }] },
  { name: 'materialized view', before: 'create table t(id int); create materialized view mv as select id from t',
    rows: 'insert into t values (1), (2); refresh materialized view mv', after: 'create table t(id int)', hazards: (filled) => [{ object: 'public.mv', rows: filled ? 2 : 0 }] },
];

describe.concurrent('every drop is data loss, with the rows prod holds now (0 included)', () => {
  for (const { name, before, rows, after, hazards } of DROPS) {
    for (const filled of [false, true]) {
      test(`${name}, ${filled ? 'with rows' : 'empty'}`, async () => {
        const found = await hazardsOf(filled ? `${before}; ${rows};` : before, after);
        expect(found.map(({ kind, object, rows }) => ({ kind, object, rows }))).toEqual(hazards(filled).map((hazard) => ({ kind: 'data-loss', rows: undefined, ...hazard })));
        expect(found.every(({ message }) => message.startsWith('drops '))).toBe(true);
      });
    }
  }

  test('the details say what is lost now', async () => {
    const messages = async (before: string, after: string) => (await hazardsOf(before, after)).map(({ message }) => message);
    expect(await messages('create table t(id int)', '')).toEqual(['drops table public.t: 0 rows now']);
    expect(await messages('create sequence s', '')).toEqual(['drops sequence public.s, never used yet: a sequence created in its place starts over']);
    expect(await messages('create table t(id int); create materialized view mv as select id from t with no data', 'create table t(id int)'))
      .toEqual(['drops materialized view public.mv: not populated, 0 rows now']);
    expect(await messages('create table t(id int); create view v as select id from t', 'create table t(id int)'))
      .toEqual(['drops view public.v: its definition goes; a view holds no rows of its own']);
  });
});
