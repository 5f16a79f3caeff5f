// Several changes at once, where ordering and dependencies matter.
import type { CorpusCase } from './case.ts';

export const combinations: CorpusCase[] = [
  { name: 'new enum, domain, function, table, view and trigger together', before: '',
    after: `create type state as enum ('new', 'done'); create domain posint as int check (value > 0);
      create function touch() returns trigger language plpgsql as $$ begin return new; end $$;
      create table job(id posint primary key, s state not null default 'new');
      create view open_jobs as select id from job where s = 'new';
      create trigger job_touch before update on job for each row execute function touch();`, expect: 'converges' },
  { name: 'everything dropped at once', before: `create type state as enum ('new', 'done'); create domain posint as int check (value > 0);
      create function touch() returns trigger language plpgsql as $$ begin return new; end $$;
      create table job(id posint primary key, s state not null default 'new');
      create view open_jobs as select id from job where s = 'new';
      create trigger job_touch before update on job for each row execute function touch();`, after: '', expect: 'converges' },
  { name: 'table dropped with a view and trigger on it', before: `create table t(id int); create view v as select id from t;
      create function f() returns trigger language plpgsql as $$ begin return new; end $$; create trigger tt before insert on t for each row execute function f();`,
    after: 'create function f() returns trigger language plpgsql as $$ begin return new; end $$;', expect: 'converges' },
  { name: 'column dropped from under a view that stays', before: 'create table t(a int, b int); create view v as select a from t;',
    after: 'create table t(a int); create view v as select a from t;', expect: 'converges' },
  { name: 'rename table and add a column', before: 'create table a(id int)', after: 'create table b(id int, n text)', renames: ['a=b'], expect: 'converges' },
  { name: 'rename table and change a column type', before: 'create table a(id int, n int)', after: 'create table b(id int, n bigint)', renames: ['a=b'], expect: 'converges' },
  { name: 'rename table referenced by a foreign key', before: 'create table a(id int primary key); create table c(a int references a(id))',
    after: 'create table b(id int primary key); create table c(a int references b(id))', renames: ['a=b'], expect: 'converges' },
  { name: 'rename two tables and a column', before: 'create table a(id int); create table b(x int)',
    after: 'create table a2(id int); create table b2(y int)', renames: ['a=a2', 'b=b2', 'b2.x=b2.y'], expect: 'converges' },
  { name: 'rename table with comment, grant and trigger', before: `create table a(id int); comment on table a is 'a';
      create function f() returns trigger language plpgsql as $$ begin return new; end $$; create trigger tt before insert on a for each row execute function f();`,
    after: `create table b(id int); comment on table b is 'a';
      create function f() returns trigger language plpgsql as $$ begin return new; end $$; create trigger tt before insert on b for each row execute function f();`,
    renames: ['a=b'], expect: 'converges' },
  { name: 'enum gains a value and a new column uses it as default', before: "create type s as enum ('a'); create table t(id int)",
    after: "create type s as enum ('a', 'b'); create table t(id int, s s default 'b')", expect: 'converges' },
  { name: 'enum loses a value used by a default and a view', before: "create type s as enum ('a', 'b'); create table t(s s default 'a'); create view v as select s from t;",
    after: "create type s as enum ('a'); create table t(s s default 'a'); create view v as select s from t;", expect: 'converges' },
  { name: 'type change on a column with a view, an index and a collation', before: 'create table t(s varchar(5) collate "C"); create index t_s on t(s); create view v as select s from t;',
    after: 'create table t(s varchar(10) collate "C"); create index t_s on t(s); create view v as select s from t;', expect: 'converges' },
  { name: 'function replaced while a view and a trigger use it', before: `create table t(n int);
      create function f(n int) returns int language sql immutable as 'select n'; create view v as select f(n) from t;`,
    after: `create table t(n int); create function f(n int) returns bigint language sql immutable as 'select n::bigint'; create view v as select f(n) from t;`, expect: 'converges' },
  { name: 'new schema with enum, table, view and function', before: '',
    after: `create schema app; create type app.s as enum ('x'); create table app.t(id int, s app.s);
      create view app.v as select id from app.t; create function app.f() returns int language sql as 'select 1';`, expect: 'converges' },
  { name: 'drop column with default from a dropped function', before: 'create function d() returns int language sql as \'select 1\'; create table t(id int, n int default d())',
    after: 'create table t(id int)', expect: 'converges' },
  { name: 'sequence used by a default on a new column', before: 'create table t(id int)',
    after: "create sequence ids; create table t(id int, code bigint default nextval('ids'))", expect: 'converges' },
  { name: 'materialized view over a renamed table', before: 'create table a(id int); create materialized view mv as select id from a;',
    after: 'create table b(id int); create materialized view mv as select id from b;', renames: ['a=b'], expect: 'converges' },
  { name: 'partitioned table changes next to unrelated changes', before: "create table m(id int, at date) partition by range (at); create table t(id int)",
    after: "create table m(id int, at date, n int) partition by range (at); create table t(id int, n int)", expect: { refuses: /partitioned table/ } },
  { name: 'rename column, set not null and a default', before: 'create table t(id int, a int); insert into t values (1, 1)',
    after: 'create table t(id int, b int not null default 0)', renames: ['t.a=t.b'], expect: 'converges' },
  { name: 'rename a column referenced by a foreign key', before: 'create table p(id int primary key); create table c(p int references p(id))',
    after: 'create table p(key int primary key); create table c(p int references p(key))', renames: ['p.id=p.key'], expect: 'converges' },
  { name: 'rename an indexed column and widen it', before: 'create table t(a int); create index t_a on t(a)',
    after: 'create table t(b bigint); create index t_a on t(b)', renames: ['t.a=t.b'], expect: 'converges' },
  { name: 'rename table and column and change the type', before: 'create table a(id int, n int)',
    after: 'create table b(id int, total numeric)', renames: ['a=b', 'b.n=b.total'], expect: 'converges' },
  { name: 'rename a unique column of a renamed table', before: 'create table a(id int, code text unique)',
    after: 'create table b(id int, ref text unique)', renames: ['a=b', 'b.code=b.ref'], expect: 'converges' },
  { name: 'check constraint on a new column', before: 'create table t(id int)', after: 'create table t(id int, n int constraint t_n check (n > 0))', expect: 'converges' },
  { name: 'not null column with default on a table with rows', before: 'create table t(id int); insert into t values (1), (2)',
    after: "create table t(id int, state text not null default 'new')", expect: 'converges' },
];
