// Our own live-database introspector: drizzle-kit's version-7 snapshot, as its `fromDatabase` builds it,
// read with a fixed number of set-based pg_catalog queries (drizzle-kit issues ~6 per table).
// It reproduces drizzle-kit's spelling of types and defaults so that the differ reads it the same way,
// and departs from it only where drizzle-kit is wrong; each departure is marked FIX and listed in
// test/catalog.test.ts.
import type { Snapshot } from '../diff/drizzle.ts';
import { Connections, rowsAsJson, type Queryable } from '../../db.ts';
import { literal } from '../../quote.ts';

/** Our own bookkeeping lives here, never compared or planned. */
export const INTERNAL_SCHEMA = '_pgpromote';

export interface CatalogOptions {
  schemas: string[];
  /** Roles are cluster-wide: none unless asked; `true` for all, or an include/exclude list. */
  roles?: boolean | { include?: string[]; exclude?: string[] };
  /** Shared by the reads of one plan's two databases: see BuiltRelations. */
  built?: BuiltRelations;
}

type Row = Record<string, any>;

export async function readCatalog(client: Queryable, options: CatalogOptions): Promise<Snapshot> {
  const schemas = options.schemas.filter((schema) => schema !== INTERNAL_SCHEMA);
  // Each query is set-based, so their count does not grow with the schema. All are issued at once: a client
  // runs them one after the other (inside a transaction too), Connections of several spread them.
  const db = Connections.of(client);
  const names = Object.keys(QUERIES) as (keyof typeof QUERIES)[];
  const [roles, results, parts] = await Promise.all([
    options.roles ? rowsAsJson(db, ROLES_QUERY, []) : [],
    Promise.all(names.map((name) => rowsAsJson(db, QUERIES[name], [schemas]))),
    Promise.all(RELATION_PARTS.map((part) => rowsByRelation(db, RELATION_QUERIES[part], [schemas]))),
  ]);
  const rows = Object.fromEntries(names.map((name, index) => [name, results[index]!])) as Record<keyof typeof QUERIES, Row[]>;
  // drizzle-kit's `internal` is keyed by bare table name: same-named tables of two schemas share an entry.
  const internal = { tables: {} as Record<string, { columns: Record<string, object> }> };

  const tables: Record<string, object> = {};
  const views: Record<string, object> = {};
  const shapes = new Map<string, ColumnShape>();
  for (const relation of rows.relations) {
    const texts = parts.map((byRelation) => byRelation.get(relation.relation) ?? '[]');
    const build = () => buildRelation(relation, shapes, ...texts.map((text) => JSON.parse(text) as Row[]) as [Row[], Row[], Row[], Row[]]);
    const built = options.built ? options.built.get(relation.relation, [JSON.stringify(relation), ...texts], build) : build();
    for (const [name, info] of built.internal) {
      const table = (internal.tables[relation.name] ??= { columns: {} });
      table.columns[name] = { ...info, ...table.columns[name] };
    }
    (relation.kind === 'r' ? tables : views)[`${relation.schema}.${relation.name}`] = built.object;
  }

  return {
    _meta: { columns: {}, schemas: {}, tables: {} },
    dialect: 'postgresql',
    enums: Object.fromEntries(rows.enums.map(({ schema, name, values }) => [`${schema}.${name}`, { name, schema, values }])),
    id: '',
    internal,
    policies: {},
    prevId: '',
    roles: Object.fromEntries(roles.filter((role) => wantsRole(options.roles!, role.name))
      .map(({ name, createDb, createRole, inherit }) => [name, { createDb, createRole, inherit, name }])),
    schemas: Object.fromEntries(rows.schemas.filter(({ name }) => name !== 'public').map(({ name }) => [name, name])),
    sequences: Object.fromEntries(rows.sequences.map(({ schema, name, cache, cycle, increment, maxValue, minValue, startWith }) =>
      [`${schema}.${name}`, { cache, cycle, increment, maxValue, minValue, name, schema, startWith }])),
    tables,
    version: '7',
    views,
  };
}

/** A query's rows by relation (their `relation` column), each relation's as one JSON array in `order`, left as
 * text: relations whose rows two databases have alike are then parsed and built once (BuiltRelations). */
