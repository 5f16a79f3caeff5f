// What a plan would do to prod, measured on prod itself: rows lost, rows that would make a statement
// fail, and locks held on big tables. Our own analysis: drizzle-kit's pgSuggestions inserts TRUNCATE
// statements, so it is never used. Every drop of something that holds data (a table, column, schema,
// type, sequence, view or materialized view) and every narrowing or USING type change is a data-loss
// hazard whatever prod holds now: the rows measured are its detail, 0 included.
import type pg from 'pg';
import { ident, qualified } from '../quote.ts';
import { convertsWithUsing, loadParser, STATEMENT_NODES } from './statement-kinds.ts';
import { displayName, LARGE_TABLE_BYTES, type DraftStatement, type Hazard } from './model.ts';

type Table = { schema: string; name: string };
const sqlName = (table: Table) => qualified(table.schema, table.name);
const display = (table: Table, column?: string) => displayName(table.schema, table.name, column);
const quoteList = (columns: string[]) => columns.map(ident).join(', ');

/** Always over the extended protocol, which takes exactly one statement: a measure never runs a second one on prod. */
async function query<T extends pg.QueryResultRow>(prod: pg.ClientBase, sql: string, params: unknown[] = []) {
  return prod.query<T>({ text: sql, values: params, queryMode: 'extended' } as pg.QueryConfig);
}

async function count(prod: pg.ClientBase, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await query<{ n: string }>(prod, sql, params);
  return Number(rows[0]?.n ?? 0);
}

/** The names of a table's columns on prod. */
async function columnsOnProd(prod: pg.ClientBase, table: Table): Promise<Set<string>> {
  const { rows } = await query<{ name: string }>(prod, `SELECT a.attname AS name FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`, [table.schema, table.name]);
  return new Set(rows.map((row) => row.name));
}

/** A column's type on prod, as Postgres spells it. */
async function typeOnProd(prod: pg.ClientBase, table: Table, column: string): Promise<string | undefined> {
  const { rows } = await query<{ type: string }>(prod, `SELECT format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
    WHERE a.attrelid = $1::regclass AND a.attname = $2`, [sqlName(table), column]);
  return rows[0]?.type;
}

/** A conversion that keeps every value: to the same type holding at least as much (longer, more digits, unconstrained),
 * up the numeric ladder, or to text. Types by their `regtype` names; `[]` suffixes must match. */
const WIDER: Partial<Record<string, string[]>> = {
  smallint: ['integer', 'bigint', 'numeric', 'real', 'double precision'],
  integer: ['bigint', 'numeric', 'double precision'],
  bigint: ['numeric'],
  real: ['double precision'],
  cidr: ['inet'],
};
// Without a modifier these hold one character or bit; other types are then unconstrained.
const LENGTH_ONE = new Set(['character', 'bit']);

/** `[precision or length, scale]` of a spelled type, or undefined when unconstrained. */
function modifiers(type: string, base: string): [number, number] | undefined {
  const match = /\((\d+)(?:,\s*(\d+))?\)/.exec(type);
  if (match) return [Number(match[1]), Number(match[2] ?? 0)];
  return LENGTH_ONE.has(base.replace(/\[\]$/, '')) ? [1, 0] : undefined;
}

async function widens(prod: pg.ClientBase, oldType: string, newType: string): Promise<boolean> {
  const { rows } = await query<{ from: string; to: string | null }>(prod, 'SELECT $1::regtype::text AS from, to_regtype($2)::text AS to', [oldType, newType]);
  const { from, to } = rows[0]!;
  if (to === null) return false; // a type the plan creates
  const element = (type: string) => type.replace(/(\[\])+$/, '');
  if (from.endsWith('[]') !== to.endsWith('[]')) return false;
  if (element(to) === 'text' || WIDER[element(from)]?.includes(element(to))) return true;
  if (from !== to) return false;
  const [before, after] = [modifiers(oldType, from), modifiers(newType, to)];
  if (!after) return true;
  if (!before) return false;
  // numeric(p, s): as many digits after the point, and as many before it.
  return after[1] >= before[1] && after[0] - after[1] >= before[0] - before[1];
}

