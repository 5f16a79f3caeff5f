// The planner's questions, answers and renames, its input errors, ordering and determinism.
import { describe, expect, test } from 'vitest';
import { diffSnapshots, type PlanOptions } from '../activities/schema/plan.ts';
import { PlanInputError } from '../activities/schema/errors.ts';
import { introspect } from '../activities/schema/read/introspect.ts';
import { withoutUnchangedTables } from '../activities/schema/read/snapshot.ts';
import { plan, planBetween, schemaDump, withAppliedCopy, withClient, withDatabases } from './schema-corpus/databases.ts';
import { corpus } from './schema-corpus/index.ts';

const users = `create table users(id int primary key, name text); insert into users values (1, 'ann'), (2, 'bob');`;
const renamedColumn = users.replace('name text', 'full_name text');

describe.concurrent('questions', () => {
  test('an ambiguous column asks whether it was renamed; no answer means drop', async () => {
    const result = await planBetween(users, renamedColumn);
    expect(result.questions).toEqual([
      { id: 'column:public.users.name', kind: 'column', object: 'public.users.name', candidates: ['public.users.full_name'] },
    ]);
    // Dropped columns go first: a dropped column takes its constraints with it (see differ-repairs.ts).
    expect(result.statements.map((statement) => statement.sql)).toEqual([
      'ALTER TABLE "users" DROP COLUMN "name";',
      'ALTER TABLE "users" ADD COLUMN "full_name" text;',
    ]);
  });

  test('tables and enums ask too', async () => {
    const result = await planBetween("create table a(id int); create type mood as enum ('x');", "create table b(id int); create type feeling as enum ('x');");
    expect(result.questions.map(({ id, candidates }) => [id, candidates])).toEqual([
      ['enum:public.mood', ['public.feeling']],
      ['table:public.a', ['public.b']],
    ]);
  });

  test('an answer or a --rename keeps the rows', async () => {
    for (const options of [{ answers: { 'column:public.users.name': 'public.users.full_name' } }, { renames: ['users.name=users.full_name'] }]) {
      await withDatabases(users, renamedColumn, async (prod, dev) => {
        const result = await plan(prod, dev, options);
        expect(result.questions[0]!.answer).toBe('public.users.full_name');
        expect(result.statements.map((statement) => statement.sql)).toEqual(['ALTER TABLE "users" RENAME COLUMN "name" TO "full_name";']);
        expect(result.statements[0]!.hazards).toEqual([]);
        await withClient(prod, async (client) => {
          for (const statement of result.statements) await client.query(statement.sql);
          expect((await client.query('select full_name from users order by id')).rows).toEqual([{ full_name: 'ann' }, { full_name: 'bob' }]);
        });
      });
    }
  });

  test('a table rename answered first asks about its columns next, under the new name', async () => {
    const result = await planBetween('create table a(id int, x int)', 'create table b(id int, y int)', { renames: ['a=b', 'b.x=b.y'] });
    expect(result.questions.map(({ id, answer }) => [id, answer])).toEqual([['column:public.b.x', 'public.b.y'], ['table:public.a', 'public.b']]);
    expect(result.statements.map((statement) => statement.sql)).toEqual([
      'ALTER TABLE "a" RENAME TO "b";',
      'ALTER TABLE "b" RENAME COLUMN "x" TO "y";',
    ]);
  });
});

describe.concurrent('input errors', () => {
  test('an answer to a question the plan does not ask', async () => {
    await expect(planBetween(users, renamedColumn, { answers: { 'column:public.users.nope': 'drop' } }))
      .rejects.toThrow(new PlanInputError('answer for unknown question column:public.users.nope: the questions of this plan are column:public.users.name'));
  });

  test('an answer that is not one of the candidates', async () => {
    await expect(planBetween(users, renamedColumn, { answers: { 'column:public.users.name': 'public.users.other' } }))
      .rejects.toThrow('answer column:public.users.name="public.users.other": choose one of public.users.full_name, drop');
  });

  test('a rename without =, or matching nothing', async () => {
    await expect(planBetween(users, renamedColumn, { renames: ['users.name'] })).rejects.toThrow(/expected old=new/);
    await expect(planBetween(users, renamedColumn, { renames: ['users.email=users.mail'] })).rejects.toThrow(PlanInputError);
  });
});

