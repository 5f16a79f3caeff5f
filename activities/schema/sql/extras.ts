// The SQL of what drizzle-kit does not model (read/extras.ts), as drizzle-kit's sqlgenerator is for its
// own statements: how an object is created, dropped or changed in place, and how a setting is set or
// reset. Names in `target` and `details` come quoted from the catalog; literals go through quote.ts.
import type { CatalogObject, Setting } from '../read/extras.ts';
import { literal } from '../../quote.ts';

const sequenceOptions = (o: Record<string, any>) =>
  ` AS ${o.type} INCREMENT BY ${o.increment} MINVALUE ${o.min} MAXVALUE ${o.max} START WITH ${o.start} CACHE ${o.cache}${o.cycle ? '' : ' NO'} CYCLE`;

const withOptions = (options: string | null) => (options ? ` WITH (${options})` : '');

export function createSql(object: CatalogObject): string[] {
  const { target, details } = object;
  switch (object.kind) {
    case 'extension':
      return [`CREATE EXTENSION ${target} WITH SCHEMA ${details.schema} VERSION ${literal(details.version)}`];
    case 'function':
      return [object.definition.trimEnd()];
    case 'domain':
      return [
        `CREATE DOMAIN ${target} AS ${details.base}${details.collation ? ` COLLATE ${details.collation}` : ''}` +
          `${details.default !== null ? ` DEFAULT ${details.default}` : ''}${details.notNull ? ' NOT NULL' : ''}`,
        ...details.constraints.map(([name, definition]: string[]) => `ALTER DOMAIN ${target} ADD CONSTRAINT ${name} ${definition}`),
      ];
    case 'composite':
      return [`CREATE TYPE ${target} AS (${details.attributes.join(', ')})`];
    case 'sequence':
      return [`CREATE SEQUENCE ${target}${sequenceOptions(details)}`];
    case 'view':
      return [`CREATE VIEW ${target}${withOptions(details.options)} AS${details.query}`];
    case 'matview':
      return [`CREATE MATERIALIZED VIEW ${target}${details.using ? ` USING ${details.using}` : ''}${withOptions(details.options)} AS${details.query}` +
        (details.populated ? ' WITH DATA' : ' WITH NO DATA')];
    case 'trigger': {
      const state: Record<string, string> = { D: 'DISABLE TRIGGER', R: 'ENABLE REPLICA TRIGGER', A: 'ENABLE ALWAYS TRIGGER' };
      const enable = state[details.enabled];
      return [details.create, ...(enable ? [`ALTER TABLE ${details.table} ${enable} ${details.name}`] : [])];
    }
    case 'constraint':
      return [`ALTER TABLE ${details.table} ADD CONSTRAINT ${details.name} ${object.definition}`];
    case 'statistics':
      return [details.create, ...(details.target >= 0 ? [`ALTER STATISTICS ${target} SET STATISTICS ${details.target}`] : [])];
    default: // index, policy, rule: their definition is the statement
      return [object.definition.replace(/;$/, '')];
  }
}

export function dropSql(object: CatalogObject): string {
  const { target, details } = object;
  switch (object.kind) {
    case 'function':
      return `DROP ${details.procedure ? 'PROCEDURE' : 'FUNCTION'} ${target}`;
    case 'composite':
      return `DROP TYPE ${target}`;
    case 'sequence': // gone already if drizzle dropped the column owning it
      return `DROP SEQUENCE IF EXISTS ${target}`;
    case 'matview':
      return `DROP MATERIALIZED VIEW ${target}`;
    case 'constraint':
      return `ALTER TABLE ${details.table} DROP CONSTRAINT ${details.name}`;
    default:
      return `DROP ${object.kind.toUpperCase()} ${target}`;
  }
}

