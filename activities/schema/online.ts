// Online rewrites: on prod's big tables, a change that would block reads or writes for as long as it
// scans or builds becomes steps that hold a strong lock only for a moment. Indexes are built and dropped
// CONCURRENTLY (outside any transaction), foreign keys and CHECKs are added NOT VALID and validated apart
// (validation takes a lock that lets the app read and write), SET NOT NULL goes through a validated
// CHECK (Postgres then skips its scan), and unique constraints and primary keys are attached to a
// concurrently built unique index. Every step is built from the statement's target and the differ's
// JSON with the quoting helper; dev's names are never read back out of SQL.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { ident, qualified } from '../quote.ts';
import { ProdNames, tableOf } from './hazards.ts';
import { defaultPrimaryKeyName } from './diff/extras-plan.ts';
import { displayName, LARGE_TABLE_BYTES, type DraftStatement, type Hazard, type PlannedStatement, type TableLock } from './model.ts';

export interface OnlineOptions {
  /** `always`: rewrite whatever the table's size (`--online`); otherwise tables of `onlineThresholdBytes` and more. */
  online?: 'always';
  /** Size on prod (table, indexes and TOAST, partitions included) from which a table's changes are made online; LARGE_TABLE_BYTES when not given. */
  onlineThresholdBytes?: number;
  /** Tables (dev's names) whose changes are made online whatever their size: a trial plans again with its plan's choices. */
  onlineTables?: { schema: string; name: string }[];
}

const NO_TABLE_LOCK = new Set([
  'create_schema', 'rename_schema', 'create_type_enum', 'alter_type_add_value', 'rename_type_enum', 'move_type_enum', 'create_table',
  'create_sequence', 'alter_sequence', 'rename_sequence', 'move_sequence', 'set', 'create_extension', 'alter_extension',
  'create_function', 'alter_function', 'drop_function', 'create_domain', 'alter_domain', 'create_composite', 'grant', 'revoke',
]);
const LOCKS: Partial<Record<string, TableLock>> = {
  create_index_pg: 'SHARE',
  create_index: 'SHARE',
  create_reference: 'SHARE ROW EXCLUSIVE',
  create_trigger: 'SHARE ROW EXCLUSIVE',
  validate_constraint: 'SHARE UPDATE EXCLUSIVE',
  create_statistics: 'SHARE UPDATE EXCLUSIVE',
  'set_statistics-target': 'SHARE UPDATE EXCLUSIVE',
  comment: 'SHARE UPDATE EXCLUSIVE',
  create_view: 'ACCESS SHARE',
  create_matview: 'ACCESS SHARE',
};

/** The lock a statement of `kind` takes as planned (not rewritten): ACCESS EXCLUSIVE unless known to be weaker. */
function lockOf(kind: string): TableLock {
  return NO_TABLE_LOCK.has(kind) ? 'none' : LOCKS[kind] ?? 'ACCESS EXCLUSIVE';
}

/** A statement as the planner made it, with what hazards saw of it. */
export interface Planned {
  statement: PlannedStatement;
  source: DraftStatement;
  /** It rewrites its table on prod (a type change, SET UNLOGGED), which rebuilds the table's indexes anyway. */
  rewritesTable: boolean;
}

type TableOnProd = { schema: string; name: string; bytes: number; partitioned: boolean };
/** Where a step goes: `inline` at the statement's place, or `after` the main transaction commits. */
type Placed = { at: 'inline' | 'after'; statement: PlannedStatement };

const DROPPED_CONCURRENTLY = 'DROP INDEX CONCURRENTLY IF EXISTS ';
const BUILT_CONCURRENTLY = (unique: boolean) => `CREATE ${unique ? 'UNIQUE ' : ''}INDEX CONCURRENTLY `;

/** The plan's statements with the changes to big tables rewritten to run online, in execution order:
 * the plan as it was (its constraints added NOT VALID), then the steps that run after the main
 * transaction commits, in plan order. */