describe.concurrent('statements', () => {
  test('the same schemas plan to the same bytes', async () => {
    const schema = `create extension pg_trgm; create type s as enum ('a'); create table t(id int primary key, s s, n text);
      create view v as select id from t; create function f() returns trigger language plpgsql as $$ begin return new; end $$;
      create trigger tt before insert on t for each row execute function f(); comment on table t is 'x';`;
    await withDatabases(users, schema, async (prod, dev) => {
      const [first, second] = [await plan(prod, dev), await plan(prod, dev)];
      expect(JSON.stringify(second)).toBe(JSON.stringify(first));
    });
  });

  test('extensions and types come before the tables using them, functions before triggers, drops after', async () => {
    const result = await planBetween('create function old() returns int language sql as \'select 1\'; create table gone(id int)',
      `create extension citext; create domain email as citext; create table u(e email);
       create function f() returns trigger language plpgsql as $$ begin return new; end $$;
       create trigger ut before insert on u for each row execute function f();`, { answers: { 'table:public.gone': 'drop' } });
    const position = (pattern: RegExp) => result.statements.findIndex((statement) => pattern.test(statement.sql));
    expect(position(/^CREATE EXTENSION citext/)).toBeLessThan(position(/^CREATE DOMAIN/));
    expect(position(/^CREATE DOMAIN/)).toBeLessThan(position(/^CREATE TABLE "u"/));
    expect(position(/^CREATE OR REPLACE FUNCTION public\.f/)).toBeLessThan(position(/^CREATE TRIGGER ut/));
    expect(position(/^DROP TABLE "gone"/)).toBeLessThan(position(/^DROP FUNCTION public\.old/));
  });

  test('views are rebuilt only when a column under them changes type or goes', async () => {
    const base = 'create table t(id int, n int); create materialized view mv as select id from t; create view v as select id from mv;';
    const indexOnly = await planBetween(base, `${base} create index t_n on t(n);`);
    expect(indexOnly.statements.map((statement) => statement.kind)).toEqual(['create_index_pg']);
    const retyped = await planBetween(base, base.replace('id int', 'id bigint'));
    expect(retyped.statements.map((statement) => statement.sql)).toEqual([
      'DROP VIEW public.v',
      'DROP MATERIALIZED VIEW public.mv',
      'ALTER TABLE "t" ALTER COLUMN "id" SET DATA TYPE bigint;',
      'CREATE MATERIALIZED VIEW public.mv AS SELECT t.id\n   FROM t WITH DATA',
      'CREATE VIEW public.v AS SELECT mv.id\n   FROM mv',
    ]);
  });

  test('a new enum value is applied outside the transaction', async () => {
    const result = await planBetween("create type s as enum ('a')", "create type s as enum ('a', 'b')");
    expect(result.statements.map(({ sql, mode }) => [sql, mode])).toEqual([[`ALTER TYPE "public"."s" ADD VALUE 'b';`, 'own-transaction']]);
  });

  test('a schema with every kind of object plans nothing against itself', async () => {
    const everything = `create extension btree_gist; create extension citext;
      do $$ begin create role plan_reader; exception when duplicate_object or unique_violation then null; end $$;
      create domain posint as int check (value > 0); create type pair as (a int, b text collate "C"); create type mood as enum ('a', 'b');
      create collation nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
      create sequence counter as integer increment 5;
      create table t(id serial primary key, p posint, q pair, m mood default 'a', e citext, s text collate "C",
        g int generated always as (id * 2) stored, i int generated by default as identity, during tsrange,
        exclude using gist (i with =, during with &&));
      create sequence owned as smallint owned by t.p;
      create unlogged table u(id int) with (fillfactor = 70);
      create table m(id int, at date) partition by range (at); create table m1 partition of m for values from ('2024-01-01') to ('2025-01-01');
      create table base(a int); create table kid(b int) inherits (base);
      create function touch() returns trigger language plpgsql as $$ begin return new; end $$;
      create procedure noop() language sql as 'select 1';
      create aggregate total(int) (sfunc = int4pl, stype = int);
      create operator === (leftarg = int, rightarg = int, function = int4eq);
      create trigger t_touch before update on t for each row execute function touch();
      create view v as select id, s from t; create materialized view mv as select id from v; create index mv_id on mv(id);
      create statistics t_stats on id, p from t;
      alter table t enable row level security; alter table t force row level security; create policy own on t to plan_reader using (id > 0);
      grant select on t to plan_reader; grant select (s) on t to plan_reader; revoke execute on function touch() from public;
      comment on table t is 't'; comment on column t.s is 's'; comment on function touch() is 'f';`;
    const result = await planBetween(everything, everything);
    expect([result.statements, result.questions, result.unsupported]).toEqual([[], [], []]);
  });

  test('what cannot be planned is reported, and what exists identically is not', async () => {
    const partitioned = "create table m(id int, at date) partition by range (at); create table m1 partition of m for values from ('2024-01-01') to ('2025-01-01');";
    expect((await planBetween(partitioned, partitioned)).unsupported).toEqual([]);
    const result = await planBetween(partitioned, partitioned.replace('at date)', 'at date, n int)'));
    expect(result.unsupported.map(({ kind, object }) => [kind, object])).toEqual([['partitioned table', 'table public.m'], ['partition', 'table public.m1']]);
    expect(result.statements).toEqual([]);
  });
});

