// What a plan would do to prod, measured on prod itself: rows lost, rows that would make a statement
// fail, and locks held on big tables. Our own analysis: drizzle-kit's pgSuggestions inserts TRUNCATE
// statements, so it is never used.
import type pg from 'pg';
import { ident } from '../db.ts';

export interface Hazard {
  kind: 'data-loss' | 'will-fail' | 'locking';
  message: string;
  /** The table or column concerned, qualified. */
  object: string;
  /** Rows concerned, where measured. */
  rows?: number;
  /** Size of the table concerned with its indexes and TOAST, for locking hazards. */
  bytes?: number;
}

/** A planned statement as hazards see it: drizzle's statements carry their JSON, ours the object's key. */
export interface HazardSource {
  sql: string;
  kind: string;
  json?: any;
  object?: string;
}

/** Tables at least this big are worth a warning for any ACCESS EXCLUSIVE lock. */
export const LARGE_TABLE_BYTES = 64 * 1024 * 1024;

type Table = { schema: string; name: string };
const sqlName = (table: Table) => `${ident(table.schema)}.${ident(table.name)}`;
const display = (table: Table, column?: string) => [table.schema, table.name, column].filter(Boolean).join('.');
const quoteList = (columns: string[]) => columns.map(ident).join(', ');

async function count(prod: pg.ClientBase, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await prod.query<{ n: string }>(sql, params);
  return Number(rows[0]?.n ?? 0);
}

/** The table a statement works on, if it is one that prod has. */
function tableOf(source: HazardSource): Table | undefined {
  if (source.json?.tableName) return { schema: source.json.schema || 'public', name: source.json.tableName };
  const match = /^(?:table|column|constraint) ([^.]+)\.([^.]+)/.exec(source.object ?? '');
  return match ? { schema: match[1]!, name: match[2]! } : undefined;
}

const rewrites = new Set(['set_unlogged', 'reset_unlogged', 'set_collation', 'reset_collation']);
const blocksWrites = new Set(['create_index_pg', 'create_index']);

const newTypeOf = (sql: string) => /SET DATA TYPE (.+?)(?: USING .*)?;?$/s.exec(sql)?.[1];

/** `existing`: prod's tables (`schema.name`); a statement on any other table works on one the plan creates, empty. */
type Context = { prod: pg.ClientBase; sql: string; existing: Set<string> };
type Measure = (json: any, table: Table, context: Context) => Promise<Hazard[]>;

