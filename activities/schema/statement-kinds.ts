// Defence in depth: every planned statement is read back with Postgres' own parser (libpg-query) and
// must be exactly one statement of a node type its kind may produce. A name or definition that slipped
// through quoting would show up as a second statement or a statement of another kind.
import { setFlagsFromString } from 'node:v8';

const SETTINGS = ['unlogged', 'row-security', 'force-rls', 'reloptions', 'replica-identity', 'collation', 'storage', 'compression', 'statistics-target'];

/** Statement kind (drizzle-kit's statement types, and ours from extras-plan.ts) → the parse-tree node
 * types its SQL may be; a DROP also says what it drops. A kind missing here cannot be planned. */
export const STATEMENT_NODES: Readonly<Record<string, readonly string[]>> = {
  // drizzle-kit's statements (views, policies and roles are planned by extras-plan.ts, never by drizzle)
  create_schema: ['CreateSchemaStmt'],
  rename_schema: ['RenameStmt'],
  drop_schema: ['DropStmt OBJECT_SCHEMA'],
  create_type_enum: ['CreateEnumStmt'],
  alter_type_add_value: ['AlterEnumStmt'],
  rename_type_enum: ['RenameStmt'],
  move_type_enum: ['AlterObjectSchemaStmt'],
  drop_type_enum: ['DropStmt OBJECT_TYPE'],
  // drizzle removes enum values by retyping its columns to text, recreating the type and retyping them back
  alter_type_drop_value: ['AlterTableStmt', 'DropStmt OBJECT_TYPE', 'CreateEnumStmt'],
  create_table: ['CreateStmt', 'AlterTableStmt'], // and ENABLE ROW LEVEL SECURITY
  drop_table: ['DropStmt OBJECT_TABLE'],
  rename_table: ['RenameStmt'],
  alter_table_set_schema: ['AlterObjectSchemaStmt'],
  alter_table_set_new_schema: ['AlterObjectSchemaStmt'],
  alter_table_remove_from_schema: ['AlterObjectSchemaStmt'],
  alter_table_rename_column: ['RenameStmt'],
  alter_table_add_column: ['AlterTableStmt'],
  alter_table_drop_column: ['AlterTableStmt'],
  pg_alter_table_alter_column_set_type: ['AlterTableStmt'],
  alter_table_alter_column_set_default: ['AlterTableStmt'],
  alter_table_alter_column_drop_default: ['AlterTableStmt'],
  alter_table_alter_column_set_notnull: ['AlterTableStmt'],
  alter_table_alter_column_drop_notnull: ['AlterTableStmt'],
  alter_table_alter_column_set_generated: ['AlterTableStmt'],
  alter_table_alter_column_drop_generated: ['AlterTableStmt'],
  alter_table_alter_column_alter_generated: ['AlterTableStmt'],
  alter_table_alter_column_set_identity: ['AlterTableStmt'],
  alter_table_alter_column_drop_identity: ['AlterTableStmt'],
  alter_table_alter_column_change_identity: ['AlterTableStmt'],
  alter_table_alter_column_set_pk: ['AlterTableStmt'],
  alter_table_alter_column_drop_pk: ['AlterTableStmt'],
  create_unique_constraint: ['AlterTableStmt'],
  delete_unique_constraint: ['AlterTableStmt'],
  create_check_constraint: ['AlterTableStmt'],
  delete_check_constraint: ['AlterTableStmt'],
  create_composite_pk: ['AlterTableStmt'],
  delete_composite_pk: ['AlterTableStmt'],
  alter_composite_pk: ['AlterTableStmt'],
  create_reference: ['AlterTableStmt'],
  delete_reference: ['AlterTableStmt'],
  alter_reference: ['AlterTableStmt'],
  enable_rls: ['AlterTableStmt'],
  disable_rls: ['AlterTableStmt'],
  create_index_pg: ['IndexStmt'],
  drop_index: ['DropStmt OBJECT_INDEX'],
  // drizzle's and ours
  create_sequence: ['CreateSeqStmt'],
  alter_sequence: ['AlterSeqStmt'],
  drop_sequence: ['DropStmt OBJECT_SEQUENCE'],
  rename_sequence: ['RenameStmt'],
  move_sequence: ['AlterObjectSchemaStmt'],
  // ours
  set: ['VariableSetStmt'],
  create_extension: ['CreateExtensionStmt'],
  alter_extension: ['AlterExtensionStmt', 'AlterObjectSchemaStmt'],
  drop_extension: ['DropStmt OBJECT_EXTENSION'],
  create_function: ['CreateFunctionStmt'],
  alter_function: ['CreateFunctionStmt'], // CREATE OR REPLACE
  drop_function: ['DropStmt OBJECT_FUNCTION', 'DropStmt OBJECT_PROCEDURE'],
  create_domain: ['CreateDomainStmt', 'AlterDomainStmt'],
  alter_domain: ['AlterDomainStmt'],
  drop_domain: ['DropStmt OBJECT_DOMAIN'],
  create_composite: ['CompositeTypeStmt'],
  drop_composite: ['DropStmt OBJECT_TYPE'],
  create_view: ['ViewStmt'],
  drop_view: ['DropStmt OBJECT_VIEW'],
  create_matview: ['CreateTableAsStmt'],
  drop_matview: ['DropStmt OBJECT_MATVIEW'],
  create_index: ['IndexStmt'],
  create_trigger: ['CreateTrigStmt', 'AlterTableStmt'], // and ENABLE / DISABLE TRIGGER
  drop_trigger: ['DropStmt OBJECT_TRIGGER'],
  create_constraint: ['AlterTableStmt'],
  drop_constraint: ['AlterTableStmt'],
  create_policy: ['CreatePolicyStmt'],
  drop_policy: ['DropStmt OBJECT_POLICY'],
  create_rule: ['RuleStmt'],
  drop_rule: ['DropStmt OBJECT_RULE'],
  create_statistics: ['CreateStatsStmt', 'AlterStatsStmt'],
  drop_statistics: ['DropStmt OBJECT_STATISTIC_EXT'],
  ...Object.fromEntries(SETTINGS.flatMap((setting) => [[`set_${setting}`, ['AlterTableStmt']], [`reset_${setting}`, ['AlterTableStmt']]])),
  'set_sequence-owner': ['AlterSeqStmt'],
  'reset_sequence-owner': ['AlterSeqStmt'],
  rename: ['RenameStmt'],
  comment: ['CommentStmt'],
  grant: ['GrantStmt'], // REVOKE is a GrantStmt too
  revoke: ['GrantStmt'],
  // online rewrites (online.ts)
  validate_constraint: ['AlterTableStmt'],
  create_not_null_check: ['AlterTableStmt'],
  drop_not_null_check: ['AlterTableStmt'],
  create_unique_index: ['IndexStmt'],
};

