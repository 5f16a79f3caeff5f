// The convergence check's own reading of the catalog (activities/convergence): the same schema reads
// the same whatever made it, differences the planner's model misses are reported one per line, and the
// trial and the apply act on them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createDatabase, databaseUrl, dropDatabase, sql } from './support.ts';
import { withClient } from '../activities/db.ts';
import { readCatalogObjects, type CatalogObjects } from '../activities/convergence/catalog.ts';
import { catalogHash, diffCatalogs, proofOf } from '../activities/convergence/diff.ts';
import { planUrls } from '../activities/schema/plan.ts';
import { ConvergenceError, trialPlan } from '../activities/trial/trial.ts';
import { applyToProduction } from '../activities/production/apply.ts';
import { DEFAULT_LIMITS } from '../activities/production/execute.ts';
import { createLocalBranchProvider } from '../activities/branches/local.ts';
import { BRANCH_PREFIX } from '../activities/branches/provider.ts';

const suffix = randomUUID().slice(0, 8);
const READER = `check_reader_${suffix}`;
const WRITER = `check_writer_${suffix}`;
const databases: string[] = [];

beforeAll(() => sql(`CREATE ROLE ${READER} NOLOGIN; CREATE ROLE ${WRITER} NOLOGIN`));
afterAll(async () => {
  for (const name of databases) await dropDatabase(name);
  await sql(`DROP ROLE IF EXISTS ${READER}; DROP ROLE IF EXISTS ${WRITER}`);
});

async function database(schema: string, prefix = 'check') {
  const created = await createDatabase(prefix, schema);
  databases.push(created.name);
  return created;
}

const read = (name: string, schemas = ['public']) => withClient(databaseUrl(name), (client) => readCatalogObjects(client, schemas));

// One schema with an object of every kind the check reads, made in two different orders and histories
// (other OIDs, a dropped column, enum labels added out of order, grants given one by one, another time zone,
// a numeric default written as a string, as drizzle-kit writes it).
const IN_ORDER = `
CREATE SCHEMA app;
CREATE TYPE app.mood AS ENUM ('sad', 'o''k', 'happy');
CREATE DOMAIN app.posint AS int NOT NULL DEFAULT 1 CHECK (VALUE > 0);
CREATE TYPE app.pair AS (a int, b text COLLATE "C");
CREATE TABLE app.users (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text COLLATE "C" NOT NULL, mood app.mood DEFAULT 'happy',
  score app.posint, shout text GENERATED ALWAYS AS (upper(email)) STORED, seen timestamptz DEFAULT '2020-01-01 00:00:00+02', n serial, paid numeric(10, 2) DEFAULT 0)
  WITH (fillfactor = 80, autovacuum_enabled = false);
CREATE INDEX users_email ON app.users (email DESC) INCLUDE (mood) WHERE id > 0;
CREATE TABLE app.events (id bigint, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE INDEX events_at ON app.events (at);
CREATE TABLE app.base (id int);
CREATE TABLE app.child (x int) INHERITS (app.base);
CREATE SEQUENCE app.counter AS int INCREMENT 5 MINVALUE 10 MAXVALUE 1000 CYCLE;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.email := lower(NEW.email); RETURN NEW; END$$;
CREATE TRIGGER users_touch BEFORE INSERT ON app.users FOR EACH ROW WHEN (NEW.id > 5) EXECUTE FUNCTION app.touch();
CREATE AGGREGATE app.total(int) (sfunc = int4pl, stype = int, initcond = '0');
ALTER TABLE app.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.users FORCE ROW LEVEL SECURITY;
CREATE POLICY mine ON app.users FOR SELECT TO ${READER}, ${WRITER} USING (id > 0);
CREATE VIEW app.active AS SELECT id, email FROM app.users WHERE id > 0;
CREATE MATERIALIZED VIEW app.counts AS SELECT count(*) AS n FROM app.users;
CREATE STATISTICS app.users_stats (dependencies) ON id, score FROM app.users;
GRANT USAGE ON SCHEMA app TO ${READER};
GRANT SELECT, INSERT ON app.users TO ${READER};
GRANT SELECT (email) ON app.active TO ${WRITER} WITH GRANT OPTION;
REVOKE EXECUTE ON FUNCTION app.touch() FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE ${WRITER} IN SCHEMA app GRANT SELECT ON TABLES TO ${READER};
COMMENT ON TABLE app.users IS 'people';
COMMENT ON COLUMN app.users.email IS 'mail';
CREATE RULE keep AS ON DELETE TO app.base DO INSTEAD NOTHING;
ALTER TABLE app.users ADD CONSTRAINT email_shape CHECK (email LIKE '%@%') NOT VALID;
`;

