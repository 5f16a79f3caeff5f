// A serial column is an integer column, a sequence it owns and a default that draws from it; drizzle-kit
// reads it as a type `serial` and, when a column becomes or stops being one, writes `SET DATA TYPE serial`
// (no such type) or leaves the sequence and default behind. So where a kept column changes between serial
// and anything else, the differ sees plain integer columns on both sides, and the parts are planned here:
// the old default and sequence dropped before the differ's statements, the new sequence (owned by the
// column) and default created after them. serial → bigserial keeps its sequence and only retypes it.
import type { Snapshot } from './drizzle.ts';
import { displayName, type DraftStatement, type StatementTarget, type Unsupported } from '../model.ts';
import type { Extras } from '../read/extras.ts';
import { ident, literal, qualified } from '../../quote.ts';

const BASE_TYPES: Record<string, string> = { smallserial: 'smallint', serial: 'integer', bigserial: 'bigint' };

export interface SerialChanges {
  /** The snapshots as the differ must see them. */
  from: Snapshot;
  to: Snapshot;
  before: DraftStatement[];
  after: DraftStatement[];
  refusals: Unsupported[];
}

export function planSerialChanges(from: Snapshot, to: Snapshot, prod: Extras, dev: Extras): SerialChanges {
  const changes: SerialChanges = { from: { ...from, tables: { ...from.tables } }, to: { ...to, tables: { ...to.tables } }, before: [], after: [], refusals: [] };
  for (const [key, devTable] of Object.entries<any>(to.tables)) {
    const prodTable: any = from.tables[key];
    if (!prodTable || prodTable === devTable) continue;
    for (const [name, devColumn] of Object.entries<any>(devTable.columns)) {
      const prodColumn = prodTable.columns[name];
      if (!prodColumn || prodColumn.type === devColumn.type || !(BASE_TYPES[prodColumn.type] || BASE_TYPES[devColumn.type])) continue;
      const column = { schema: devTable.schema || 'public', table: devTable.name as string, name };
      const oldSequence = BASE_TYPES[prodColumn.type] ? sequenceOf(prod, column) : undefined;
      const newSequence = BASE_TYPES[devColumn.type] ? sequenceOf(dev, column) : undefined;
      const refusal = sequenceRefusal(column, prod, dev, oldSequence, newSequence);
      if (refusal) {
        changes.refusals.push(refusal);
        continue;
      }
      changes.from.tables[key] = withBaseType(changes.from.tables[key], name);
      changes.to.tables[key] = withBaseType(changes.to.tables[key], name);
      const columnSql = `ALTER TABLE ${qualified(column.schema, column.table)} ALTER COLUMN ${ident(name)}`;
      const json = (type: string) => ({ type, tableName: column.table, schema: devTable.schema, columnName: name });
      const object = `column ${column.schema}.${column.table}.${name}`;
      const target: StatementTarget = { schema: column.schema, table: column.table, column: name };
      const sequenceStatement = (sql: string, kind: string, sequence: string): DraftStatement =>
        ({ sql, kind, target: { schema: column.schema, name: sequence }, object: `sequence ${column.schema}.${sequence}` });
      if (oldSequence && oldSequence === newSequence) {
        changes.after.push(sequenceStatement(`ALTER SEQUENCE ${qualified(column.schema, newSequence)} AS ${BASE_TYPES[devColumn.type]}`, 'alter_sequence', newSequence));
        continue;
      }
      if (oldSequence) {
        changes.before.push(
          { sql: `${columnSql} DROP DEFAULT`, kind: 'alter_table_alter_column_drop_default', target, object, json: json('alter_table_alter_column_drop_default') },
          sequenceStatement(`DROP SEQUENCE ${qualified(column.schema, oldSequence)}`, 'drop_sequence', oldSequence),
        );
      }
      if (newSequence) {
        const sequence = qualified(column.schema, newSequence);
        changes.after.push(
          sequenceStatement(`CREATE SEQUENCE ${sequence} AS ${BASE_TYPES[devColumn.type]} OWNED BY ${qualified(column.schema, column.table)}.${ident(name)}`, 'create_sequence', newSequence),
          { sql: `${columnSql} SET DEFAULT nextval(${literal(sequence)}::regclass)`, kind: 'alter_table_alter_column_set_default', target, object,
            json: json('alter_table_alter_column_set_default') },
        );
      }
    }
  }
  return changes;
}

type Column = { schema: string; table: string; name: string };

/** The name of the sequence a serial column owns, null when there is none to be found. */
function sequenceOf(extras: Extras, column: Column): string | null {
  return extras.implicitNames.find((name) => name.kind === 'sequence' && name.owner === `column ${column.schema}.${column.table}.${column.name}`)?.name ?? null;
}

/** A serial's sequence that is a standalone sequence on the other side would be dropped and created again,
 * its counter lost; one pgpromote cannot name is not planned at all. */
function sequenceRefusal(column: Column, prod: Extras, dev: Extras, oldSequence?: string | null, newSequence?: string | null): Unsupported | undefined {
  const where = displayName(column.schema, column.table, column.name);
  const object = `column ${where}`;
  if (oldSequence === null || newSequence === null) return { kind: 'column', object, reason: `the sequence of serial column ${where} is not found; change it by hand` };
  const standalone = (extras: Extras, name?: string) => name !== undefined && extras.objects.some((item) => item.key === `sequence ${column.schema}.${name}`);
  const shared = standalone(dev, oldSequence) ? oldSequence : standalone(prod, newSequence) ? newSequence : undefined;
  if (shared === undefined) return undefined;
  return { kind: 'column', object, reason: `sequence ${displayName(column.schema, shared)} changes between the serial sequence of ${where} and a standalone sequence; `
    + `pgpromote would drop and create it again and lose its counter: change its ownership by hand (ALTER SEQUENCE ... OWNED BY), then plan again` };
}

/** A table whose column is the plain integer type of its serial type, without the default drizzle never shows. */
function withBaseType(table: any, name: string): any {
  const column = table.columns[name];
  return { ...table, columns: { ...table.columns, [name]: { ...column, type: BASE_TYPES[column.type] ?? column.type } } };
}
