// The schema engine's model: the statements its stages make and what they say about them.

/** What a statement changes, by raw names, so that hazards and online rewrites never read names back
 * out of SQL or object keys. */
export interface StatementTarget {
  schema: string;
  table?: string;
  column?: string;
  /** The index a statement run outside a transaction builds (`CREATE INDEX CONCURRENTLY`): a failed
   * build leaves it INVALID, and the executor drops it before the statement runs again. */
  index?: string;
  /** The object's own name when it is not a table or column: a view, type, sequence, function,
   * extension, or a constraint, trigger, policy, rule or index of `table`. */
  name?: string;
}

/** A statement as the planner's stages make it, before hazards and execution are planned around it. */
export interface DraftStatement {
  sql: string;
  /** The differ's statement type (`create_table`, `alter_table_add_column`), or ours for what it does
   * not model (`create_view`, `set_collation`, `grant`, ...). */
  kind: string;
  /** Absent only for a session setting (`SET check_function_bodies`), which changes no object. */
  target?: StatementTarget;
  /** drizzle-kit's JSON statement (names decoded, keys and references unsquashed), for its statements. */
  json?: any;
  /** The key of the object concerned (`table public.t`), for ours: drops are matched to creates by it. */
  object?: string;
  /** A new check constraint's name and expression, for hazards to count the rows that violate it. */
  check?: { name: string; expression: string };
}

/** One of drizzle-kit's statements: it carries its JSON. */
export type DrizzleStatement = DraftStatement & { json: any };

/** The target of one of drizzle-kit's statements, from its JSON. */
export function drizzleTarget(json: any): StatementTarget {
  const column = json.columnName ?? json.column?.name;
  const table = json.tableName ?? json.tableNameTo ?? json.tableFrom;
  return { schema: json.schema || json.toSchema || json.schemaTo || 'public', ...(table ? { table } : {}), ...(column ? { column } : {}) };
}

/** A qualified name as people read it and as the plan's objects are named (`public.users.name`): raw
 * names joined by dots, empty parts left out. SQL names objects with quote.ts's `qualified` instead. */
export const displayName = (...names: (string | undefined)[]): string => names.filter((name) => !!name).join('.');