/** The new type of a type change: built-in types as drizzle spells them, others (enums, domains) qualified. */
export function newTypeOf(json: any): string {
  const { name } = json.newDataType;
  if (!json.typeSchema || json.typeSchema === 'undefined') return name;
  const [, base, brackets] = /^(.*?)((?:\[\d*\])*)$/s.exec(name)!;
  return `${qualified(json.typeSchema, base!)}${brackets}`;
}

/** The table a statement works on, under dev's name. */
export const tableOf = ({ target }: DraftStatement): Table | undefined => (target?.table === undefined ? undefined : { schema: target.schema, name: target.table });
/** The object a statement works on when it is not a table (a type, view or sequence), by its own name. */
const objectOf = ({ target }: DraftStatement): Table => ({ schema: target!.schema, name: target!.name! });

const rewrites = new Set(['set_unlogged', 'reset_unlogged', 'set_collation', 'reset_collation']);
const blocksWrites = new Set(['create_index_pg', 'create_index']);
/** Kinds whose every statement is an ALTER TABLE (renames and moves included): on a big table, its ACCESS EXCLUSIVE lock is worth a warning. */
const altersTable = (kind: string) => STATEMENT_NODES[kind]?.every((node) => ['AlterTableStmt', 'RenameStmt', 'AlterObjectSchemaStmt'].includes(node)) ?? false;

/** Statements name tables and columns as they are after the renames before them; measures query prod. */
export class ProdNames {
  private readonly tables = new Map<string, Table>();
  private readonly columns = new Map<string, string>();
  note(json: any) {
    if (json?.type === 'rename_table') {
      this.tables.set(display({ schema: json.toSchema || 'public', name: json.tableNameTo }), this.table({ schema: json.fromSchema || 'public', name: json.tableNameFrom }));
    } else if (json?.type === 'alter_table_set_schema') {
      this.tables.set(display({ schema: json.schemaTo, name: json.tableName }), this.table({ schema: json.schemaFrom, name: json.tableName }));
    } else if (json?.type === 'alter_table_rename_column') {
      const table = { schema: json.schema || 'public', name: json.tableName };
      this.columns.set(display(table, json.newColumnName), this.column(table, json.oldColumnName));
    }
  }
  table(table: Table): Table {
    return this.tables.get(display(table)) ?? table;
  }
  column(table: Table, name: string): string {
    return this.columns.get(display(table, name)) ?? name;
  }
}

/** `from`: the table under prod's name; `column`: a column's name on prod; `existing`: prod's tables
 * (`schema.name`), for a statement on any other table works on one the plan creates, empty. */
type Context = { prod: pg.ClientBase; source: DraftStatement; existing: Set<string>; from: Table; column: (name: string) => string };
type Measure = (json: any, table: Table, context: Context) => Promise<Hazard[]>;

/** A drop that loses what `object` holds: `rows` measured now, 0 included. */
const dropped = (what: string, object: string, rows: number, detail = `${rows} rows now`): Hazard[] =>
  [{ kind: 'data-loss', message: `drops ${what} ${object}: ${detail}`, object, rows }];

/** Sums a count over prod's populated tables and materialized views (ONLY: a parent does not count its
 * children's rows again), or over their columns (`a`): each count is a query that format() builds from `args`. */
function sumOverRelations(count: string, args: string, overColumns = false): string {
  return `SELECT coalesce(sum((xpath('/row/n/text()',
      query_to_xml(format('SELECT ${count} AS n FROM ONLY %I.%I', ${args}), false, true, '')))[1]::text::bigint), 0) AS n
    FROM ${overColumns ? 'pg_attribute a JOIN pg_class c ON c.oid = a.attrelid AND a.attnum > 0 AND NOT a.attisdropped' : 'pg_class c'}
      JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'm') AND (c.relkind <> 'm' OR c.relispopulated)`;
}

/** Values of a type (or arrays of it) in prod's columns: what a dropped type takes along unless its columns go first. */
async function dropType(prod: pg.ClientBase, what: string, type: Table): Promise<Hazard[]> {
  const rows = await count(prod, `${sumOverRelations('count(%I)', 'a.attname, n.nspname, c.relname', true)}
    AND a.atttypid IN (SELECT t.oid FROM pg_type t WHERE t.oid = $1::regtype OR t.typelem = $1::regtype)`, [sqlName(type)]);
  return dropped(what, display(type), rows, `prod's columns hold ${rows} values of it now`);
}

