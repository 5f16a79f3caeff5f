// Online rewrites on tables with rows (planned with `online: 'always'`, or a threshold below their size):
// each converges as the other cases do, and its statements run as the rewrite says; where Postgres
// cannot make a change online, the blocking statement stays, with why in its locking hazard.
import { expect } from 'vitest';
import type { Plan } from '../../activities/schema/model.ts';
import type { CorpusCase } from './case.ts';

const always = { online: 'always' } as const;
const rows = (table: string, values: string) => `insert into ${table} select ${values} from generate_series(1, 200) g;`;
const parent = `create table parent(id int primary key); ${rows('parent', 'g')}`;

/** Each statement as `mode lock: sql`, SQL in one line, to compare a plan's shape at a glance. */
const shape = (plan: Plan) => plan.statements.map(({ mode, lock, sql }) => `${mode} ${lock}: ${sql.trim().replace(/\s+/g, ' ').replace(/;$/, '')}`);
const expectShape = (expected: string[]) => (plan: Plan) => expect(shape(plan)).toEqual(expected);
/** The statement of `kind` stays in the main transaction, with a locking hazard that says why it cannot run online. */
const staysBlocking = (kind: string, why: RegExp) => (plan: Plan) => {
  const statement = plan.statements.find((candidate) => candidate.kind === kind)!;
  expect(statement.mode).toBe('main');
  expect(statement.hazards.filter((hazard) => hazard.kind === 'locking').map((hazard) => hazard.message)).toContainEqual(expect.stringMatching(why));
};