export async function onlineRewrites(prod: pg.ClientBase, planned: Planned[], options: OnlineOptions): Promise<{ statements: PlannedStatement[]; online: boolean }> {
  const prodTables = prodTablesOf(planned);
  const tables = await tablesOnProd(prod, prodTables.filter((table) => !!table));
  const threshold = options.onlineThresholdBytes ?? LARGE_TABLE_BYTES;
  const chosen = new Set((options.onlineTables ?? []).map(key));
  const context = planContext(planned);
  const placed: Placed[] = [];
  let online = false;
  for (const [index, item] of planned.entries()) {
    const schemaTable = tableOf(item.statement);
    const prodTable = prodTables[index];
    const onProd = prodTable && tables.get(key(prodTable));
    const big = onProd && (options.online === 'always' || onProd.bytes >= threshold || (!!schemaTable && chosen.has(key(schemaTable))));
    online ||= !!big;
    placed.push(...(big && schemaTable ? rewrite(item, schemaTable, onProd, context) : [{ at: 'inline' as const, statement: item.statement }]));
  }
  const at = (where: Placed['at']) => placed.filter((step) => step.at === where).map(({ statement }) => ({ ...statement, lock: statement.lock ?? lockOf(statement.kind) }));
  return { statements: [...at('inline'), ...at('after')], online };
}

const key = (table: { schema: string; name: string }) => displayName(table.schema, table.name);

/** The tables whose changes a plan makes online: those of its steps outside the main transaction (a
 * new enum value, the only other such step, has no table). */
export function onlineTablesOf(statements: PlannedStatement[]): { schema: string; name: string }[] {
  const tables = statements.filter((statement) => statement.mode !== 'main').flatMap((statement) => tableOf(statement) ?? []);
  return [...new Map(tables.map((table) => [key(table), table])).values()];
}

/** The table each statement changes, under the name prod has for it when the statement runs (after the
 * plan's renames before it). */
function prodTablesOf(planned: Planned[]): ({ schema: string; name: string } | undefined)[] {
  const names = new ProdNames();
  return planned.map((item) => {
    const table = tableOf(item.statement);
    const onProd = table && names.table(table);
    names.note(item.source.json);
    return onProd;
  });
}

/** The size of each of `tables` on prod. Only they are measured: measuring opens a table, which waits
 * behind any app's lock on it, and a big database has many tables the plan does not change. */
async function tablesOnProd(prod: pg.ClientBase, tables: { schema: string; name: string }[]): Promise<Map<string, TableOnProd>> {
  if (!tables.length) return new Map();
  const { rows } = await prod.query<{ schema: string; name: string; bytes: string; partitioned: boolean }>(`SELECT n.nspname AS schema, c.relname AS name,
      c.relkind = 'p' AS partitioned,
      CASE c.relkind WHEN 'p' THEN (SELECT coalesce(sum(pg_total_relation_size(t.relid)), 0) FROM pg_partition_tree(c.oid) t) ELSE pg_total_relation_size(c.oid) END AS bytes
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN unnest($1::text[], $2::text[]) AS wanted (schema, name) ON wanted.schema = n.nspname AND wanted.name = c.relname
    WHERE c.relkind IN ('r', 'p')`, [tables.map((table) => table.schema), tables.map((table) => table.name)]);
  return new Map(rows.map((row) => [key(row), { ...row, bytes: Number(row.bytes) }]));
}

/** What other statements of the plan do that decides whether one can be made online. */
function planContext(planned: Planned[]) {
  const rewritten = new Set<string>();
  const referenced = new Set<string>();
  const renamedPrimaryKeys = new Set<string>();
  let unknownReference = false;
  for (const { statement, source, rewritesTable } of planned) {
    const table = tableOf(statement);
    if (rewritesTable && table) rewritten.add(key(table));
    if (source.json?.type === 'create_reference') referenced.add(key({ schema: source.json.data.schemaTo || 'public', name: source.json.data.tableTo }));
    // A foreign key that extras plans (deferrable, MATCH FULL): its referenced table is in its definition only.
    if (statement.kind === 'create_constraint' && !source.check) unknownReference = true;
    // Ours rename a table's primary key (and a column's sequence, which has no table).
    if (statement.kind === 'rename' && table) renamedPrimaryKeys.add(key(table));
  }
  return {
    rewritten: (table: string) => rewritten.has(table),
    /** Why a key of `table` must exist within the main transaction: a new foreign key there may reference it. */
    referencedBecause: (table: string) => (referenced.has(table) ? `a foreign key added by this plan references ${table}`
      : unknownReference ? `the plan adds a constraint whose references pgpromote does not read (a deferrable or MATCH FULL foreign key), which may reference ${table}` : undefined),
    renamedPrimaryKey: (table: string) => renamedPrimaryKeys.has(table),
  };
}