const OTHERWISE = `
SET TimeZone = 'Asia/Tokyo';
CREATE SCHEMA app;
CREATE TABLE app.scratch (id int);
ALTER DEFAULT PRIVILEGES FOR ROLE ${WRITER} IN SCHEMA app GRANT SELECT ON TABLES TO ${READER};
CREATE SEQUENCE app.counter AS int INCREMENT 5 MINVALUE 10 MAXVALUE 1000 CYCLE;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.email := lower(NEW.email); RETURN NEW; END$$;
CREATE TYPE app.pair AS (a int, b text COLLATE "C");
CREATE TABLE app.base (id int);
CREATE RULE keep AS ON DELETE TO app.base DO INSTEAD NOTHING;
CREATE TABLE app.child (x int) INHERITS (app.base);
CREATE AGGREGATE app.total(int) (sfunc = int4pl, stype = int, initcond = '0');
CREATE DOMAIN app.posint AS int NOT NULL DEFAULT 1 CHECK (VALUE > 0);
CREATE TYPE app.mood AS ENUM ('happy');
ALTER TYPE app.mood ADD VALUE 'sad' BEFORE 'happy';
ALTER TYPE app.mood ADD VALUE 'o''k' AFTER 'sad';
CREATE TABLE app.events (id bigint, at date NOT NULL) PARTITION BY RANGE (at);
CREATE INDEX events_at ON app.events (at);
CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE app.users (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, dropped int, email text COLLATE "C" NOT NULL, mood app.mood DEFAULT 'happy',
  score app.posint, shout text GENERATED ALWAYS AS (upper(email)) STORED, seen timestamptz DEFAULT '2020-01-01 07:00:00+09', n serial,
  paid numeric(10, 2) DEFAULT '0');
ALTER TABLE app.users DROP COLUMN dropped;
ALTER TABLE app.users SET (autovacuum_enabled = false, fillfactor = 80);
ALTER TABLE app.users ADD CONSTRAINT email_shape CHECK (email LIKE '%@%') NOT VALID;
COMMENT ON COLUMN app.users.email IS 'mail';
COMMENT ON TABLE app.users IS 'people';
CREATE STATISTICS app.users_stats (dependencies) ON id, score FROM app.users;
CREATE MATERIALIZED VIEW app.counts AS SELECT count(*) AS n FROM app.users;
CREATE VIEW app.active AS SELECT id, email FROM app.users WHERE id > 0;
CREATE INDEX users_email ON app.users (email DESC) INCLUDE (mood) WHERE id > 0;
CREATE POLICY mine ON app.users FOR SELECT TO ${WRITER}, ${READER} USING (id > 0);
ALTER TABLE app.users FORCE ROW LEVEL SECURITY;
ALTER TABLE app.users ENABLE ROW LEVEL SECURITY;
CREATE TRIGGER users_touch BEFORE INSERT ON app.users FOR EACH ROW WHEN (NEW.id > 5) EXECUTE FUNCTION app.touch();
REVOKE EXECUTE ON FUNCTION app.touch() FROM PUBLIC;
GRANT SELECT (email) ON app.active TO ${WRITER} WITH GRANT OPTION;
GRANT INSERT ON app.users TO ${READER};
GRANT SELECT ON app.users TO ${READER};
GRANT USAGE ON SCHEMA app TO ${READER};
DROP TABLE app.scratch;
`;