/** In-place changes of an object that exists on both sides, or undefined when it must be dropped and recreated. */
export function alterSql(prod: CatalogObject, dev: CatalogObject): string[] | undefined {
  const { target } = dev;
  switch (dev.kind) {
    case 'extension':
      return [
        ...(prod.details.version !== dev.details.version ? [`ALTER EXTENSION ${target} UPDATE TO ${literal(dev.details.version)}`] : []),
        ...(prod.details.schema !== dev.details.schema ? [`ALTER EXTENSION ${target} SET SCHEMA ${dev.details.schema}`] : []),
      ];
    case 'sequence':
      return [`ALTER SEQUENCE ${target}${sequenceOptions(dev.details)}`];
    case 'function': { // CREATE OR REPLACE cannot change what a function returns, its parameter names, or whether it is a procedure
      const same = ['result', 'procedure', 'arguments'].every((key) => prod.details[key] === dev.details[key]);
      return same ? createSql(dev) : undefined;
    }
    case 'domain': {
      const [before, after] = [prod.details, dev.details];
      const constraintsBefore = new Map<string, string>(before.constraints);
      const constraintsAfter = new Map<string, string>(after.constraints);
      return [
        ...(before.default !== after.default ? [after.default === null ? `ALTER DOMAIN ${target} DROP DEFAULT` : `ALTER DOMAIN ${target} SET DEFAULT ${after.default}`] : []),
        ...(before.notNull !== after.notNull ? [`ALTER DOMAIN ${target} ${after.notNull ? 'SET' : 'DROP'} NOT NULL`] : []),
        ...[...constraintsBefore].filter(([name, definition]) => constraintsAfter.get(name) !== definition)
          .map(([name]) => `ALTER DOMAIN ${target} DROP CONSTRAINT ${name}`),
        ...[...constraintsAfter].filter(([name, definition]) => constraintsBefore.get(name) !== definition)
          .map(([name, definition]) => `ALTER DOMAIN ${target} ADD CONSTRAINT ${name} ${definition}`),
      ];
    }
    default:
      return undefined;
  }
}

type SettingSql = { set: (setting: Setting, prod?: Setting) => string[]; reset: (setting: Setting) => string[] };
const STORAGE: Record<string, string> = { p: 'PLAIN', e: 'EXTERNAL', m: 'MAIN', x: 'EXTENDED' };
/** How each setting is set and reset. */
export const SETTINGS: Record<Setting['kind'], SettingSql> = {
  unlogged: { set: (s) => [`ALTER TABLE ${s.target} SET UNLOGGED`], reset: (s) => [`ALTER TABLE ${s.target} SET LOGGED`] },
  'row-security': { set: (s) => [`ALTER TABLE ${s.target} ENABLE ROW LEVEL SECURITY`], reset: (s) => [`ALTER TABLE ${s.target} DISABLE ROW LEVEL SECURITY`] },
  'force-rls': { set: (s) => [`ALTER TABLE ${s.target} FORCE ROW LEVEL SECURITY`], reset: (s) => [`ALTER TABLE ${s.target} NO FORCE ROW LEVEL SECURITY`] },
  reloptions: {
    set: (s, prod) => {
      const names = (options: string[]) => options.map((option) => option.split('=')[0]!);
      const stale = names(prod?.value ?? []).filter((name) => !names(s.value).includes(name));
      return [...(stale.length ? [`ALTER TABLE ${s.target} RESET (${stale.join(', ')})`] : []), `ALTER TABLE ${s.target} SET (${s.value.join(', ')})`];
    },
    reset: (s) => [`ALTER TABLE ${s.target} RESET (${s.value.map((option: string) => option.split('=')[0]).join(', ')})`],
  },
  'replica-identity': { set: (s) => [`ALTER TABLE ${s.target} REPLICA IDENTITY ${s.value}`], reset: (s) => [`ALTER TABLE ${s.target} REPLICA IDENTITY DEFAULT`] },
  collation: {
    set: (s) => [`ALTER TABLE ${s.target} TYPE ${s.value.type} COLLATE ${s.value.collation}`],
    reset: (s) => [`ALTER TABLE ${s.target} TYPE ${s.value.type} COLLATE "default"`],
  },
  storage: {
    set: (s) => [`ALTER TABLE ${s.target} SET STORAGE ${STORAGE[s.value.storage]}`],
    reset: (s) => [`ALTER TABLE ${s.target} SET STORAGE ${STORAGE[s.value.default]}`],
  },
  compression: { set: (s) => [`ALTER TABLE ${s.target} SET COMPRESSION ${s.value}`], reset: (s) => [`ALTER TABLE ${s.target} SET COMPRESSION default`] },
  'statistics-target': { set: (s) => [`ALTER TABLE ${s.target} SET STATISTICS ${s.value}`], reset: (s) => [`ALTER TABLE ${s.target} SET STATISTICS -1`] },
  'sequence-owner': { set: (s) => [`ALTER SEQUENCE ${s.target} OWNED BY ${s.value}`], reset: (s) => [`ALTER SEQUENCE ${s.target} OWNED BY NONE`] },
};
