// Comments, privileges, row-level security.
import type { CorpusCase } from './case.ts';

// Roles belong to the server, which all cases share: create them idempotently (also when two cases race).
const role = (name: string) => `do $$ begin create role ${name}; exception when duplicate_object or unique_violation then null; end $$;`;
const roles = `${role('corpus_reader')} ${role('corpus_writer')}`;
const t = 'create table t(id int primary key, secret text);';

export const access: CorpusCase[] = [
  { name: 'comment on table added', before: t, after: `${t} comment on table t is 'the t';`, expect: 'converges' },
  { name: 'comment on column changed', before: `${t} comment on column t.secret is 'old';`, after: `${t} comment on column t.secret is 'it''s new';`, expect: 'converges' },
  { name: 'comment removed', before: `${t} comment on table t is 'x';`, after: t, expect: 'converges' },
  { name: 'comment on new table and column', before: '', after: `${t} comment on table t is 'x'; comment on column t.id is 'key';`, expect: 'converges' },
  { name: 'comment follows a renamed column', before: `${t} comment on column t.secret is 's';`,
    after: `${t.replace('secret', 'hidden')} comment on column t.hidden is 's';`, renames: ['t.secret=t.hidden'], expect: 'converges' },
  { name: 'comments on function, type, index, constraint, schema',
    before: `${t} create index t_s on t(secret); create type e as enum ('a'); create function f() returns int language sql as 'select 1';`,
    after: `${t} create index t_s on t(secret); create type e as enum ('a'); create function f() returns int language sql as 'select 1';
      comment on index t_s is 'i'; comment on type e is 'e'; comment on function f() is 'f'; comment on constraint t_pkey on t is 'pk'; comment on schema public is 'mine';`,
    expect: 'converges' },
  { name: 'comment on a view that is rebuilt', before: `${t} create view v as select id from t; comment on view v is 'v';`,
    after: `${t} create view v as select id, secret from t; comment on view v is 'v';`, expect: 'converges' },
  { name: 'comment on a recreated enum', before: "create type e as enum ('a', 'b'); comment on type e is 'e';", after: "create type e as enum ('a'); comment on type e is 'e';", expect: 'converges' },
  { name: 'grant select on table', before: `${roles} ${t}`, after: `${roles} ${t} grant select on t to corpus_reader;`, expect: 'converges' },
  { name: 'revoke grant', before: `${roles} ${t} grant select, insert on t to corpus_writer;`, after: `${roles} ${t}`, expect: 'converges' },
  { name: 'grant changes privileges', before: `${roles} ${t} grant select on t to corpus_writer;`, after: `${roles} ${t} grant select, update on t to corpus_writer;`, expect: 'converges' },
  { name: 'grant with grant option', before: `${roles} ${t}`, after: `${roles} ${t} grant select on t to corpus_reader with grant option;`, expect: 'converges' },
  { name: 'column grant', before: `${roles} ${t}`, after: `${roles} ${t} grant select (id) on t to corpus_reader;`, expect: 'converges' },
  { name: 'grant on new table', before: roles, after: `${roles} ${t} grant all on t to corpus_writer;`, expect: 'converges' },
  { name: 'grant on a renamed table', before: `${roles} ${t} grant select on t to corpus_reader;`,
    after: `${roles} ${t.replace(' t(', ' t2(')} grant select on t2 to corpus_reader;`, renames: ['t=t2'], expect: 'converges' },
  { name: 'grant to public on sequence and schema', before: `${roles} create sequence s;`,
    after: `${roles} create sequence s; grant usage on sequence s to public; grant create on schema public to corpus_writer;`, expect: 'converges' },
  { name: 'revoke execute on function from public', before: "create function f() returns int language sql as 'select 1';",
    after: "create function f() returns int language sql as 'select 1'; revoke execute on function f() from public;", expect: 'converges' },
  { name: 'new function without public execute', before: '',
    after: `${roles} create function f() returns int language sql as 'select 1'; revoke all on function f() from public; grant execute on function f() to corpus_reader;`, expect: 'converges' },
  { name: 'grant on a view that is rebuilt', before: `${roles} ${t} create view v as select id from t; grant select on v to corpus_reader;`,
    after: `${roles} ${t} create view v as select id, secret from t; grant select on v to corpus_reader;`, expect: 'converges' },
  { name: 'grant usage on type', before: `${roles} create type e as enum ('a');`, after: `${roles} create type e as enum ('a'); revoke usage on type e from public; grant usage on type e to corpus_reader;`, expect: 'converges' },
  { name: 'enable row level security with policy', before: `${roles} ${t}`,
    after: `${roles} ${t} alter table t enable row level security; create policy p on t for select to corpus_reader using (id > 0);`, expect: 'converges' },
  { name: 'policy expression changes', before: `${roles} ${t} alter table t enable row level security; create policy p on t using (id > 0);`,
    after: `${roles} ${t} alter table t enable row level security; create policy p on t using (id > 10);`, expect: 'converges' },
  { name: 'policy dropped and rls disabled', before: `${t} alter table t enable row level security; create policy p on t using (true);`, after: t, expect: 'converges' },
  { name: 'force row level security', before: `${t} alter table t enable row level security;`, after: `${t} alter table t enable row level security; alter table t force row level security;`, expect: 'converges' },
  { name: 'restrictive policy with check', before: t,
    after: `${t} alter table t enable row level security; create policy p on t as restrictive for insert with check (id < 100);`, expect: 'converges' },
  { name: 'default privileges', before: roles, after: `${roles} alter default privileges grant select on tables to corpus_reader;`, expect: { refuses: /default privileges/ } },
];