async function rowsByRelation(db: Queryable, { sql, order }: { sql: string; order: string }, params: unknown[]): Promise<Map<string, string>> {
  const { rows } = await db.query(`SELECT q.relation, json_agg(q ORDER BY ${order})::text AS rows FROM (${sql}) q GROUP BY q.relation`, params);
  return new Map(rows.map((row: Row) => [row.relation, row.rows]));
}

/** A table or view as drizzle-kit's snapshot holds it, with its columns' entries for drizzle-kit's `internal`. */
interface BuiltRelation { object: object; internal: [string, object][] }

/** Relations built from their rows, by the text of those rows: a plan reads prod and dev with one, and each
 * table the two have alike is built once, the same object in both snapshots (which the later stages, hashing
 * and the differ's pruning, then pass over by identity). */
export class BuiltRelations {
  private readonly byRelation = new Map<string, { texts: string[]; built: BuiltRelation }>();

  /** `relation` built from `texts`, its own row's and its rows', or the object built before from the same texts.
   * Texts are compared one by one (as long as the first side's are kept), not joined into a key to hash. */
  get(relation: string, texts: string[], build: () => BuiltRelation): BuiltRelation {
    const known = this.byRelation.get(relation);
    if (known && texts.every((text, index) => text === known.texts[index])) return known.built;
    const built = build();
    if (!known) this.byRelation.set(relation, { texts, built });
    return built;
  }
}

function buildRelation(relation: Row, shapes: Map<string, ColumnShape>, columnRows: Row[], constraints: Row[], indexes: Row[], policies: Row[]): BuiltRelation {
  const columnNames = new Map(columnRows.map((row) => [row.position as number, row.name as string]));
  for (const constraint of constraints) constraint.columns = constraint.keys?.map((key: number) => columnNames.get(key));
  const primaryKey = constraints.find((constraint) => constraint.type === 'p');
  const columns: Record<string, object> = {};
  const internal: [string, object][] = [];
  for (const row of columnRows) {
    const { column, info } = toColumn(row, relation, shapes);
    column.primaryKey = primaryKey?.columns.length === 1 && primaryKey.columns[0] === row.name;
    columns[row.name] = column;
    if (info) internal.push([row.name, info]);
  }
  const object = relation.kind === 'r' ? toTable(relation, columns, constraints, indexes, policies) : toView(relation, columns);
  return { object, internal };
}

// The objects below are built with their keys in sorted order and without undefined values: canonical as
// they are, which spares canonicalize (snapshot.ts) copying each of them.

function toTable(relation: Row, columns: Record<string, object>, constraints: Row[], indexes: Row[], policies: Row[]) {
  const of = (type: string) => constraints.filter((constraint) => constraint.type === type);
  const primaryKey = of('p').filter(({ columns: keys }) => keys.length > 1);
  return {
    checkConstraints: Object.fromEntries(of('c').map(({ name, definition }) => [name, {
      name,
      value: definition.replace(/^CHECK\s*\(\(/, '').replace(/\)\)\s*$/, ''),
    }])),
    columns,
    compositePrimaryKeys: Object.fromEntries(primaryKey.map(({ name, columns: keys }) => [name, { columns: keys, name }])),
    foreignKeys: Object.fromEntries(of('f').map((fk) => [fk.name, {
      columnsFrom: fk.columns,
      columnsTo: fk.foreign_columns,
      name: fk.name,
      onDelete: FK_ACTIONS[fk.on_delete],
      onUpdate: FK_ACTIONS[fk.on_update],
      schemaTo: fk.foreign_schema,
      tableFrom: relation.name,
      tableTo: fk.foreign_table,
    }])),
    indexes: Object.fromEntries([...groupBy(indexes, 'name').values()].map((keys) => [keys[0]!.name, toIndex(keys)])),
    isRLSEnabled: relation.rls,
    name: relation.name,
    // FIX: drizzle-kit keeps USING / WITH CHECK of only the first policy it reads per table.
    policies: Object.fromEntries(policies.map(({ name, as, for: command, to, using, with_check }) => [name, {
      as, for: command, name, to, ...(using === null ? {} : { using }), ...(with_check === null ? {} : { withCheck: with_check }),
    }])),
    schema: relation.schema === 'public' ? '' : relation.schema,
    uniqueConstraints: Object.fromEntries(of('u').map(({ name, columns: keys, nulls_not_distinct }) => [name, { columns: keys, name, nullsNotDistinct: nulls_not_distinct }])),
  };
}