describe('reading the catalog', () => {
  it('reads the same schema the same way whatever order and history made it, and whatever the reading session\'s settings', async () => {
    const [first, second] = await Promise.all([database(IN_ORDER), database(OTHERWISE)]);
    const inOrder = await read(first.name, ['app']);
    const settings = "SELECT current_setting('search_path') AS path, current_setting('DateStyle') AS style, current_setting('TimeZone') AS zone";
    const [otherwise, before, after] = await withClient(second.url, async (client) => {
      await client.query("SET search_path = app, public; SET DateStyle = 'SQL, DMY'; SET TimeZone = 'America/Lima'");
      const before = (await client.query(settings)).rows[0];
      return [await readCatalogObjects(client, ['app']), before, (await client.query(settings)).rows[0]];
    });
    expect(after).toEqual(before); // the settings pinned for reading are given back
    expect(diffCatalogs(inOrder, otherwise)).toEqual([]);
    expect(catalogHash(inOrder)).toBe(catalogHash(otherwise));
    expect(Object.keys(inOrder)).toEqual(expect.arrayContaining([
      'schema app', 'type app.mood', 'type app.posint', 'type app.pair', 'table app.users', 'column app.users.email', 'index app.users_email',
      'constraint app.users.email_shape', 'constraint app.posint.posint_check', 'sequence app.counter', 'sequence app.users_id_seq',
      'function app.touch()', 'aggregate app.total(integer)', 'trigger app.users.users_touch', 'policy app.users.mine', 'view app.active',
      'materialized view app.counts', 'statistics app.users_stats', 'rule app.base.keep', 'table app.events_2024', 'index app.events_2024_at_idx',
      `default privileges of ${WRITER} in schema app on tables`, 'extension plpgsql',
    ]));
    expect(inOrder['column app.users.seen']).toMatchObject({ default: "'2019-12-31 22:00:00+00'::timestamp with time zone" });
    expect(inOrder['type app.mood']).toMatchObject({ labels: ['sad', "o'k", 'happy'] });
  });

  it('reads only the schemas asked for, and never pgpromote\'s own', async () => {
    const { name } = await database('CREATE SCHEMA other; CREATE TABLE other.t (id int); CREATE SCHEMA _pgpromote; CREATE TABLE _pgpromote.ledger (id int);');
    const keys = (catalog: CatalogObjects) => Object.keys(catalog).filter((key) => !key.startsWith('extension '));
    expect(keys(await read(name, ['public']))).toEqual(['schema public']);
    expect(keys(await read(name, ['other', '_pgpromote']))).toEqual(['column other.t.id', 'schema other', 'table other.t']);
  });
});

// What prod has; each change below is made to a copy of it, and must show as exactly these lines (prod vs dev).
const PROD = `
CREATE TYPE mood AS ENUM ('a', 'b');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TABLE items (id serial PRIMARY KEY, name text, price int, note text);
CREATE INDEX items_name ON items (name);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RETURN NEW;
END$$;
CREATE TRIGGER items_touch BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION touch();
ALTER TABLE items ENABLE ROW LEVEL SECURITY;
CREATE POLICY readers ON items FOR SELECT TO ${READER} USING (true);
CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE base (id int);
CREATE TABLE child (x int) INHERITS (base);
CREATE VIEW cheap AS SELECT id, note FROM items WHERE price < 10;
`;