describe.concurrent('schemas compared', () => {
  test('every user schema by default: a new schema with an enum, a table, an index and a policy converges', async () => {
    const app = `create schema app; create type app.mood as enum ('a', 'b'); create table app.t(id int primary key, m app.mood);
      create index t_m on app.t(m); alter table app.t enable row level security; create policy own on app.t using (id > 0);`;
    await withDatabases(users, `${users} ${app}`, async (prod, dev) => {
      const planned = await plan(prod, dev);
      expect(planned.schemas).toEqual(['app', 'public']);
      expect(planned.unsupported).toEqual([]);
      expect(planned.statements.map((statement) => statement.kind)).toEqual([
        'create_schema', 'create_type_enum', 'create_table', 'create_table', 'create_index_pg', 'create_policy', // ENABLE ROW LEVEL SECURITY is part of create_table
      ]);
      await withAppliedCopy(prod, planned, async (copy) => {
        expect(await schemaDump(copy)).toBe(await schemaDump(dev));
        const again = await plan(copy, dev);
        expect([again.statements, again.fromFingerprint]).toEqual([[], again.toFingerprint]);
      });
    });
  });

  test('a table that changes in another schema is planned; a schema only prod has is dropped', async () => {
    const result = await planBetween('create schema app; create table app.t(id int); create schema old;', 'create schema app; create table app.t(id int, n int);');
    expect(result.schemas).toEqual(['app', 'old', 'public']);
    expect(result.statements.map((statement) => statement.sql.trim())).toEqual(['ALTER TABLE "app"."t" ADD COLUMN "n" integer;', 'DROP SCHEMA "old";']);
  });

  test("an extension's schema and pgpromote's own are never compared, nor can they be named", async () => {
    const owned = 'create extension citext; create schema ext_owned; alter extension citext add schema ext_owned; create schema _pgpromote;';
    await withDatabases(`${owned} create table ext_owned.t(id int); create table _pgpromote.t(id int);`, owned, async (prod, dev) => {
      const result = await plan(prod, dev);
      expect([result.schemas, result.statements]).toEqual([['public'], []]);
      await expect(plan(prod, dev, { schemas: ['ext_owned'] })).rejects.toThrow(new PlanInputError('--schema ext_owned: schema ext_owned is owned by extension citext and cannot be promoted'));
      await expect(plan(prod, dev, { schemas: ['_pgpromote'] })).rejects.toThrow(/belongs to pgpromote/);
      await expect(plan(prod, dev, { schemas: ['pg_catalog'] })).rejects.toThrow(/a system schema cannot be promoted/);
    });
  });

  test('--schema narrows, --exclude-schema leaves one out, and the plan hash covers the list', async () => {
    await withDatabases('create schema audit; create table audit.log(id int); create schema app;', 'create schema app; create table app.t(id int);', async (prod, dev) => {
      const all = await plan(prod, dev);
      expect(all.statements.map((statement) => statement.kind)).toEqual(['create_table', 'drop_table', 'drop_schema']);
      const excluded = await plan(prod, dev, { excludeSchemas: ['audit'] });
      expect(excluded.schemas).toEqual(['app', 'public']);
      expect(excluded.statements.map((statement) => statement.sql)).toEqual([all.statements[0]!.sql]);
      const narrowed = await plan(prod, dev, { schemas: ['app', 'public'] });
      expect(narrowed.statements).toEqual(excluded.statements);
      expect(narrowed.planHash).toBe(excluded.planHash);
      const publicOnly = await plan(prod, dev, { schemas: ['public'] });
      expect([publicOnly.schemas, publicOnly.statements]).toEqual([['public'], []]);
      expect((await plan(prod, dev, { schemas: ['public', 'audit'], excludeSchemas: ['audit'] })).planHash).toBe(publicOnly.planHash);
      expect((await plan(prod, dev, { schemas: ['public', 'nowhere'] })).planHash).not.toBe(publicOnly.planHash);
      await expect(plan(prod, dev, { excludeSchemas: ['audti'] })).rejects.toThrow(new PlanInputError('--exclude-schema audti: neither prod nor dev has a schema named "audti"; check its spelling'));
    });
  });
});