function toIndex(keys: Row[]) {
  const [first] = keys as [Row];
  return {
    columns: keys.map((key) => ({
      asc: !key.descending,
      expression: key.column ?? key.expression,
      // FIX: drizzle-kit marks every column of an index that has one expression as an expression.
      isExpression: key.column === null,
      nulls: key.nulls_first ? 'first' : 'last',
      // FIX: drizzle-kit joins every operator class of the index to every column and keeps any one. And it names
      // default ones, which its SQL generator then prints instead of DESC / NULLS FIRST: we name only others.
      ...(key.default_opclass ? {} : { opclass: key.opclass }),
    })),
    concurrently: false,
    isUnique: first.unique,
    method: first.method,
    name: first.name,
    ...(first.predicate === null ? {} : { where: first.predicate }),
    with: Object.fromEntries((first.options ?? []).map((option: string) => option.split('='))),
  };
}

function toView(relation: Row, columns: Record<string, object>) {
  const options = (relation.options ?? []).map((option: string) => {
    const [key, value] = option.split('=') as [string, string];
    const typed = value === 'true' ? true : value === 'false' ? false : Number.isNaN(Number(value)) ? value : Number(value);
    return [key.replace(/_(\w)/g, (_, letter: string) => letter.toUpperCase()), typed];
  }).sort(([a]: [string], [b]: [string]) => (a < b ? -1 : 1));
  return {
    columns,
    definition: relation.definition.replace(/\s+/g, ' ').replace(';', '').trim(),
    isExisting: false,
    materialized: relation.kind === 'm',
    name: relation.name,
    schema: relation.schema,
    ...(relation.tablespace === null ? {} : { tablespace: relation.tablespace }),
    ...(options.length ? { with: Object.fromEntries(options) } : {}),
  };
}

/** What a column's type and default make of it, which many columns share: read once per kind of column. */
interface ColumnShape { default: unknown; type: string; typeSchema?: string; info?: object }

function columnShape(row: Row, shapes: Map<string, ColumnShape>): ColumnShape {
  const key = JSON.stringify([row.serial, row.formatted, row.default, row.described_array, row.dimensions, row.is_array, row.element_name, row.element_schema]);
  let shape = shapes.get(key);
  if (shape) return shape;
  const dataType: string = row.serial ?? row.formatted;
  const defaultValue = columnDefault(row.default, dataType, row.described_array);
  const isDefaultAnExpression = defaultValue === 'NULL' || /^\(.*\)$/s.test(row.default ?? '')
    || (NUMBER_TYPES.includes(dataType) && typeof defaultValue === 'string');
  const info = {
    ...(row.described_array ? { dimensions: row.dimensions, isArray: true } : {}),
    ...(isDefaultAnExpression ? { isDefaultAnExpression } : {}),
    ...(row.described_array ? { rawType: row.formatted.slice(0, -2) } : {}),
  };
  shape = { default: defaultValue, ...columnType(row, dataType), info: Object.keys(info).length ? info : undefined };
  shapes.set(key, shape);
  return shape;
}

function toColumn(row: Row, relation: Row, shapes: Map<string, ColumnShape>) {
  const shape = columnShape(row, shapes);
  // Keys in sorted order, as above; assigned one by one, not spread from temporary objects (thousands of columns).
  const column: Record<string, unknown> = {};
  if (shape.default !== undefined) column.default = shape.default;
  if (row.generated !== null) column.generated = { as: row.generated, type: 'stored' };
  if (row.identity) {
    column.identity = {
      cache: row.sequence.cache,
      cycle: row.sequence.cycle,
      increment: row.sequence.increment,
      maxValue: row.sequence.maxValue,
      minValue: row.sequence.minValue,
      // FIX: drizzle-kit takes the sequence's regclass text, schema-qualified (and quoted) outside `public`.
      name: row.sequence.name,
      schema: relation.schema,
      startWith: row.sequence.startWith,
      type: row.identity === 'a' ? 'always' : 'byDefault',
    };
  }
  column.name = row.name;
  column.notNull = row.not_null;
  column.primaryKey = false;
  column.type = shape.type;
  if (shape.typeSchema !== undefined) column.typeSchema = shape.typeSchema;
  return { column, info: shape.info };
}