const measures: Partial<Record<string, Measure>> = {
  async drop_table(_json, table, { prod, from }) {
    return dropped('table', display(table), await count(prod, `SELECT count(*) AS n FROM ${sqlName(from)}`));
  },
  async alter_table_drop_column(json, table, { prod, from, column }) {
    const rows = await count(prod, `SELECT count(${ident(column(json.columnName))}) AS n FROM ${sqlName(from)}`);
    return dropped('column', display(table, json.columnName), rows, `${rows} non-null values now`);
  },
  async alter_table_alter_column_set_notnull(json, table, { prod, from, column }) {
    const rows = await count(prod, `SELECT count(*) AS n FROM ${sqlName(from)} WHERE ${ident(column(json.columnName))} IS NULL`);
    const object = display(table, json.columnName);
    return rows ? [{ kind: 'will-fail', message: `sets NOT NULL on ${object}, which is NULL in ${rows} rows`, object, rows }] : [];
  },
  async alter_table_add_column(json, table, { prod, from }) {
    const added = json.column;
    if (!added.notNull || added.default !== undefined || added.identity || added.generated) return [];
    const rows = await count(prod, `SELECT count(*) AS n FROM ${sqlName(from)}`);
    const object = display(table, added.name);
    return rows ? [{ kind: 'will-fail', message: `adds NOT NULL column ${object} without a default to a table with ${rows} rows`, object, rows }] : [];
  },
  async pg_alter_table_alter_column_set_type(json, table, { prod, from, column, source }) {
    const quoted = ident(column(json.columnName));
    const object = display(table, json.columnName);
    const newType = newTypeOf(json);
    const oldType = (await typeOnProd(prod, from, column(json.columnName)))!;
    await loadParser();
    const conversion = convertsWithUsing(source.sql) ? 'a conversion with USING' : (await widens(prod, oldType, newType)) ? undefined : 'a narrowing conversion';
    const change = `changes ${object} from ${oldType} to ${newType}${conversion ? `, ${conversion}` : ''}`;
    let rows: number;
    try {
      // A value that differs after a round trip through the new type is changed by it: rounded, truncated, ...
      rows = await count(prod, `SELECT count(*) AS n FROM ${sqlName(from)} WHERE ${quoted} IS DISTINCT FROM ${quoted}::${newType}::${oldType}`);
    } catch (error: any) {
      // A type the plan creates does not exist on prod yet: nothing known to fail, nothing to measure.
      if (error.code === '42704') return [{ kind: 'data-loss', message: `${change}: ${newType} is new, what changes cannot be measured before the plan creates it`, object }];
      return [
        ...(conversion ? [{ kind: 'data-loss' as const, message: `${change}: prod's values do not convert to measure what changes`, object }] : []),
        { kind: 'will-fail', message: `${change}, but prod's values do not convert: ${error.message}`, object },
      ];
    }
    return conversion || rows ? [{ kind: 'data-loss', message: `${change}: ${rows} values change now`, object, rows }] : [];
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
    const rows = await count(prod, `${sumOverRelations('count(*)', 'n.nspname, c.relname')} AND n.nspname = $1`, [json.name]);
    return dropped('schema', json.name, rows, `its tables and materialized views hold ${rows} rows now`);
  },
  async drop_type_enum(json, _table, { prod }) {
    return dropType(prod, 'enum', { schema: json.schema || 'public', name: json.name });
  },
  async drop_domain(_json, _table, { prod, source }) {
    return dropType(prod, 'domain', objectOf(source));
  },
  async drop_composite(_json, _table, { prod, source }) {
    return dropType(prod, 'composite type', objectOf(source));
  },
  async drop_view(_json, _table, { source }) {
    return dropped('view', display(objectOf(source)), 0, 'its definition goes; a view holds no rows of its own');
  },
  async drop_matview(_json, _table, { prod, source }) {
    const view = objectOf(source);
    const { rows } = await query<{ populated: boolean }>(prod, 'SELECT relispopulated AS populated FROM pg_class WHERE oid = $1::regclass', [sqlName(view)]);
    if (!rows[0]?.populated) return dropped('materialized view', display(view), 0, 'not populated, 0 rows now');
    return dropped('materialized view', display(view), await count(prod, `SELECT count(*) AS n FROM ${sqlName(view)}`));
  },
  async create_unique_constraint(json, table, context) {
    const { name, columns } = json.data;
    return duplicates(context, table, name, columns.map((name: string) => ident(context.column(name))), 'unique constraint');
  },
  async create_index_pg(json, table, context) {
    const { data } = json;
    if (!data.isUnique || data.where) return [];
    const expressions = data.columns.map((part: any) => (part.isExpression ? `(${part.expression})` : ident(context.column(part.expression))));
    return duplicates(context, table, data.name, expressions, 'unique index');
  },
  async create_composite_pk(json, table, context) {
    const { name, columns } = json.data;
    const onProd: string[] = columns.map(context.column);
    return [...(await duplicates(context, table, name, onProd.map(ident), 'primary key')), ...(await nulls(context, table, onProd))];
  },
  async alter_table_alter_column_set_pk(json, table, context) {
    const onProd = context.column(json.columnName);
    return [...(await duplicates(context, table, `${table.name}_pkey`, [ident(onProd)], 'primary key')), ...(await nulls(context, table, [onProd]))];
  },
  async create_reference(json, table, { prod, existing, from, column }) {
    const { name, columnsFrom, tableTo, columnsTo, schemaTo } = json.data;
    const source: string[] = columnsFrom.map(column);
    const target = { schema: schemaTo || 'public', name: tableTo };
    // A column the plan adds holds no values yet: no orphans. Nor can references to new columns be checked before they exist.
    const onProd = await columnsOnProd(prod, from);
    if (!source.every((name) => onProd.has(name))) return [];
    const targetExists = existing.has(display(target));
    const onProdTarget = targetExists ? await columnsOnProd(prod, target) : new Set<string>();
    if (targetExists && !columnsTo.every((name: string) => onProdTarget.has(name))) return [];
    // A referenced table the plan creates is empty: every reference is then an orphan.
    const orphan = targetExists
      ? `AND NOT EXISTS (SELECT FROM ${sqlName(target)} t WHERE ${source.map((name, i) => `t.${ident(columnsTo[i])} = f.${ident(name)}`).join(' AND ')})`
      : '';
    const rows = await count(prod, `SELECT count(*) AS n FROM ${sqlName(from)} f WHERE ${source.map((name) => `f.${ident(name)} IS NOT NULL`).join(' AND ')} ${orphan}`);
    return rows ? [{ kind: 'will-fail', message: `foreign key ${name} on ${display(table)}: ${rows} rows reference no row of ${tableTo}`, object: display(table), rows }] : [];
  },
  async drop_sequence(_json, _table, { prod, source }) {
    const sequence = objectOf(source);
    const { rows } = await query<{ value: string }>(prod, `SELECT last_value AS value FROM ${sqlName(sequence)} WHERE is_called`);
    const counter = rows[0] ? `whose counter is at ${rows[0].value}` : 'never used yet';
    return [{ kind: 'data-loss', message: `drops sequence ${display(sequence)}, ${counter}: a sequence created in its place starts over`, object: display(sequence) }];
  },
  async create_constraint(_json, table, { prod, source: { check }, from }) {
    if (!check) return [];
    // It may name a column or function the plan creates: nothing on prod to measure yet.
    const rows = await countUnlessNew(prod, `SELECT count(*) AS n FROM ${sqlName(from)} WHERE NOT (${check.expression})`, [UNDEFINED_COLUMN, UNDEFINED_FUNCTION]);
    return rows ? [{ kind: 'will-fail', message: `check constraint ${check.name} on ${display(table)} is violated by ${rows} rows`, object: display(table), rows }] : [];
  },
};