export const online: CorpusCase[] = [
  { name: 'online: add index', online: always, before: `create table t(a int, b text); ${rows('t', 'g, g::text')}`,
    after: `create table t(a int, b text); ${rows('t', 'g, g::text')} create index t_a on t(a)`, expect: 'converges',
    expectPlan: expectShape(['no-transaction SHARE UPDATE EXCLUSIVE: CREATE INDEX CONCURRENTLY "t_a" ON "t" USING btree ("a")']) },
  { name: 'online: add unique index, with a threshold below the table\'s size', online: { onlineThresholdBytes: 1 },
    before: `create table t(a int); ${rows('t', 'g')}`, after: 'create table t(a int); create unique index t_a on t(a)', expect: 'converges',
    expectPlan: expectShape(['no-transaction SHARE UPDATE EXCLUSIVE: CREATE UNIQUE INDEX CONCURRENTLY "t_a" ON "t" USING btree ("a")']) },
  { name: 'online: a threshold above the table\'s size keeps the plan as it is', online: { onlineThresholdBytes: 1 << 30 },
    before: `create table t(a int); ${rows('t', 'g')}`, after: 'create table t(a int); create index t_a on t(a)', expect: 'converges',
    expectPlan: expectShape(['main SHARE: CREATE INDEX "t_a" ON "t" USING btree ("a")']) },
  { name: 'online: drop index, then a column', online: always, before: `create table t(a int, b int); create index t_a on t(a); create index t_b on t(b); ${rows('t', 'g, g')}`,
    after: 'create table t(a int)', expect: 'converges',
    expectPlan: expectShape([
      'main ACCESS EXCLUSIVE: ALTER TABLE "t" DROP COLUMN "b"',
      'no-transaction SHARE UPDATE EXCLUSIVE: DROP INDEX CONCURRENTLY IF EXISTS "t_a"',
      'no-transaction SHARE UPDATE EXCLUSIVE: DROP INDEX CONCURRENTLY IF EXISTS "t_b"', // gone with its column already
    ]) },
  { name: 'online: add foreign key', online: always, before: `${parent} create table c(p int); ${rows('c', 'g')}`,
    after: `${parent} create table c(p int references parent(id))`, expect: 'converges',
    expectPlan: expectShape([
      'main SHARE ROW EXCLUSIVE: ALTER TABLE "c" ADD CONSTRAINT "c_p_fkey" FOREIGN KEY ("p") REFERENCES "public"."parent"("id") ON DELETE no action ON UPDATE no action NOT VALID',
      'own-transaction SHARE UPDATE EXCLUSIVE: ALTER TABLE "public"."c" VALIDATE CONSTRAINT "c_p_fkey"',
    ]) },
  { name: 'online: add check constraint', online: always, before: `create table t(n int); ${rows('t', 'g')}`,
    after: 'create table t(n int constraint t_n_positive check (n > 0))', expect: 'converges',
    expectPlan: expectShape([
      'main ACCESS EXCLUSIVE: ALTER TABLE public.t ADD CONSTRAINT t_n_positive CHECK ((n > 0)) NOT VALID',
      'own-transaction SHARE UPDATE EXCLUSIVE: ALTER TABLE "public"."t" VALIDATE CONSTRAINT "t_n_positive"',
    ]) },
  { name: 'online: set not null', online: always, before: `create table t(n int, "odd ""name" int); ${rows('t', 'g, g')}`,
    after: 'create table t(n int, "odd ""name" int not null)', expect: 'converges',
    expectPlan: (plan) => {
      const [check, validate, setNotNull, drop] = plan.statements;
      expect(shape(plan)).toHaveLength(4);
      expect(check).toMatchObject({ kind: 'create_not_null_check', mode: 'main', sql: expect.stringMatching(/^ALTER TABLE "public"\."t" ADD CONSTRAINT "t_odd ""name_not_null_[0-9a-f]{10}" CHECK \("odd ""name" IS NOT NULL\) NOT VALID$/) });
      expect(validate).toMatchObject({ kind: 'validate_constraint', mode: 'own-transaction', lock: 'SHARE UPDATE EXCLUSIVE' });
      expect(setNotNull).toMatchObject({ kind: 'alter_table_alter_column_set_notnull', mode: 'own-transaction' });
      expect(drop).toMatchObject({ kind: 'drop_not_null_check', mode: 'own-transaction' });
    } },
  { name: 'online: add unique constraint', online: always, before: `create table t(a int, b int); ${rows('t', 'g, g')}`,
    after: 'create table t(a int, b int, constraint t_a_b unique nulls not distinct (a, b))', expect: 'converges',
    expectPlan: expectShape([
      'no-transaction SHARE UPDATE EXCLUSIVE: CREATE UNIQUE INDEX CONCURRENTLY "t_a_b" ON "public"."t" ("a", "b") NULLS NOT DISTINCT',
      'own-transaction ACCESS EXCLUSIVE: ALTER TABLE "public"."t" ADD CONSTRAINT "t_a_b" UNIQUE USING INDEX "t_a_b"',
    ]) },
  { name: 'online: add primary key', online: always, before: `create table t(id int not null); ${rows('t', 'g')}`,
    after: 'create table t(id int primary key)', expect: 'converges',
    expectPlan: expectShape([
      'no-transaction SHARE UPDATE EXCLUSIVE: CREATE UNIQUE INDEX CONCURRENTLY "t_pkey" ON "public"."t" ("id")',
      'own-transaction ACCESS EXCLUSIVE: ALTER TABLE "public"."t" ADD CONSTRAINT "t_pkey" PRIMARY KEY USING INDEX "t_pkey"',
    ]) },
  { name: 'online: add composite primary key', online: always, before: `create table t(a int not null, b int not null); ${rows('t', 'g, g')}`,
    after: 'create table t(a int, b int, constraint t_ab primary key (a, b))', expect: 'converges',
    expectPlan: expectShape([
      'no-transaction SHARE UPDATE EXCLUSIVE: CREATE UNIQUE INDEX CONCURRENTLY "t_ab" ON "public"."t" ("a", "b")',
      'own-transaction ACCESS EXCLUSIVE: ALTER TABLE "public"."t" ADD CONSTRAINT "t_ab" PRIMARY KEY USING INDEX "t_ab"',
    ]) },
  // Where it cannot be online, the plan keeps the blocking statement and says why.
  { name: 'online: index on a table the plan rewrites', online: always, before: `create table t(a int, b int); ${rows('t', 'g, g')}`,
    after: 'create table t(a bigint, b int); create index t_b on t(b)', expect: 'converges',
    expectPlan: staysBlocking('create_index_pg', /cannot run online: the plan rewrites public\.t/) },
  { name: 'online: unique constraint that a new foreign key references', online: always,
    before: `create table p(code text); ${rows('p', 'g::text')} create table c(code text)`,
    after: 'create table p(code text unique); create table c(code text references p(code))', expect: 'converges',
    expectPlan: staysBlocking('create_unique_constraint', /cannot run online: a foreign key added by this plan references public\.p, and needs its unique constraint within the main transaction/) },
  { name: 'online: index dropped from a table the plan moves to another schema', online: always, renames: ['public.t=app.t'],
    before: `create schema app; create table t(a int); create index t_a on t(a); ${rows('t', 'g')}`, after: 'create schema app; create table app.t(a int)', expect: 'converges',
    expectPlan: expectShape(['main ACCESS EXCLUSIVE: ALTER TABLE "public"."t" SET SCHEMA "app"', 'no-transaction SHARE UPDATE EXCLUSIVE: DROP INDEX CONCURRENTLY IF EXISTS "app"."t_a"']) },
  { name: 'online: unique index dropped with the foreign key that needed it', online: always,
    before: `create table p(code text); create unique index p_code on p(code); ${rows('p', 'g::text')} create table c(code text references p(code))`,
    after: 'create table p(code text); create table c(code text)', expect: 'converges',
    expectPlan: expectShape(['main ACCESS EXCLUSIVE: ALTER TABLE "c" DROP CONSTRAINT "c_code_fkey"', 'no-transaction SHARE UPDATE EXCLUSIVE: DROP INDEX CONCURRENTLY IF EXISTS "p_code"']) },
  { name: 'online: a table created by the plan is created as it is', online: always, before: '',
    after: 'create table t(a int not null unique); create index t_a_idx on t(a)', expect: 'converges',
    expectPlan: (plan) => expect(plan.statements.map((statement) => statement.mode)).toEqual(plan.statements.map(() => 'main')) },
  // Postgres builds no index CONCURRENTLY, and adds no foreign key NOT VALID, on a partitioned table;
  // pgpromote does not plan changes to partitioned tables at all yet.
  { name: 'online: index on a partitioned table', online: always,
    before: 'create table m(id int, at date) partition by range (at); create table m_2024 partition of m for values from (\'2024-01-01\') to (\'2025-01-01\');',
    after: 'create table m(id int, at date) partition by range (at); create table m_2024 partition of m for values from (\'2024-01-01\') to (\'2025-01-01\'); create index m_id on m(id)',
    expect: { refuses: /partitioned table/ } },
];
