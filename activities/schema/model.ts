// The schema engine's model: the plan, its statements and what they change, their hazards, what
// cannot be planned, and the defaults. Reading (introspect, extras), diffing (the differ and the
// stages around it) and measuring (hazards, online) all speak these types.
import type { Question } from './questions.ts';

/**
 * How a statement runs: in the plan's one `main` transaction, in a transaction of its own
 * (`own-transaction`: a new enum value, a `VALIDATE CONSTRAINT`), or outside any transaction
 * (`no-transaction`: `CREATE INDEX CONCURRENTLY`). Statements not in `main` that come before the plan's
 * first `main` statement run before that transaction, the others after it commits, in plan order.
 */
export type ExecutionMode = 'main' | 'own-transaction' | 'no-transaction';

/** Lock and statement timeouts when the plan's options give none: a DDL waits at most this long in
 * prod's lock queue, so app queries queued behind it wait no longer either. */
export const DEFAULT_LOCK_TIMEOUT_MS = 2_000;
export const DEFAULT_STATEMENT_TIMEOUT_MS = 15 * 60_000;
/** How long lock timeouts may be retried, in all, before the apply gives up. */
export const DEFAULT_LOCK_BUDGET_MS = 5 * 60_000;

export interface PlannedStatement {
  sql: string;
  /** The differ's statement type (`create_table`, `alter_table_add_column`), or ours for what it does
   * not model (`create_view`, `set_collation`, `grant`, ...). */
  kind: string;
  mode: ExecutionMode;
  /** How long the statement may wait for a lock (ms); a lock timeout is retried within the plan's `lockBudgetMs`. */
  lockTimeoutMs: number;
  /** How long the statement may run (ms). */
  statementTimeoutMs: number;
  /** What it changes; absent only for a session setting (`SET check_function_bodies`). */
  target?: StatementTarget;
  /** The strongest lock it takes on the table it changes (absent from plans made before locks were shown). */
  lock?: TableLock;
  hazards: Hazard[];
}

/** The one refusal: a difference the plan cannot express (`unsupported` in `plan --json`). While there
 * is one, the plan must not be applied. */
export interface Unsupported {
  kind: string;
  object: string;
  reason: string;
}

export interface Plan {
  /** The schemas compared (resolved once, for both databases): the trial and the apply read through them. */
  schemas: string[];
  fromFingerprint: string;
  toFingerprint: string;
  /** Hash of everything an approver reviews; approval and apply are bound to it. */
  planHash: string;
  statements: PlannedStatement[];
  /** How long, in all, statements may wait and retry after lock timeouts before the apply gives up (ms). */
  lockBudgetMs: number;
  /** It changes tables big enough to be changed online (or was made with `--online`): prod is then
   * verified after the main transaction commits, never while it holds their locks. */
  online?: boolean;
  questions: Question[];
  unsupported: Unsupported[];
}


/** The stable set of hazard kinds, which the approval step keys on: `data-loss` (the statement destroys
 * data or an object that holds it), `will-fail` (prod's rows make it fail), `locking` (it blocks prod). */
export type HazardKind = 'data-loss' | 'will-fail' | 'locking';

export interface Hazard {
  kind: HazardKind;
  message: string;
  /** The table or column concerned, qualified. */
  object: string;
  /** Rows concerned, where measured. */
  rows?: number;
  /** Size of the table concerned with its indexes and TOAST, for locking hazards. */
  bytes?: number;
}

/** Tables at least this big are worth a warning for any ACCESS EXCLUSIVE lock, and are changed online by default. */
export const LARGE_TABLE_BYTES = 64 * 1024 * 1024;

/** The strongest table lock a statement takes (on the table it changes), by Postgres' lock names;
 * `none` when it takes none on an existing table (a new table, type or function). */
export type TableLock = 'ACCESS EXCLUSIVE' | 'SHARE ROW EXCLUSIVE' | 'SHARE' | 'SHARE UPDATE EXCLUSIVE' | 'ACCESS SHARE' | 'none';

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
