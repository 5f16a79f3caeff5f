// drizzle-kit never sees a name it cannot handle. Its snapshots join names with `;` and `,` (and split
// them again), and its SQL generator writes `"${name}"` and `'${label}'` without escaping: a `"` in a
// table name broke the SQL, and a name could smuggle a second statement into the plan. So before the
// differ runs, every name that is not plain letters, digits and `_` is replaced by a token of letters
// and hex digits; the SQL the generator writes is then decoded token by token through our quoting
// helper, and the differ's statements are decoded for the rest of the planner. Expressions (defaults,
// generated columns, index expressions) are Postgres' own deparsed SQL and pass through unchanged.
import type { Snapshot } from './drizzle.ts';
import { ident, literal } from '../../quote.ts';

const PLAIN = /^[A-Za-z0-9_]*$/;

export interface NameCodec {
  /** Real names in place of the tokens of a text (a qualified name built from encoded parts). */
  decode(text: string): string;
  encodeSnapshot(snapshot: Snapshot): Snapshot;
  /** The generator's SQL with each token quoted as the name it stands for. */
  decodeSql(sql: string): string;
  /** A differ statement with real names; squashed `data` of keys and references unsquashed first. */
  decodeStatement(statement: any, unsquash: Unsquash): any;
}

export interface Unsquash {
  unsquashUnique(data: string): object;
  unsquashPK(data: string): object;
  unsquashFK(data: string): object;
}

// Statement fields that drizzle squashes (`name;columns;...`), by statement type, with how to read them.
const SQUASHED: Record<string, [string, keyof Unsquash][]> = {
  create_unique_constraint: [['data', 'unsquashUnique']],
  delete_unique_constraint: [['data', 'unsquashUnique']],
  create_composite_pk: [['data', 'unsquashPK']],
  delete_composite_pk: [['data', 'unsquashPK']],
  alter_composite_pk: [['old', 'unsquashPK'], ['new', 'unsquashPK']],
  create_reference: [['data', 'unsquashFK']],
  delete_reference: [['data', 'unsquashFK']],
  alter_reference: [['data', 'unsquashFK'], ['oldFkey', 'unsquashFK']],
};

/** A codec whose token prefix occurs nowhere in either snapshot, so that only tokens are ever decoded. */
export function nameCodec(...snapshots: Snapshot[]): NameCodec {
  const text = snapshots.map((snapshot) => JSON.stringify(snapshot)).join('\n');
  let n = 0;
  while (text.includes(`pgpromote${n}x`)) n++;
  const prefix = `pgpromote${n}x`;
  const token = new RegExp(`(["']?)${prefix}([0-9a-f]*)x\\1`, 'g');
  const nameOf = (hex: string) => Buffer.from(hex, 'hex').toString('utf8');
  const encode = (name: string) => (PLAIN.test(name) && name !== '' ? name : `${prefix}${Buffer.from(name, 'utf8').toString('hex')}x`);
  const decode = (value: string) => value.replace(token, (_, quote: string, hex: string) => `${quote}${nameOf(hex)}${quote}`);
  const decodeDeep = (value: any): any => {
    if (typeof value === 'string') return decode(value);
    if (Array.isArray(value)) return value.map(decodeDeep);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, decodeDeep(child)]));
  };
  return {
    decode,
    encodeSnapshot: (snapshot) => encodeSnapshot(snapshot, encode),
    decodeSql: (sql) => sql.replace(token, (_, quote: string, hex: string) => (quote === "'" ? literal(nameOf(hex)) : ident(nameOf(hex)))),
    decodeStatement(statement, unsquash) {
      const unsquashed = { ...statement };
      for (const [field, how] of SQUASHED[statement.type] ?? []) {
        if (typeof unsquashed[field] === 'string') unsquashed[field] = unsquash[how](unsquashed[field]);
      }
      return decodeDeep(unsquashed);
    },
  };
}

const mapEntries = <T>(record: Record<string, T> | undefined, change: (key: string, value: T) => [string, T]) =>
  record && Object.fromEntries(Object.entries(record).map(([key, value]) => change(key, value)));

/** Every name in the snapshot encoded: keys, and the fields that hold names. */
function encodeSnapshot(snapshot: Snapshot, encode: (name: string) => string): Snapshot {
  const key = (schema: string, name: string) => `${encode(schema)}.${encode(name)}`;
  const byName = <T extends { name: string }>(items: Record<string, T> | undefined, change: (item: T) => T = (item) => item) =>
    mapEntries(items, (_, item) => [encode(item.name), change({ ...item, name: encode(item.name) })]);
  // A user type (enum, domain, composite) is `name[]...` with its schema apart; built-in ones have none or pg_catalog.
  const typeName = (type: string, typeSchema?: string) => {
    if (!typeSchema || typeSchema === 'pg_catalog') return type;
    const [, base, brackets] = /^(.*?)((?:\[\d*\])*)$/s.exec(type)!;
    return `${encode(base!)}${brackets}`;
  };
  const tables = mapEntries(snapshot.tables, (_, table: any) => [key(table.schema || 'public', table.name), {
    ...table,
    name: encode(table.name),
    schema: table.schema && encode(table.schema),
    columns: byName(table.columns, (column: any) => ({
      ...column,
      type: typeName(column.type, column.typeSchema),
      ...(column.typeSchema ? { typeSchema: encode(column.typeSchema) } : {}),
      ...(column.identity ? { identity: { ...column.identity, name: encode(column.identity.name), schema: encode(column.identity.schema) } } : {}),
    })),
    indexes: byName(table.indexes, (index: any) => ({
      ...index,
      columns: index.columns.map((part: any) => (part.isExpression ? part : { ...part, expression: encode(part.expression) })),
    })),
    foreignKeys: byName(table.foreignKeys, (fk: any) => ({
      ...fk,
      tableFrom: encode(fk.tableFrom),
      tableTo: encode(fk.tableTo),
      schemaTo: fk.schemaTo && encode(fk.schemaTo),
      columnsFrom: fk.columnsFrom.map(encode),
      columnsTo: fk.columnsTo.map(encode),
    })),
    compositePrimaryKeys: byName(table.compositePrimaryKeys, (pk: any) => ({ ...pk, columns: pk.columns.map(encode) })),
    uniqueConstraints: byName(table.uniqueConstraints, (unique: any) => ({ ...unique, columns: unique.columns.map(encode) })),
    checkConstraints: byName(table.checkConstraints),
    policies: byName(table.policies),
  }]);
  const internal = snapshot.internal as { tables?: Record<string, { columns: Record<string, object> }> } | undefined;
  return {
    ...snapshot,
    tables: tables ?? {},
    enums: mapEntries(snapshot.enums, (_, item: any) => [key(item.schema, item.name), {
      ...item, name: encode(item.name), schema: encode(item.schema), values: item.values.map(encode),
    }]) ?? {},
    schemas: mapEntries(snapshot.schemas, (name) => [encode(name), encode(name)]) ?? {},
    sequences: mapEntries(snapshot.sequences, (_, item: any) => [key(item.schema, item.name), { ...item, name: encode(item.name), schema: encode(item.schema) }]) ?? {},
    ...(internal?.tables ? {
      internal: {
        ...internal,
        tables: mapEntries(internal.tables, (name, table) => [encode(name), { ...table, columns: mapEntries(table.columns, (column, info) => [encode(column), info])! }]),
      },
    } : {}),
  };
}
