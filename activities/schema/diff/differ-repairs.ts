// Repairs of the order and completeness of drizzle-kit's column statements. Identity changes need two:
// it leaves out the NOT NULL changes of every column of a table where a column gains or loses identity
// (its filter matches the table, not the column), and it sets a column's new default before it drops the
// identity that forbids one. And it adds a table's new columns before it drops the old ones, so a new
// primary key column meets the old primary key.
import type { Snapshot } from './drizzle.ts';
import { ident, qualified } from '../../quote.ts';
import { displayName, drizzleTarget, type DrizzleStatement } from '../model.ts';

const tableKey = (json: any) => displayName(json.schema || 'public', json.tableName);
const columnKey = (json: any) => displayName(tableKey(json), json.columnName);

/** drizzle's statements with the NOT NULL changes it dropped put back, and identities dropped first. */
export function repairIdentityChanges(statements: DrizzleStatement[], from: Snapshot, to: Snapshot): DrizzleStatement[] {
  const identityTables = new Set(statements.filter(({ kind }) => kind.endsWith('_identity')).map(({ json }) => tableKey(json)));
  if (!identityTables.size) return statements;
  const previous = previousNames(statements);
  const planned = new Set(statements.filter(({ kind }) => kind.endsWith('_notnull')).map(({ json }) => columnKey(json)));
  const setNotNull: DrizzleStatement[] = [];
  const dropNotNull: DrizzleStatement[] = [];
  for (const key of identityTables) {
    const [devTable, prodTable] = [to.tables[key], from.tables[previous.table(key)]];
    if (!devTable || !prodTable) continue;
    for (const column of Object.values<any>(devTable.columns)) {
      const old = prodTable.columns[previous.column(key, column.name)];
      if (!old || old.notNull === column.notNull || planned.has(displayName(key, column.name))) continue;
      const json = { type: `alter_table_alter_column_${column.notNull ? 'set' : 'drop'}_notnull`, tableName: devTable.name, schema: devTable.schema, columnName: column.name };
      const sql = `ALTER TABLE ${qualified(devTable.schema || 'public', devTable.name)} ALTER COLUMN ${ident(column.name)} ${column.notNull ? 'SET' : 'DROP'} NOT NULL;`;
      (column.notNull ? setNotNull : dropNotNull).push({ sql, kind: json.type, target: drizzleTarget(json), json });
    }
  }
  const repaired: DrizzleStatement[] = [];
  for (const statement of statements) {
    if (statement.kind === 'alter_table_alter_column_drop_identity') {
      // Before the column's other changes: a default cannot be set while the column is an identity.
      const first = repaired.findIndex(({ json }) => json.columnName !== undefined && columnKey(json) === columnKey(statement.json));
      repaired.splice(first < 0 ? repaired.length : first, 0, statement, ...takeFor(dropNotNull, statement));
      continue;
    }
    if (statement.kind === 'alter_table_alter_column_set_identity') repaired.push(...takeFor(setNotNull, statement));
    repaired.push(statement);
  }
  return [...repaired, ...setNotNull, ...dropNotNull];
}

/** Each table's dropped columns before its added ones: a dropped column takes its constraints with it. */
export function dropColumnsFirst(statements: DrizzleStatement[]): DrizzleStatement[] {
  const ordered: DrizzleStatement[] = [];
  for (const statement of statements) {
    const firstAdd = statement.kind === 'alter_table_drop_column'
      ? ordered.findIndex(({ kind, json }) => kind === 'alter_table_add_column' && tableKey(json) === tableKey(statement.json))
      : -1;
    ordered.splice(firstAdd < 0 ? ordered.length : firstAdd, 0, statement);
  }
  return ordered;
}

/** Takes out of `pending` the statements on `statement`'s table. */
function takeFor(pending: DrizzleStatement[], statement: DrizzleStatement): DrizzleStatement[] {
  const taken = pending.filter(({ json }) => tableKey(json) === tableKey(statement.json));
  pending.splice(0, pending.length, ...pending.filter((item) => !taken.includes(item)));
  return taken;
}

/** Prod's names of dev's tables and columns through the differ's renames and moves. */
function previousNames(statements: DrizzleStatement[]) {
  const tables = new Map<string, string>();
  const columns = new Map<string, string>();
  for (const { json } of statements) {
    if (json.type === 'rename_table') tables.set(displayName(json.toSchema || 'public', json.tableNameTo), displayName(json.fromSchema || 'public', json.tableNameFrom));
    if (json.type === 'alter_table_set_schema') tables.set(displayName(json.schemaTo || 'public', json.tableName), displayName(json.schemaFrom || 'public', json.tableName));
    if (json.type === 'alter_table_rename_column') columns.set(displayName(tableKey(json), json.newColumnName), json.oldColumnName);
  }
  return {
    table: (key: string) => tables.get(key) ?? key,
    column: (table: string, name: string) => columns.get(displayName(table, name)) ?? name,
  };
}