/** The diff of the whole snapshots and of those without their unchanged tables (as JSON, or the error),
 * and the tables pruning keeps. */
async function diffWholeAndPruned(before: string, after: string, options: PlanOptions = {}) {
  return withDatabases(before, after, async (prod, dev) => {
    const [from, to] = await Promise.all([prod, dev].map((database) => withClient(database, (client) => introspect(client, options))));
    const diff = (pair: [typeof from, typeof to]) => diffSnapshots(...pair, options)
      .then(({ plan, statementsJson }) => JSON.stringify([plan.statements, plan.questions, statementsJson]), String);
    const pruned = withoutUnchangedTables(from!, to!);
    const kept = [...new Set([...Object.keys(pruned[0].tables), ...Object.keys(pruned[1].tables)])].sort();
    return { whole: await diff([from!, to!]), pruned: await diff(pruned), kept };
  });
}

describe.concurrent('diffing only the tables that changed gives the same plan', () => {
  const chain = 'create table a(id int primary key, n int); create table b(id int primary key, a int references a(id)); create table c(id int primary key);';
  const cases: { name: string; before: string; after: string; options?: PlanOptions; kept: string[] }[] = [
    { name: 'a changed table alone', before: chain, after: chain.replace('n int', 'n bigint'), kept: ['public.a'] },
    { name: 'new and dropped tables, the rename candidates', before: `${chain} create table gone(id int)`,
      after: `${chain} create table added(id int references c(id))`, kept: ['public.added', 'public.gone'] },
    { name: 'a renamed table and those referencing it', before: chain,
      after: chain.replace('table a(', 'table a2(').replace('references a(', 'references a2('),
      options: { answers: { 'table:public.a': 'public.a2' } }, kept: ['public.a', 'public.a2', 'public.b'] },
    { name: 'a renamed column and the tables referencing it', before: 'create table a(x int unique); create table b(x int references a(x)); create table c(id int)',
      after: 'create table a(y int unique); create table b(x int references a(y)); create table c(id int)',
      options: { renames: ['a.x=a.y'] }, kept: ['public.a', 'public.b'] },
    { name: 'an enum losing a value keeps every table', before: `create type mood as enum ('a', 'b'); create table t(m mood); ${chain}`,
      after: `create type mood as enum ('a'); create table t(m mood); ${chain}`, kept: ['public.a', 'public.b', 'public.c', 'public.t'] },
    { name: 'a table moved to another schema', before: `create schema app; ${chain}`, after: `create schema app; ${chain.replace('table c(', 'table app.c(')}`,
      options: { schemas: ['public', 'app'], answers: { 'table:public.c': 'app.c' } }, kept: ['app.c', 'public.c'] },
  ];
  for (const { name, before, after, options, kept } of cases) {
    test(name, async () => {
      const result = await diffWholeAndPruned(before, after, options);
      expect(result.pruned).toBe(result.whole);
      expect(result.kept).toEqual(kept);
    });
  }

  // Every corpus case, beside tables it leaves alone.
  const bystanders = 'create table bystander(id int primary key); create table bystander_child(b int references bystander(id));';
  for (const { name, before, after, renames, answers, schemas } of corpus) {
    test(`corpus: ${name}`, async () => {
      const options = { renames, answers, schemas };
      const result = await diffWholeAndPruned(`${bystanders} ${before}`, `${bystanders} ${after}`, options);
      expect(result.pruned).toBe(result.whole);
    });
  }
});
