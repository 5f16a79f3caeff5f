// The schema fingerprint hashes the extras as canonical JSON (sorted keys). readExtras's queries name their
// columns, and objects' details, in key order, so that canonicalize has nothing to copy on every plan: a column
// added out of order would still fingerprint right, but copy every row again.
import { afterAll, expect, test } from 'vitest';
import { createDatabase, databaseUrl, dropDatabase } from './support.ts';
import { withClient } from '../activities/db.ts';
import { readExtras } from '../activities/schema/read/extras.ts';
import { canonicalize } from '../activities/schema/read/snapshot.ts';

// Objects of every kind readExtras reads, each with its details, and a setting, comment and grant of each sort.
const SCHEMA = `
CREATE DOMAIN posint AS int NOT NULL DEFAULT 1 CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text COLLATE "C");
CREATE SEQUENCE counter AS int INCREMENT 5 MINVALUE 10 MAXVALUE 1000 CYCLE;
CREATE TABLE users (id serial PRIMARY KEY, email text COLLATE "C" NOT NULL, score posint, note text,
  during tstzrange, CHECK (email <> '') NOT VALID, EXCLUDE USING gist (during WITH &&)) WITH (fillfactor = 70);
ALTER TABLE users ALTER COLUMN score SET STATISTICS 500, ALTER COLUMN note SET COMPRESSION pglz, ALTER COLUMN note SET STORAGE EXTERNAL, REPLICA IDENTITY FULL;
ALTER TABLE users ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER SEQUENCE counter OWNED BY users.score;
CREATE UNLOGGED TABLE scratch (id int);
CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
ALTER TABLE events ADD CONSTRAINT events_id_check CHECK (id > 0);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.email := lower(NEW.email); RETURN NEW; END$$;
CREATE TRIGGER users_touch BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION touch();
CREATE POLICY mine ON users FOR SELECT USING (id > 0);
CREATE VIEW active AS SELECT id, email FROM users WHERE id > 0;
CREATE MATERIALIZED VIEW counts AS SELECT count(*) AS n FROM users;
CREATE RULE keep AS ON DELETE TO scratch DO INSTEAD NOTHING;
CREATE STATISTICS users_stats (dependencies) ON id, score FROM users;
COMMENT ON TABLE users IS 'people';
COMMENT ON COLUMN users.email IS 'mail';
COMMENT ON FUNCTION touch() IS 'lower-case';
GRANT SELECT (email) ON active TO PUBLIC;
REVOKE EXECUTE ON FUNCTION touch() FROM PUBLIC;
`;

const databases: string[] = [];
afterAll(async () => {
  for (const name of databases) await dropDatabase(name);
});

test('reads the extras canonical as they are: canonicalize has nothing to copy', async () => {
  const created = await createDatabase('extras_canonical', SCHEMA);
  databases.push(created.name);
  const extras = await withClient(databaseUrl(created.name), (client) => readExtras(client, ['public']));
  const kinds = new Set(extras.objects.map((object) => object.kind));
  expect([...kinds].sort()).toEqual(['constraint', 'domain', 'function', 'composite', 'matview', 'rule', 'sequence', 'statistics', 'table', 'trigger', 'view', 'policy'].sort());
  expect(new Set(extras.settings.map((setting) => setting.kind))).toEqual(new Set(['unlogged', 'force-rls', 'reloptions', 'collation', 'storage', 'compression', 'statistics-target', 'replica-identity', 'sequence-owner']));
  for (const part of [extras.comments, extras.grants, extras.specialTables, extras.implicitNames, extras.dependencies]) expect(part.length).toBeGreaterThan(0);
  // Raw names are read for statements, not fingerprinted: their order does not matter.
  const { names: _names, ...fingerprinted } = extras;
  for (const [name, part] of Object.entries(fingerprinted)) expect(canonicalize(part), name).toBe(part);
});