const CHANGES: [string, string[]][] = [
  ['ALTER TABLE items ALTER COLUMN name TYPE text COLLATE "C"', ['column public.items.name: collation pg_catalog."default" vs pg_catalog."C"']],
  ['DROP TRIGGER items_touch ON items; CREATE TRIGGER items_touch BEFORE UPDATE ON items FOR EACH ROW WHEN (NEW.price > 0) EXECUTE FUNCTION touch()', [
    'trigger public.items.items_touch: definition CREATE TRIGGER items_touch BEFORE UPDATE ON public.items FOR EACH ROW EXECUTE FUNCTION public.touch()'
      + ' vs CREATE TRIGGER items_touch BEFORE UPDATE ON public.items FOR EACH ROW WHEN ((new.price > 0)) EXECUTE FUNCTION public.touch()',
  ]],
  ['ALTER TABLE items DISABLE TRIGGER items_touch', ['trigger public.items.items_touch: enabled O vs D']],
  [`ALTER POLICY readers ON items TO ${READER}, ${WRITER}`, [`policy public.items.readers: roles ["${READER}"] vs ["${READER}","${WRITER}"]`]],
  ['DROP INDEX items_name; CREATE INDEX items_name ON items (name) INCLUDE (price)', [
    'index public.items_name: definition CREATE INDEX items_name ON public.items USING btree (name) vs CREATE INDEX items_name ON public.items USING btree (name) INCLUDE (price)',
  ]],
  ['DROP INDEX items_name; CREATE INDEX items_name ON items (name DESC)', [
    'index public.items_name: definition CREATE INDEX items_name ON public.items USING btree (name) vs CREATE INDEX items_name ON public.items USING btree (name DESC)',
  ]],
  ['ALTER SEQUENCE items_id_seq INCREMENT 5', ['sequence public.items_id_seq: increment 1 vs 5']],
  [`GRANT SELECT (name) ON items TO ${WRITER}`, [`column public.items.name: privileges none vs ["${WRITER}=SELECT"]`]],
  [`GRANT SELECT, INSERT ON items TO ${WRITER} WITH GRANT OPTION`, [`table public.items: privileges none vs ["${WRITER}=INSERT*,SELECT*"]`]],
  ['REVOKE EXECUTE ON FUNCTION touch() FROM PUBLIC', ['function public.touch(): privileges none vs ["PUBLIC="]']],
  [`ALTER DEFAULT PRIVILEGES FOR ROLE ${WRITER} IN SCHEMA public GRANT SELECT ON TABLES TO ${READER}`, [`default privileges of ${WRITER} in schema public on tables: only in dev`]],
  ['ALTER TABLE items CLUSTER ON items_pkey', ['index public.items_pkey: clustered false vs true']],
  ['ALTER TABLE items FORCE ROW LEVEL SECURITY', ['table public.items: forced row level security false vs true']],
  ["DROP TABLE events_2024; CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2026-01-01')", [
    "table public.events_2024: partition bound FOR VALUES FROM ('2024-01-01') TO ('2025-01-01') vs FOR VALUES FROM ('2024-01-01') TO ('2026-01-01')",
  ]],
  ['ALTER TABLE child NO INHERIT base', ['column public.child.id: inherited only true vs none', 'table public.child: parents ["public.base"] vs none']],
  ["ALTER TYPE mood ADD VALUE 'c' BEFORE 'a'", ['type public.mood: labels ["a","b"] vs ["c","a","b"]']],
  ['ALTER DOMAIN posint ADD CONSTRAINT small CHECK (VALUE < 100)', ['constraint public.posint.small: only in dev']],
  ['CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN OLD;\nEND$$', [
    'function public.touch(): definition differs at line 6: RETURN NEW; vs RETURN OLD;',
  ]],
  ['ALTER TABLE items DROP COLUMN price CASCADE; ALTER TABLE items ADD COLUMN price int; CREATE VIEW cheap AS SELECT id, note FROM items WHERE price < 10', [
    'table public.items: columns ["id","name","price","note"] vs ["id","name","note","price"]',
  ]],
  ["ALTER VIEW cheap ALTER COLUMN note SET DEFAULT 'none'", ["column public.cheap.note: default none vs 'none'::text"]],
  ["COMMENT ON INDEX items_name IS 'by name'", ['index public.items_name: comment none vs by name']],
  ['ALTER SEQUENCE items_id_seq OWNED BY NONE', ['sequence public.items_id_seq: owned by public.items.id vs none']],
];