// drizzle-kit's SQL generator prints these type names (and anything starting with them) as they are;
// any other name it quotes and qualifies with `typeSchema` unless that is `public`.
const NATIVE_TYPES = ['uuid', 'smallint', 'integer', 'bigint', 'boolean', 'text', 'varchar', 'serial', 'bigserial',
  'decimal', 'numeric', 'real', 'json', 'jsonb', 'time', 'timestamp', 'date', 'interval', 'double precision', 'char',
  'vector', 'geometry', 'halfvec', 'sparsevec', 'bit'];
// Extension types drizzle-kit spells with their modifiers, as format_type does.
const EXTENSION_TYPES = ['vector', 'geometry', 'halfvec', 'sparsevec', 'bit'];

function columnType(row: Row, dataType: string): { type: string; typeSchema?: string } {
  if (row.element_schema !== 'pg_catalog' && !EXTENSION_TYPES.includes(row.element_name)) {
    // FIX: enums outside the compared schemas, enum arrays, domains and composite types need their schema;
    // drizzle-kit gives them none, or folds it into the name (`sales.sku`), and its SQL does not apply.
    const brackets = row.is_array ? '[]'.repeat(Math.max(1, row.dimensions)) : '';
    return { type: `${row.element_name}${brackets}`, typeSchema: row.element_schema };
  }
  let type = dataType;
  if (type.startsWith('numeric(')) type = type.replace(',', ', ');
  if (row.described_array) type += '[]'.repeat(Math.max(0, row.dimensions - 1));
  type = type.replace('character varying', 'varchar').replace(' without time zone', '').replace('character', 'char').replace(/^"+|"+$/g, '');
  // FIX: built-in types the generator quotes (`inet`, `bytea`, ...) need a schema too, or ALTER COLUMN ... SET DATA TYPE
  // says `"undefined"."inet"`. Serial types are no types: they must stay unqualified.
  const quoted = !row.serial && !NATIVE_TYPES.some((native) => type.startsWith(native));
  return quoted ? { type, typeSchema: 'pg_catalog' } : { type };
}

const NUMBER_TYPES = ['integer', 'smallint', 'bigint', 'double precision', 'real'];