type Table = { schema: string; name: string };
type PlanContext = ReturnType<typeof planContext>;

function rewrite(item: Planned, table: Table, onProd: TableOnProd, context: PlanContext): Placed[] {
  const { statement, source } = item;
  const json = source.json;
  const shown = key(table);
  const sqlTable = qualified(table.schema, table.name);
  const indexBuildRefusal = onProd.partitioned ? `${shown} is partitioned, and Postgres builds no index on a partitioned table CONCURRENTLY`
    : context.rewritten(shown) ? `the plan rewrites ${shown}, which rebuilds its indexes under an ACCESS EXCLUSIVE lock anyway` : undefined;
  const keep = (reason: string | undefined): Placed[] => {
    const refusal: Hazard[] = reason ? [{ kind: 'locking', message: `cannot run online: ${reason}`, object: shown, bytes: onProd.bytes }] : [];
    return [{ at: 'inline', statement: { ...statement, hazards: [...statement.hazards, ...refusal] } }];
  };
  const step = (at: Placed['at'], changes: Partial<PlannedStatement> & Pick<PlannedStatement, 'sql' | 'mode' | 'lock'>): Placed =>
    ({ at, statement: { ...statement, hazards: [], ...changes } });
  const measured = statement.hazards.filter((hazard) => hazard.kind !== 'locking');
  const locking = statement.hazards.filter((hazard) => hazard.kind === 'locking');
  const validate = (name: string): Placed => step('after', {
    sql: `ALTER TABLE ${sqlTable} VALIDATE CONSTRAINT ${ident(name)}`, kind: 'validate_constraint', mode: 'own-transaction', lock: 'SHARE UPDATE EXCLUSIVE', hazards: measured,
  });
  const notValid = (lock: TableLock) => step('inline', { sql: `${withoutSemicolon(statement.sql)} NOT VALID`, mode: 'main', lock, hazards: locking });

  switch (statement.kind) {
    case 'create_index_pg': {
      if (indexBuildRefusal) return keep(indexBuildRefusal);
      const unique = Boolean(json.data.isUnique);
      return [step('after', {
        sql: replacedPrefix(statement.sql, `CREATE ${unique ? 'UNIQUE ' : ''}INDEX `, BUILT_CONCURRENTLY(unique)),
        mode: 'no-transaction', lock: 'SHARE UPDATE EXCLUSIVE', hazards: measured,
      })];
    }
    case 'drop_index':
      if (onProd.partitioned) return keep(`${shown} is partitioned, and Postgres drops no index of a partitioned table CONCURRENTLY`);
      // After the main transaction, which may have dropped it already with its column (IF EXISTS), and has
      // dropped the foreign keys that needed it and moved it with its table.
      return [step('after', { sql: replacedPrefix(statement.sql, 'DROP INDEX ', DROPPED_CONCURRENTLY), mode: 'no-transaction', lock: 'SHARE UPDATE EXCLUSIVE', hazards: measured })];
    case 'create_reference':
      if (onProd.partitioned) return keep(`${shown} is partitioned, and Postgres adds no foreign key NOT VALID to a partitioned table`);
      return [notValid('SHARE ROW EXCLUSIVE'), validate(json.data.name)];
    case 'create_constraint': // ours: a CHECK, or what drizzle cannot express (deferrable keys, exclusion constraints), kept as is
      return source.check ? [notValid('ACCESS EXCLUSIVE'), validate(source.check.name)] : keep(undefined);
    case 'alter_table_alter_column_set_notnull': {
      const check = ident(notNullCheckName(table, statement.target!.column!));
      return [
        step('inline', {
          sql: `ALTER TABLE ${sqlTable} ADD CONSTRAINT ${check} CHECK (${ident(statement.target!.column!)} IS NOT NULL) NOT VALID`,
          kind: 'create_not_null_check', mode: 'main', lock: 'ACCESS EXCLUSIVE', hazards: locking,
        }),
        step('after', { sql: `ALTER TABLE ${sqlTable} VALIDATE CONSTRAINT ${check}`, kind: 'validate_constraint', mode: 'own-transaction', lock: 'SHARE UPDATE EXCLUSIVE', hazards: measured }),
        step('after', { sql: statement.sql, mode: 'own-transaction', lock: 'ACCESS EXCLUSIVE' }),
        step('after', { sql: `ALTER TABLE ${sqlTable} DROP CONSTRAINT ${check}`, kind: 'drop_not_null_check', mode: 'own-transaction', lock: 'ACCESS EXCLUSIVE' }),
      ];
    }
    case 'create_unique_constraint':
    case 'create_composite_pk':
    case 'alter_table_alter_column_set_pk': {
      const primary = statement.kind !== 'create_unique_constraint';
      if (indexBuildRefusal) return keep(indexBuildRefusal);
      const referenced = context.referencedBecause(shown);
      if (referenced) return keep(`${referenced}, and needs its ${primary ? 'primary key' : 'unique constraint'} within the main transaction`);
      if (statement.kind === 'alter_table_alter_column_set_pk' && context.renamedPrimaryKey(shown)) return keep(`the plan renames the primary key of ${shown} within the main transaction`);
      const name = statement.kind === 'alter_table_alter_column_set_pk' ? defaultPrimaryKeyName(table.name) : json.data.name as string;
      const columns: string[] = statement.kind === 'alter_table_alter_column_set_pk' ? [statement.target!.column!] : json.data.columns;
      const nullsNotDistinct = !primary && json.data.nullsNotDistinct ? ' NULLS NOT DISTINCT' : '';
      return [
        step('after', {
          sql: `${BUILT_CONCURRENTLY(true)}${ident(name)} ON ${sqlTable} (${columns.map(ident).join(', ')})${nullsNotDistinct}`,
          kind: 'create_unique_index', mode: 'no-transaction', lock: 'SHARE UPDATE EXCLUSIVE', hazards: measured,
        }),
        step('after', {
          sql: `ALTER TABLE ${sqlTable} ADD CONSTRAINT ${ident(name)} ${primary ? 'PRIMARY KEY' : 'UNIQUE'} USING INDEX ${ident(name)}`,
          mode: 'own-transaction', lock: 'ACCESS EXCLUSIVE', hazards: locking,
        }),
      ];
    }
    default:
      return keep(undefined);
  }
}

const withoutSemicolon = (sql: string) => sql.trim().replace(/;$/, '');

/** The generator's SQL with its fixed opening (no name in it) replaced: a shape we do not know is a bug, not something to guess at. */
function replacedPrefix(sql: string, prefix: string, replacement: string): string {
  if (!sql.startsWith(prefix)) throw new Error(`pgpromote cannot rewrite this statement online, it does not start with ${prefix.trim()}: ${sql}`);
  return replacement + sql.slice(prefix.length);
}

/** The CHECK that stands in for NOT NULL while it is validated: named after its table and column, with a
 * hash so that long or similar names stay apart, within Postgres' 63 bytes. */
function notNullCheckName(table: Table, column: string): string {
  const hash = createHash('sha256').update(JSON.stringify([table.schema, table.name, column])).digest('hex').slice(0, 10);
  let readable = `${table.name}_${column}`;
  while (Buffer.byteLength(readable) > 40) readable = [...readable].slice(0, -1).join('');
  return `${readable}_not_null_${hash}`;
}