describe('differences', () => {
  it('reports what the planner does not model or gets wrong, one line per property', async () => {
    const prod = await database(PROD, 'check_prod');
    const prodCatalog = await read(prod.name);
    const reported: [string, string[]][] = [];
    for (const [change] of CHANGES) {
      const dev = await database(PROD + change, 'check_dev');
      reported.push([change, diffCatalogs(prodCatalog, await read(dev.name), ['prod', 'dev'])]);
    }
    expect(reported).toEqual(CHANGES);
  });

  it('names objects on one side only, and the side', () => {
    const table = { unlogged: false };
    expect(diffCatalogs({ 'table public.a': table }, { 'table public."B"': table }, ['branch', 'dev'])).toEqual([
      'table public."B": only in dev',
      'table public.a: only in branch',
    ]);
  });
});

describe('the trial and the apply', () => {
  const PROD_ITEMS = "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 10) i;";
  // Dev also marks items_pkey for CLUSTER, which the planner's model has no place for.
  const DEV_ITEMS = 'CREATE TABLE items (id int PRIMARY KEY, name text, price int); ALTER TABLE items CLUSTER ON items_pkey;';
  const columns = async (name: string) =>
    (await sql("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) AS c FROM information_schema.columns WHERE table_name = 'items'", name)).rows[0].c;

  it('the trial fails with what differs when the planner finds nothing left but the catalog does, and rolls the branch back', async () => {
    const [prod, dev] = await Promise.all([database(PROD_ITEMS, 'check_prod'), database(DEV_ITEMS, 'check_dev')]);
    const plan = await planUrls(prod.url, dev.url);
    const branch = await createLocalBranchProvider(prod.url, { copy: 'template' }).create(`${BRANCH_PREFIX}check-${suffix}`, {
      promotionId: 'promote-check', runId: 'run-1', kind: 'trial', namespace: 'default',
    });
    databases.push(branch.id);
    const trial = withClient(branch.url, (b) => withClient(dev.url, (d) => trialPlan(b, d, plan)));
    await expect(trial).rejects.toThrow(ConvergenceError);
    await expect(trial).rejects.toThrow(/in what the planner does not see \(schemas public; branch vs dev\):\n {2}index public\.items_pkey: clustered false vs true\n/);
    expect(await columns(branch.id)).toBe('id,name');

    await sql('ALTER TABLE items SET WITHOUT CLUSTER', dev.name);
    const report = await withClient(branch.url, (b) => withClient(dev.url, (d) => trialPlan(b, d, plan)));
    const devCatalog = await read(dev.name);
    expect(report.catalog).toEqual(proofOf(devCatalog));
    expect(await columns(branch.id)).toBe('id,name,price');
  });

  it('the apply commits only when prod reaches the catalog the trial proved', async () => {
    const [prod, dev] = await Promise.all([database(PROD_ITEMS, 'check_prod'), database(DEV_ITEMS, 'check_dev')]);
    const plan = await planUrls(prod.url, dev.url);
    const identity = { promotionId: `p-${randomUUID()}`, runId: randomUUID(), attempt: 1 };
    const apply = (devCatalog: string, attempt: number) =>
      applyToProduction(prod.url, plan, { limits: DEFAULT_LIMITS, identity: { ...identity, attempt }, devCatalog });
    await expect(apply(catalogHash(await read(dev.name)), 1)).rejects.toThrow(
      /prod's catalog differs from dev's as the trial proved it, in what the planner does not see .*: rolled back, nothing was applied/,
    );
    expect(await columns(prod.name)).toBe('id,name');

    await sql('ALTER TABLE items SET WITHOUT CLUSTER', dev.name);
    expect((await apply(catalogHash(await read(dev.name)), 2)).alreadyApplied).toBe(false);
    expect(await columns(prod.name)).toBe('id,name,price');
    expect(diffCatalogs(await read(prod.name), await read(dev.name))).toEqual([]);
  });
});