/** drizzle-kit's reading of a column default (its `defaultForColumn`), array defaults excepted. */
function columnDefault(raw: string | null, dataType: string, isArray: boolean): unknown {
  if (raw === null || ['serial', 'smallserial', 'bigserial'].includes(dataType)) return undefined;
  // FIX: drizzle-kit rebuilds array literals element by element: '{}' becomes '{""}' (the diff never settles),
  // elements with commas or quotes break, ARRAY[...] turns into garbage. Postgres's own text is exact.
  if (isArray) return raw.match(/^('(?:[^']|'')*')::[^']+$/)?.[1] ?? raw;
  const value = raw.replace(/\[\]$/, '').replace(/::(.*?)(?<![^\w"])(?=$)/, '');
  if (NUMBER_TYPES.includes(dataType)) {
    return /^-?[\d.]+(?:e-?\d+)?$/.test(value) ? Number(value) : value;
  }
  if (dataType.includes('numeric')) return value.includes("'") ? value : literal(value);
  // FIX: only literals are JSON; drizzle-kit throws on an expression such as jsonb_build_object().
  if ((dataType === 'json' || dataType === 'jsonb') && value.startsWith("'")) {
    return `${literal(JSON.stringify(JSON.parse(value.slice(1, -1).replace(/''/g, "'"))))}::${dataType}`;
  }
  if (dataType === 'boolean') return value === 'true';
  if (value === 'NULL' || (value.startsWith("'") && value.endsWith("'"))) return value;
  return value.replace(/\\/g, '`\\');
}

const FK_ACTIONS: Record<string, string> = { a: 'no action', r: 'restrict', n: 'set null', c: 'cascade', d: 'set default' };

function groupBy(rows: Row[], key: string): Map<unknown, Row[]> {
  const groups = new Map<unknown, Row[]>();
  for (const row of rows) {
    const group = groups.get(row[key]);
    if (group) group.push(row);
    else groups.set(row[key], [row]);
  }
  return groups;
}

function wantsRole(filter: NonNullable<CatalogOptions['roles']>, name: string) {
  if (filter === true) return true;
  if (filter === false || filter.exclude?.includes(name)) return false;
  return !filter.include || filter.include.includes(name);
}

// $1 is the list of schemas compared. `relation` links rows to their table or view: its name (qualified where the
// search path needs it), not its oid, so that a table's rows are the same text in two databases that have it alike.
const RELATIONS_IN_SCHEMAS = `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'v', 'm') AND n.nspname = ANY ($1)`;
const TABLES_IN_SCHEMAS = `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND n.nspname = ANY ($1)`;
// Sequences owned by a column: serial and identity sequences, and those given OWNED BY.
const OWNED_SEQUENCES = `SELECT DISTINCT ON (d.refobjid, d.refobjsubid) d.refobjid AS relid, d.refobjsubid AS attnum, s.*, sc.relname, sc.oid AS sequence_oid
  FROM pg_depend d JOIN pg_class sc ON sc.oid = d.objid AND sc.relkind = 'S' JOIN pg_sequence s ON s.seqrelid = sc.oid
  WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
  ORDER BY d.refobjid, d.refobjsubid, sc.oid`;

const QUERIES = {
  relations: `SELECT c.oid::regclass::text AS relation, n.nspname AS schema, c.relname AS name, c.relkind AS kind, c.relrowsecurity AS rls,
      CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END AS definition,
      c.reloptions::text[] AS options, ts.spcname AS tablespace
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_tablespace ts ON ts.oid = c.reltablespace
    WHERE c.oid IN (${RELATIONS_IN_SCHEMAS})
    ORDER BY c.relkind <> 'r', n.nspname COLLATE "C", c.relname COLLATE "C"`,
  enums: `SELECT n.nspname AS schema, t.typname AS name, json_agg(e.enumlabel ORDER BY e.enumsortorder) AS values
    FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = ANY ($1) GROUP BY n.nspname, t.typname`,
  // Sequences owned by a column of a compared table belong to that column (serial, identity), as in drizzle-kit.
  sequences: `SELECT n.nspname AS schema, c.relname AS name, s.seqstart::text AS "startWith", s.seqmin::text AS "minValue",
      s.seqmax::text AS "maxValue", s.seqincrement::text AS increment, s.seqcycle AS cycle, s.seqcache::text AS cache
    FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY ($1)
      AND s.seqrelid NOT IN (SELECT sequence_oid FROM (${OWNED_SEQUENCES}) owned WHERE owned.relid IN (${TABLES_IN_SCHEMAS}))`,
  // FIX: drizzle-kit lists a schema without tables only if its owner can log in.
  schemas: `SELECT nspname AS name FROM pg_namespace WHERE nspname = ANY ($1)`,
};

// Rows that belong to one table or view each, read as one JSON text per relation (see rowsByRelation).
const RELATION_QUERIES = {
  // described_array: information_schema's data_type is ARRAY, which drives drizzle-kit's array handling (it does not
  // describe materialized views); element_*: the type itself, or an array's element type. Tables are filtered by schema
  // before their columns are joined to types and defaults (a semi-join after them did it for the system catalogs' too).
  columns: {
    order: 'position',
    sql: `SELECT a.attrelid::regclass::text AS relation, a.attnum AS position, a.attname AS name, a.attnotnull AS not_null, a.attndims AS dimensions,
      format_type(a.atttypid, a.atttypmod) AS formatted,
      c.relkind <> 'm' AND coalesce(bt.typelem, t.typelem) <> 0 AND coalesce(bt.typlen, t.typlen) = -1 AS described_array,
      et.oid IS NOT NULL AS is_array, coalesce(et.typname, t.typname) AS element_name, coalesce(en.nspname, tn.nspname) AS element_schema,
      CASE WHEN a.attgenerated = '' THEN expression END AS default,
      CASE WHEN a.attgenerated <> '' THEN expression END AS generated,
      CASE WHEN expression = 'nextval(''' || owned.sequence_oid::regclass || '''::regclass)'
        THEN CASE a.atttypid WHEN 'int4'::regtype THEN 'serial' WHEN 'int8'::regtype THEN 'bigserial' WHEN 'int2'::regtype THEN 'smallserial' END
      END AS serial,
      nullif(a.attidentity, '') AS identity,
      CASE WHEN owned.relid IS NOT NULL THEN json_build_object('name', owned.relname, 'startWith', owned.seqstart::text,
        'increment', owned.seqincrement::text, 'minValue', owned.seqmin::text, 'maxValue', owned.seqmax::text,
        'cache', owned.seqcache::text, 'cycle', owned.seqcycle) END AS sequence
    FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'v', 'm')
      JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = ANY ($1)
      JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = t.typnamespace
      LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
      LEFT JOIN pg_type et ON t.typelem <> 0 AND t.typlen = -1 AND et.oid = t.typelem LEFT JOIN pg_namespace en ON en.oid = et.typnamespace
      -- A default cannot name a column: deparsed without its table, which pg_get_expr would open (its relcache entry is
      -- built once per connection: ~0.1 ms a table). A generated column's expression names columns.
      LEFT JOIN LATERAL (SELECT pg_get_expr(ad.adbin, CASE WHEN a.attgenerated = '' THEN 0 ELSE ad.adrelid END) AS expression
        FROM pg_attrdef ad WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum) ad ON true
      LEFT JOIN (${OWNED_SEQUENCES}) owned ON owned.relid = a.attrelid AND owned.attnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped`,
  },
  // FIX: key columns in constraint order (drizzle-kit: catalog order) and NULLS NOT DISTINCT (drizzle-kit: always false).
  // A constraint's own columns by number, named by buildRelation from the table's columns (a subquery per constraint
  // was a third of this query's time); checks have none that drizzle-kit keeps.
  constraints: {
    order: 'name COLLATE "C"',
    sql: `SELECT con.conrelid::regclass::text AS relation, con.conname AS name, con.contype AS type,
      CASE WHEN con.contype <> 'c' THEN con.conkey END AS keys, fn.nspname AS foreign_schema, fc.relname AS foreign_table,
      CASE WHEN con.contype = 'f' THEN ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, position)
        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.position) END AS foreign_columns,
      con.confdeltype AS on_delete, con.confupdtype AS on_update,
      CASE WHEN con.contype = 'c' THEN pg_get_constraintdef(con.oid) END AS definition,
      coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false) AS nulls_not_distinct
    FROM pg_constraint con
      LEFT JOIN pg_class fc ON fc.oid = con.confrelid LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
      LEFT JOIN pg_index i ON con.contype = 'u' AND i.indexrelid = con.conindid
    WHERE con.conrelid IN (${TABLES_IN_SCHEMAS}) AND con.contype IN ('p', 'u', 'f', 'c')`,
  },
  // Indexes that are not a constraint's own (FIX: drizzle-kit also drops unique indexes a foreign key references),
  // one row per key column (INCLUDE columns have no place in the format); a key that is a column is named by it, only
  // expressions are deparsed.
  indexes: {
    order: 'name COLLATE "C", position',
    sql: `SELECT i.indrelid::regclass::text AS relation, ic.relname AS name, k.position, i.indisunique AS unique, am.amname AS method,
      ic.reloptions::text[] AS options, pg_get_expr(i.indpred, i.indrelid) AS predicate,
      a.attname AS column, CASE WHEN k.attnum = 0 THEN pg_get_indexdef(i.indexrelid, k.position, false) END AS expression,
      i.indoption[k.position - 1] & 1 = 1 AS descending, i.indoption[k.position - 1] & 2 = 2 AS nulls_first,
      opc.opcname AS opclass, opc.opcdefault AS default_opclass
    FROM pg_index i
      JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
      CROSS JOIN LATERAL (SELECT attnum, position::int FROM unnest(i.indkey) WITH ORDINALITY u(attnum, position)) k
      LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum <> 0
      JOIN pg_opclass opc ON opc.oid = i.indclass[k.position - 1]
    WHERE i.indrelid IN (${TABLES_IN_SCHEMAS}) AND k.position <= i.indnkeyatts
      AND NOT EXISTS (SELECT FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x'))`,
  },
  policies: {
    order: 'name COLLATE "C"',
    sql: `SELECT p.polrelid::regclass::text AS relation, p.polname AS name,
      CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END AS as,
      CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END AS for,
      CASE WHEN p.polroles = '{0}' THEN ARRAY['public']
        ELSE ARRAY(SELECT rolname::text FROM pg_roles WHERE oid = ANY (p.polroles) ORDER BY rolname) END AS to,
      pg_get_expr(p.polqual, p.polrelid) AS using, pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
    FROM pg_policy p WHERE p.polrelid IN (${TABLES_IN_SCHEMAS})`,
  },
};
const RELATION_PARTS = ['columns', 'constraints', 'indexes', 'policies'] as const;

// FIX: drizzle-kit reports `createRole` as rolcreatedb when asked for all roles.
const ROLES_QUERY = `SELECT rolname AS name, rolcreatedb AS "createDb", rolcreaterole AS "createRole", rolinherit AS inherit FROM pg_roles`;