const measures: Record<string, Measure> = {
  async drop_table(_json, table, { prod }) {
    const rows = await count(prod, `SELECT count(*) AS n FROM ${sqlName(table)}`);
    return rows ? [{ kind: 'data-loss', message: `drops table ${display(table)} with ${rows} rows`, object: display(table), rows }] : [];
  },
  async alter_table_drop_column(json, table, { prod }) {
    const rows = await count(prod, `SELECT count(${ident(json.columnName)}) AS n FROM ${sqlName(table)}`);
    const object = display(table, json.columnName);
    return rows ? [{ kind: 'data-loss', message: `drops column ${object} with ${rows} non-null values`, object, rows }] : [];
  },
  async alter_table_alter_column_set_notnull(json, table, { prod }) {
    const rows = await count(prod, `SELECT count(*) AS n FROM ${sqlName(table)} WHERE ${ident(json.columnName)} IS NULL`);
    const object = display(table, json.columnName);
    return rows ? [{ kind: 'will-fail', message: `sets NOT NULL on ${object}, which is NULL in ${rows} rows`, object, rows }] : [];
  },
  async alter_table_add_column(json, table, { prod }) {
    const { column } = json;
    if (!column.notNull || column.default !== undefined || column.identity || column.generated) return [];
    const rows = await count(prod, `SELECT count(*) AS n FROM ${sqlName(table)}`);
    const object = display(table, column.name);
    return rows ? [{ kind: 'will-fail', message: `adds NOT NULL column ${object} without a default to a table with ${rows} rows`, object, rows }] : [];
  },
  async pg_alter_table_alter_column_set_type(json, table, { prod, sql }) {
    const column = ident(json.columnName);
    const object = display(table, json.columnName);
    const newType = newTypeOf(sql) ?? json.newDataType.name;
    try {
      // A value that differs after a round trip through the new type is changed by it: rounded, truncated, ...
      const rows = await count(prod, `SELECT count(*) AS n FROM ${sqlName(table)} WHERE ${column} IS DISTINCT FROM ${column}::${newType}::${json.oldDataType.name}`);
      return rows ? [{ kind: 'data-loss', message: `changes ${object} to ${newType}, which alters ${rows} values`, object, rows }] : [];
    } catch (error: any) {
      return [{ kind: 'will-fail', message: `changes ${object} to ${newType}, but prod's values do not convert: ${error.message}`, object }];
    }
  },
  async alter_type_drop_value(json, _table, { prod }) {
    const hazards: Hazard[] = [];
    for (const use of json.columnsWithEnum) {
      const table = { schema: use.tableSchema || 'public', name: use.table };
      const rows = await count(prod, `SELECT count(*) AS n FROM ${sqlName(table)} WHERE ${ident(use.column)}::text = ANY($1)`, [json.deletedValues]);
      const object = display(table, use.column);
      if (rows) hazards.push({ kind: 'will-fail', message: `removes values ${json.deletedValues.join(', ')} of enum ${json.name} still used by ${rows} rows of ${object}`, object, rows });
    }
    return hazards;
  },
  async drop_schema(json, _table, { prod }) {
    const rows = await count(prod, `SELECT coalesce(sum((xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint), 0) AS n
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`, [json.name]);
    return rows ? [{ kind: 'data-loss', message: `drops schema ${json.name} whose tables hold ${rows} rows`, object: json.name, rows }] : [];
  },
  async create_unique_constraint(json, table, { prod }) {
    const [name, columns] = String(json.data).split(';');
    return duplicates(prod, table, name!, columns!.split(',').map(ident), 'unique constraint');
  },
  async create_index_pg(json, table, { prod }) {
    const { data } = json;
    if (!data.isUnique || data.where) return [];
    return duplicates(prod, table, data.name, data.columns.map((column: any) => (column.isExpression ? `(${column.expression})` : ident(column.expression))), 'unique index');
  },
  async create_composite_pk(json, table, { prod }) {
    const [columns, name] = String(json.data).split(';');
    return [...(await duplicates(prod, table, name!, columns!.split(',').map(ident), 'primary key')), ...(await nulls(prod, table, columns!.split(',')))];
  },
  async alter_table_alter_column_set_pk(json, table, { prod }) {
    return [...(await duplicates(prod, table, `${table.name}_pkey`, [ident(json.columnName)], 'primary key')), ...(await nulls(prod, table, [json.columnName]))];
  },
  async create_reference(json, table, { prod, existing }) {
    const [name, , columnsFrom, tableTo, columnsTo, , , schemaTo] = String(json.data).split(';');
    const from = columnsFrom!.split(',');
    const to = columnsTo!.split(',');
    const target = { schema: schemaTo || 'public', name: tableTo! };
    // A referenced table the plan creates is empty: every reference is then an orphan.
    const orphan = existing.has(display(target))
      ? `AND NOT EXISTS (SELECT FROM ${sqlName(target)} t WHERE ${from.map((column, i) => `t.${ident(to[i]!)} = f.${ident(column)}`).join(' AND ')})`
      : '';
    const rows = await count(prod, `SELECT count(*) AS n FROM ${sqlName(table)} f WHERE ${from.map((column) => `f.${ident(column)} IS NOT NULL`).join(' AND ')} ${orphan}`);
    return rows ? [{ kind: 'will-fail', message: `foreign key ${name} on ${display(table)}: ${rows} rows reference no row of ${tableTo}`, object: display(table), rows }] : [];
  },
  async create_constraint(_json, table, { prod, sql }) {
    const check = /^ALTER TABLE .* ADD CONSTRAINT (.+?) CHECK \((.*)\)$/s.exec(sql);
    if (!check) return [];
    let rows: number;
    try {
      rows = await count(prod, `SELECT count(*) AS n FROM ${sqlName(table)} WHERE NOT (${check[2]})`);
    } catch (error: any) {
      // It names a column or function the plan creates: nothing on prod to measure yet.
      if (error.code === '42703' || error.code === '42883') return [];
      throw error;
    }
    return rows ? [{ kind: 'will-fail', message: `check constraint ${check[1]} on ${display(table)} is violated by ${rows} rows`, object: display(table), rows }] : [];
  },
};