const UNDEFINED_COLUMN = '42703';
const UNDEFINED_FUNCTION = '42883';

/** Counts on prod; 0 when the query names what the plan creates (by default a renamed or new column): prod has no values of it yet. */
async function countUnlessNew(prod: pg.ClientBase, sql: string, missing = [UNDEFINED_COLUMN]): Promise<number> {
  try {
    return await count(prod, sql);
  } catch (error: any) {
    if (missing.includes(error.code)) return 0;
    throw error;
  }
}

async function duplicates({ prod, from }: Context, table: Table, name: string, expressions: string[], what: string): Promise<Hazard[]> {
  const list = expressions.join(', ');
  const rows = await countUnlessNew(prod, `SELECT coalesce(sum(n), 0) AS n FROM (SELECT count(*) AS n FROM ${sqlName(from)}
    WHERE ${expressions.map((expression) => `${expression} IS NOT NULL`).join(' AND ')} GROUP BY ${list} HAVING count(*) > 1) d`);
  return rows ? [{ kind: 'will-fail', message: `${what} ${name} on ${display(table)}: ${rows} rows share their values of (${list})`, object: display(table), rows }] : [];
}

async function nulls({ prod, from }: Context, table: Table, columns: string[]): Promise<Hazard[]> {
  const rows = await countUnlessNew(prod, `SELECT count(*) AS n FROM ${sqlName(from)} WHERE ${columns.map((column) => `${ident(column)} IS NULL`).join(' OR ')}`);
  return rows ? [{ kind: 'will-fail', message: `primary key on ${display(table)}: ${rows} rows have NULL in (${quoteList(columns)})`, object: display(table), rows }] : [];
}

