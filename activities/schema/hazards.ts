// What a plan would do to prod's data, measured on prod itself: rows lost, rows that would make a
// statement fail. Our own analysis: drizzle-kit's pgSuggestions inserts TRUNCATE statements.
import type pg from 'pg';
import { ident } from '../db.ts';

export interface Hazard {
  kind: 'data-loss' | 'will-fail' | 'locking';
  message: string;
  /** The table or column concerned, qualified. */
  object: string;
  /** Rows concerned, where measured. */
  rows?: number;
}

type Measure = (statement: any, prod: pg.ClientBase) => Promise<Hazard[]>;

const table = (statement: any) => `${ident(statement.schema || 'public')}.${ident(statement.tableName)}`;
const name = (statement: any, column?: string) =>
  [statement.schema || 'public', statement.tableName, column].filter(Boolean).join('.');

async function count(prod: pg.ClientBase, sql: string): Promise<number> {
  const { rows } = await prod.query<{ n: string }>(sql);
  return Number(rows[0]?.n ?? 0);
}

const measures: Record<string, Measure> = {
  async drop_table(statement, prod) {
    const rows = await count(prod, `SELECT count(*) AS n FROM ${table(statement)}`);
    return rows ? [{ kind: 'data-loss', message: `drops table ${name(statement)} with ${rows} rows`, object: name(statement), rows }] : [];
  },
  async alter_table_drop_column(statement, prod) {
    const rows = await count(prod, `SELECT count(${ident(statement.columnName)}) AS n FROM ${table(statement)}`);
    const object = name(statement, statement.columnName);
    return rows ? [{ kind: 'data-loss', message: `drops column ${object} with ${rows} non-null values`, object, rows }] : [];
  },
  async alter_table_alter_column_set_notnull(statement, prod) {
    const column = ident(statement.columnName);
    const rows = await count(prod, `SELECT count(*) AS n FROM ${table(statement)} WHERE ${column} IS NULL`);
    const object = name(statement, statement.columnName);
    return rows ? [{ kind: 'will-fail', message: `sets NOT NULL on ${object}, which is NULL in ${rows} rows`, object, rows }] : [];
  },
  async alter_table_add_column(statement, prod) {
    const { column } = statement;
    if (!column.notNull || column.default !== undefined || column.identity || column.generated) return [];
    const rows = await count(prod, `SELECT count(*) AS n FROM ${table(statement)}`);
    const object = name(statement, column.name);
    return rows
      ? [{ kind: 'will-fail', message: `adds NOT NULL column ${object} without a default to a table with ${rows} rows`, object, rows }]
      : [];
  },
};

/** Hazards of each planned statement, in plan order; `statementsJson[i]` are the differ statements behind SQL statement i. */
export async function measureHazards(prod: pg.ClientBase, statementsJson: any[][]): Promise<Hazard[][]> {
  const result: Hazard[][] = [];
  for (const group of statementsJson) {
    const hazards: Hazard[] = [];
    for (const statement of group) hazards.push(...((await measures[statement.type]?.(statement, prod)) ?? []));
    result.push(hazards);
  }
  return result;
}