async function duplicates(prod: pg.ClientBase, table: Table, name: string, expressions: string[], what: string): Promise<Hazard[]> {
  const list = expressions.join(', ');
  const rows = await count(prod, `SELECT coalesce(sum(n), 0) AS n FROM (SELECT count(*) AS n FROM ${sqlName(table)}
    WHERE ${expressions.map((expression) => `${expression} IS NOT NULL`).join(' AND ')} GROUP BY ${list} HAVING count(*) > 1) d`);
  return rows ? [{ kind: 'will-fail', message: `${what} ${name} on ${display(table)}: ${rows} rows share their values of (${list})`, object: display(table), rows }] : [];
}

async function nulls(prod: pg.ClientBase, table: Table, columns: string[]): Promise<Hazard[]> {
  const rows = await count(prod, `SELECT count(*) AS n FROM ${sqlName(table)} WHERE ${columns.map((column) => `${ident(column)} IS NULL`).join(' OR ')}`);
  return rows ? [{ kind: 'will-fail', message: `primary key on ${display(table)}: ${rows} rows have NULL in (${quoteList(columns)})`, object: display(table), rows }] : [];
}

/** A type change rewrites the table unless the old type converts to the new one without work (varchar → text, longer varchar). */
async function typeChangeRewrites(source: HazardSource, table: Table, prod: pg.ClientBase): Promise<boolean> {
  const newType = newTypeOf(source.sql);
  try {
    const { rows } = await prod.query<{ cheap: boolean }>(
      `SELECT a.atttypid = $3::regtype OR EXISTS (SELECT FROM pg_cast WHERE castsource = a.atttypid AND casttarget = $3::regtype AND castmethod = 'b') AS cheap
       FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attname = $2`, [sqlName(table), source.json.columnName, newType]);
    return !rows[0]?.cheap;
  } catch {
    return true;
  }
}

async function locking(source: HazardSource, table: Table, prod: pg.ClientBase): Promise<Hazard[]> {
  const rewritten = rewrites.has(source.kind) || (source.kind === 'pg_alter_table_alter_column_set_type' && (await typeChangeRewrites(source, table, prod)));
  const building = blocksWrites.has(source.kind);
  if (!rewritten && !building && !/^ALTER TABLE/i.test(source.sql)) return [];
  const { rows } = await prod.query<{ bytes: string }>(
    `SELECT pg_total_relation_size(c.oid) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
    [table.schema, table.name]);
  if (!rows[0]) return []; // created by the plan
  const bytes = Number(rows[0].bytes);
  const size = `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  const object = display(table);
  if (building) {
    return [{ kind: 'locking', message: `builds an index on ${object} (${size}) without CONCURRENTLY: writes to it wait until the build ends`, object, bytes }];
  }
  if (rewritten) return [{ kind: 'locking', message: `rewrites ${object} (${size}) under an ACCESS EXCLUSIVE lock`, object, bytes }];
  return bytes >= LARGE_TABLE_BYTES ? [{ kind: 'locking', message: `takes an ACCESS EXCLUSIVE lock on ${object} (${size})`, object, bytes }] : [];
}

/** Hazards of each planned statement, in plan order. */
export async function measureHazards(prod: pg.ClientBase, sources: HazardSource[]): Promise<Hazard[][]> {
  const { rows } = await prod.query<{ name: string }>(`SELECT n.nspname || '.' || c.relname AS name FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p')`);
  const existing = new Set(rows.map((row) => row.name));
  const result: Hazard[][] = [];
  for (const source of sources) {
    const table = tableOf(source);
    const measure = measures[source.json?.type ?? source.kind];
    const measured = !measure || (table && !existing.has(display(table))) ? [] : await measure(source.json, table ?? { schema: 'public', name: '' }, { prod, sql: source.sql, existing });
    result.push([...measured, ...(table && existing.has(display(table)) ? await locking(source, table, prod) : [])]);
  }
  return result;
}