let loaded: Promise<void> | undefined;
let parseSync: typeof import('libpg-query').parseSync;

/** Loads the parser (WASM, bundled) once per process; libpg-query starts compiling it as it is imported. */
export function loadParser(): Promise<void> {
  if (!loaded) {
    // A plan parses a few statements in milliseconds. Left to tier up, V8 compiles the parser's hot functions again,
    // optimized, on a background thread, and a command's process waits ~150 ms for that compile at exit. Set as the
    // parser loads, not on the command line: V8 rejects code caches made under other flags (Node's own, drizzle-kit's),
    // and a plan loads drizzle-kit first (planPromotion).
    setFlagsFromString('--wasm-tiering-budget=2000000000');
    loaded = import('libpg-query').then(async (parser) => {
      await parser.loadModule();
      parseSync = parser.parseSync;
    });
  }
  return loaded;
}

/** Whether an SQL text holds comments and white space only (drizzle-kit writes a comment for what it cannot do). */
export const isEmptySql = (sql: string) => !sql.replace(/\/\*[\s\S]*?\*\/|--.*$/gm, '').trim();

/** The statements of an SQL text as the parser sees them: node type and their own text. Needs loadParser(). */
export function parseStatements(sql: string): { node: string; sql: string }[] {
  if (isEmptySql(sql)) return [];
  const { stmts } = parseSync(sql) as { stmts: { stmt: Record<string, unknown>; stmt_location?: number; stmt_len?: number }[] };
  const bytes = Buffer.from(sql, 'utf8'); // the parser's locations count bytes
  return stmts.map(({ stmt, stmt_location: start = 0, stmt_len: length }) => ({
    node: nodeName(stmt),
    sql: bytes.subarray(start, length === undefined || length === 0 ? undefined : start + length).toString('utf8').trim(),
  }));
}

/** `AlterTableStmt`; `DropStmt OBJECT_VIEW` for a DROP. */
function nodeName(stmt: Record<string, any>): string {
  const [node] = Object.keys(stmt) as [string];
  return node === 'DropStmt' ? `${node} ${stmt[node].removeType}` : node;
}

/** Why `sql` is not exactly one statement of `kind`, or undefined when it is. Needs loadParser(). */
export function statementKindError(sql: string, kind: string): string | undefined {
  const allowed = STATEMENT_NODES[kind];
  if (!allowed) return `pgpromote does not know which statement a ${kind} is`;
  let statements: { node: string }[];
  try {
    statements = parseStatements(sql);
  } catch (error: any) {
    return `Postgres' parser refuses it (${error.message})`;
  }
  if (statements.length !== 1) return `it is ${statements.length} statements (${statements.map(({ node }) => node).join(', ')}), not one`;
  if (!allowed.includes(statements[0]!.node)) return `it is a ${statements[0]!.node}, not what ${kind} writes (${allowed.join(' or ')})`;
  return undefined;
}

/** Whether a statement changes a column's type with a conversion of its own (`USING`). Needs loadParser(). */
export function convertsWithUsing(sql: string): boolean {
  const { stmts } = parseSync(sql) as { stmts: { stmt: Record<string, any> }[] };
  return stmts.some(({ stmt }) => (stmt.AlterTableStmt?.cmds ?? []).some(({ AlterTableCmd: cmd }: Record<string, any>) =>
    cmd?.subtype === 'AT_AlterColumnType' && cmd.def?.ColumnDef?.raw_default !== undefined));
}