/** A type change rewrites the table unless the old type converts to the new one without work (varchar → text, longer varchar). */
async function typeChangeRewrites(source: DraftStatement, from: Table, column: string, prod: pg.ClientBase): Promise<boolean> {
  const newType = newTypeOf(source.json);
  try {
    const { rows } = await query<{ cheap: boolean }>(prod, 
      `SELECT a.atttypid = $3::regtype OR EXISTS (SELECT FROM pg_cast WHERE castsource = a.atttypid AND casttarget = $3::regtype AND castmethod = 'b') AS cheap
       FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attname = $2`, [sqlName(from), column, newType]);
    return !rows[0]?.cheap;
  } catch {
    return true;
  }
}

/** Whether a statement rewrites its table (and so rebuilds its indexes) under an ACCESS EXCLUSIVE lock. */
async function rewritesTable(source: DraftStatement, { prod, from, column }: Context): Promise<boolean> {
  return rewrites.has(source.kind)
    || (source.kind === 'pg_alter_table_alter_column_set_type' && (await typeChangeRewrites(source, from, column(source.json.columnName), prod)));
}

async function locking(source: DraftStatement, table: Table, rewritten: boolean, { prod, from }: Context): Promise<Hazard[]> {
  const building = blocksWrites.has(source.kind);
  if (!rewritten && !building && !altersTable(source.kind)) return [];
  const { rows } = await query<{ bytes: string }>(prod,
    `SELECT pg_total_relation_size(c.oid) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
    [from.schema, from.name]);
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

/** What hazards found of a statement: its hazards, and whether it rewrites a table prod has. */
export interface Measured {
  hazards: Hazard[];
  rewritesTable: boolean;
}

/** Hazards of each planned statement, in plan order. */
export async function measureHazards(prod: pg.ClientBase, sources: DraftStatement[]): Promise<Measured[]> {
  // Measures evaluate dev's expressions (checks, index expressions) on prod's rows: they may read, never write.
  await prod.query('SET default_transaction_read_only = on');
  try {
    return await measureAll(prod, sources);
  } finally {
    await prod.query('RESET default_transaction_read_only');
  }
}

async function measureAll(prod: pg.ClientBase, sources: DraftStatement[]): Promise<Measured[]> {
  const { rows } = await query<{ name: string }>(prod, `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p')`);
  const existing = new Set(rows.map((row) => row.name));
  // An object the plan drops and creates again is rebuilt (a view over a retyped column), not lost; a sequence's counter is.
  const created = new Set(sources.filter((source) => source.kind.startsWith('create_')).map((source) => source.object));
  const rebuilt = (source: DraftStatement) => source.kind.startsWith('drop_') && source.kind !== 'drop_sequence' && created.has(source.object);
  const names = new ProdNames();
  const result: Measured[] = [];
  for (const source of sources) {
    const statementTable = tableOf(source);
    const table = statementTable ?? { schema: 'public', name: '' };
    const from = names.table(table);
    const onProd = existing.has(display(from));
    const measure = measures[source.json?.type ?? source.kind];
    const context = { prod, source, existing, from, column: (name: string) => names.column(table, name) };
    const measured = measure && (onProd || !statementTable) && !rebuilt(source) ? await measure(source.json, table, context) : [];
    const rewritten = onProd && (await rewritesTable(source, context));
    result.push({ hazards: [...measured, ...(onProd ? await locking(source, table, rewritten, context) : [])], rewritesTable: rewritten });
    names.note(source.json);
  }
  return result;
}
