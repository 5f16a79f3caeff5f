// drizzle-kit changes a column's type with a bare SET DATA TYPE, which Postgres accepts only where an
// assignment cast exists (integer → bigint, varchar → text). Where only an explicit cast exists (text →
// integer) the change gets `USING column::type`, and hazards measure the rows that do not convert; where
// no cast exists at all (bigint → timestamp) only a human knows what the conversion means: refused.
import type pg from 'pg';
import { ident } from '../../quote.ts';
import { newTypeOf } from '../hazards.ts';
import { convertsWithUsing } from '../statement-kinds.ts';
import { displayName, type DrizzleStatement, type Unsupported } from '../model.ts';


const SERIAL = /^(small|big)?serial$/;

// Types by element (arrays convert element by element) and by base type (a domain converts as its base).
// I/O conversion makes every type castable to a string type by assignment, and from one explicitly.
const CASTS = `
with types as (
  select t.oid, coalesce(nullif(b.typbasetype, 0), b.oid) as base, t.typcategory = 'A' as is_array, b.typcategory as category
  from pg_type t join pg_type b on b.oid = case when t.typcategory = 'A' then t.typelem else t.oid end
)
select format_type(t.oid, null) as target,
  s.base = t.base or t.category = 'S' or exists (select from pg_cast c where c.castsource = s.base and c.casttarget = t.base and c.castcontext in ('a', 'i')) as assignment,
  s.category = 'S' or exists (select from pg_cast c where c.castsource = s.base and c.casttarget = t.base) as explicit
from types s, types t
where s.oid = to_regtype($1) and t.oid = to_regtype($2) and s.is_array = t.is_array`;

/** The differ's type changes with USING where Postgres needs it, and refusals where no cast exists. */
export async function convertTypes<T extends DrizzleStatement>(prod: pg.ClientBase, statements: T[]): Promise<{ statements: T[]; refusals: Unsupported[] }> {
  const refusals: Unsupported[] = [];
  const converted: T[] = [];
  for (const statement of statements) {
    const { json } = statement;
    if (statement.kind !== 'pg_alter_table_alter_column_set_type' || json.oldDataType.isEnum) {
      converted.push(statement);
      continue;
    }
    const [oldType, newType] = [json.oldDataType.name, newTypeOf(json)];
    const column = displayName(json.schema || 'public', json.tableName, json.columnName);
    if ([oldType, newType].some((type) => SERIAL.test(type))) {
      // serial.ts plans these for columns kept under their names; a renamed one reaches the differ as is.
      converted.push(statement);
      refusals.push({ kind: 'column', object: column, reason: `${column} changes from ${oldType} to ${newType} while it or its table is renamed; `
        + 'promote the rename first, then the change to or from serial' });
      continue;
    }
    const { rows } = await prod.query<{ target: string; assignment: boolean; explicit: boolean }>(CASTS, [oldType, newType]).catch(() => ({ rows: [] }));
    const cast = rows[0];
    // No cast row: a type the plan creates, Postgres decides. drizzle-kit writes USING itself for enums.
    if (!cast || cast.assignment || convertsWithUsing(statement.sql)) converted.push(statement);
    else if (cast.explicit) converted.push({ ...statement, sql: `${statement.sql.replace(/;\s*$/, '')} USING ${ident(json.columnName)}::${cast.target};` });
    else {
      converted.push(statement);
      refusals.push({ kind: 'column', object: column, reason: `${column} changes from ${oldType} to ${newType}, which Postgres cannot cast; `
        + `convert it by hand (ALTER TABLE ... ALTER COLUMN ... TYPE ${newType} USING <expression>), then plan again` });
    }
  }
  return { statements: converted, refusals };
}
