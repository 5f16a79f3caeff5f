// The plan: the ordered SQL that takes prod's schema to dev's, with the questions a human must
// answer (rename or drop + create?), the hazards of each statement, and what cannot be planned.
// Stages, as in drizzle-kit: read (read/: the snapshot and the extras drizzle does not model) → diff
// (diff/: drizzle's differ, its repairs, and the extras' statements) → measure (hazards, online
// rewrites) → the plan (model.ts).
import type pg from 'pg';
import { drizzle, type Snapshot } from './diff/drizzle.ts';
import { availableParallelism } from 'node:os';
import { Connections, onThisMachine, withConnections, type Queryable } from '../db.ts';
import { readSnapshot, type IntrospectOptions } from './read/introspect.ts';
import { BuiltRelations } from './read/catalog.ts';
import { resolveSchemas, schemasToRead, type SchemaSelection } from './read/scope.ts';
import { PlanInputError } from './errors.ts';
import { canonicalize, fingerprint, sha256, withoutUnchangedTables } from './read/snapshot.ts';
import { measureHazards } from './hazards.ts';
import { readExtras, type Extras } from './read/extras.ts';
import { drizzleEffects, objectTargets, planExtras } from './diff/extras-plan.ts';
import {
  DEFAULT_LOCK_BUDGET_MS, DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_STATEMENT_TIMEOUT_MS, displayName, drizzleTarget,
  type DraftStatement, type ExecutionMode, type Plan, type PlannedStatement, type Unsupported,
} from './model.ts';
import { nameCodec, type NameCodec } from './diff/drizzle-names.ts';
import { isEmptySql, loadParser, parseStatements, statementKindError } from './statement-kinds.ts';
import { ident, literal, qualified } from '../quote.ts';
import { onlineRewrites, type OnlineOptions } from './online.ts';
import { planSerialChanges } from './diff/serial.ts';
import { dropColumnsFirst, repairIdentityChanges } from './diff/differ-repairs.ts';
import { convertTypes } from './diff/type-changes.ts';
import { DROP, answerProblem, matchDrop, matchRename, parseRename, type Answers, type Question, type QuestionKind } from './questions.ts';

export interface PlanOptions extends SchemaSelection, OnlineOptions {
  answers?: Answers;
  /** `old=new` pairs (`users.name=users.full_name`), matched against the questions' objects. */
  renames?: string[];
  /** Objects dropped on purpose (`users.nickname`): their questions are answered `drop`. */
  drops?: string[];
  /** Each statement's lock timeout (ms); DEFAULT_LOCK_TIMEOUT_MS when not given. */
  lockTimeoutMs?: number;
  /** Each statement's statement timeout (ms); DEFAULT_STATEMENT_TIMEOUT_MS when not given. */
  statementTimeoutMs?: number;
  /** The plan's total lock-retry budget (ms); DEFAULT_LOCK_BUDGET_MS when not given. */
  lockBudgetMs?: number;
}

/** The options that say how long statements may wait for locks and run (`plan`/`deploy` flags). */
export type TimeoutOptions = Pick<PlanOptions, 'lockTimeoutMs' | 'statementTimeoutMs' | 'lockBudgetMs'>;

/** A database's schema as pgpromote compares it: drizzle's snapshot and what it does not model. Pass
 * the plan's `schemas` to read what the plan compared. */
export async function readSchema(client: Queryable, options: IntrospectOptions = {}) {
  const schemas = await schemasToRead(client, options.schemas);
  const db = Connections.of(client); // one queue for both readers: a client runs one query at a time
  // The catalog's queries are queued first: its snapshot is built and hashed while Postgres still answers the extras'.
  const [snapshot, extras] = await Promise.all([readSnapshot(db, schemas, options.built), readExtras(db, schemas)]);
  const schema = { snapshot, extras };
  // Hashed as soon as it is read: a plan reads two databases, and the first is hashed while the other still answers.
  schemaFingerprints.set(schema, hashSchema(schema));
  return schema;
}

export type Schema = { snapshot: Snapshot; extras: Extras };

/** Schemas as read, with their fingerprints (no stage changes a schema in place). */
const schemaFingerprints = new WeakMap<Schema, string>();

/** Hash of everything pgpromote compares: the drift check and the trial's convergence proof rest on it. */
export function schemaFingerprint(schema: Schema): string {
  return schemaFingerprints.get(schema) ?? hashSchema(schema);
}

function hashSchema({ snapshot, extras }: Schema): string {
  // Roles belong to the server, not to the database; raw names are read for statements, keys are compared.
  const { roles: _roles, names: _names, ...compared } = extras;
  return sha256(fingerprint(snapshot) + JSON.stringify(canonicalize(compared)));
}

/** Connections per database a plan by URL reads the catalogs with: their ~20 queries then run a few at once
 * on the server's cores. A server on this machine shares our cores, and each backend would build its own
 * caches of every table it deparses (at 1000 tables, 3 connections cost it ~15 % more CPU than 1): there, as
 * many as the cores allow with both databases read at once. */
function readConnections(url: string): number {
  return onThisMachine(url) ? Math.max(1, Math.min(3, Math.floor(availableParallelism() / 2))) : 3;
}

/** Plans prod → dev given their connection URLs. */
export function planUrls(prodUrl: string, devUrl: string, options: PlanOptions = {}): Promise<Plan> {
  return withConnections(prodUrl, readConnections(prodUrl), (prodReader, prod) => withConnections(devUrl, readConnections(devUrl), (devReader, dev) =>
    planPromotion(prod, dev, options, { prod: prodReader, dev: devReader })));
}

/** Plans prod → dev on live databases. The catalogs are read through `readers` when given (sets of
 * connections, withConnections), else through the clients themselves (a trial reads inside its transaction). */
export async function planPromotion(prod: pg.ClientBase, dev: pg.ClientBase, options: PlanOptions = {}, readers: { prod: Queryable; dev: Queryable } = { prod, dev }): Promise<Plan> {
  const schemas = await resolveSchemas(readers.prod, readers.dev, options);
  const built = new BuiltRelations();
  const [[from, to]] = await Promise.all([
    Promise.all([readSchema(readers.prod, { schemas, built }), readSchema(readers.dev, { schemas, built })]),
    // drizzle-kit's bundle and the SQL parser take a while to load: loaded once the queries are sent, while Postgres
    // answers them, drizzle-kit first (loadParser).
    new Promise(setImmediate).then(drizzle).then(loadParser),
  ]);
  const serials = planSerialChanges(...drizzleViews([from.snapshot, to.snapshot], [from.extras, to.extras]), from.extras, to.extras);
  const { plan, statementsJson } = await diffSnapshots(...withoutUnchangedTables(serials.from, serials.to), options);
  const namedPrimaryKeys = new Set(Object.values(to.snapshot.tables)
    .filter((table) => Object.keys(table.compositePrimaryKeys ?? {}).length)
    .map((table) => `table ${table.schema || 'public'}.${table.name}`));
  const targets = objectTargets(schemas, [from, to]);
  const extras = planExtras(from.extras, to.extras, drizzleEffects(statementsJson.flat(), namedPrimaryKeys), targets);
  const renamedEnums = enumNamesBefore(statementsJson.flat());
  const differ = plan.statements.map(({ sql, kind }, index) => {
    const json = statementsJson[index]![0];
    return { sql: droppedPrimaryKeySql(kind, json, from.extras) ?? enumValueSql(kind, json, renamedEnums) ?? sql, kind, target: drizzleTarget(json), json };
  });
  const { statements: drizzled, refusals: castRefusals } = await convertTypes(prod, dropColumnsFirst(repairIdentityChanges(differ, from.snapshot, to.snapshot)));
  const empty = drizzled.filter(({ sql }) => isEmptySql(sql));
  const drizzledIn = (wanted: ReturnType<typeof phase>) => drizzled.filter(({ kind }) => phase(kind) === wanted);
  const ordered: DraftStatement[] = [
    ...drizzledIn('enum values'),
    ...drizzledIn('first'),
    ...serials.before,
    ...extras.before,
    ...drizzledIn('tables'),
    ...drizzledIn('foreign keys'),
    ...serials.after,
    ...extras.after,
    ...drizzledIn('last'),
  ];
  await refuseUnsafeStatements(ordered);
  const measured = await measureHazards(prod, ordered);
  const { statements, online } = await onlineRewrites(prod, ordered.map((source, index) => ({
    source,
    rewritesTable: measured[index]!.rewritesTable,
    statement: {
      sql: source.sql,
      kind: source.kind,
      mode: modeOf(source.kind),
      lockTimeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
      statementTimeoutMs: options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
      ...(source.target ? { target: source.target } : {}),
      hazards: measured[index]!.hazards,
    },
  })), options);
  await refuseUnsafeStatements(statements);
  return withHash({
    ...plan,
    schemas,
    fromFingerprint: schemaFingerprint(from),
    toFingerprint: schemaFingerprint(to),
    statements,
    lockBudgetMs: options.lockBudgetMs ?? DEFAULT_LOCK_BUDGET_MS,
    online,
    unsupported: [
      ...extras.refusals,
      ...serials.refusals,
      ...castRefusals,
      ...columnRefusals(from.snapshot, to.snapshot, statementsJson.flat()),
      ...empty.map(({ kind, json }) => ({ kind, object: displayName(json.schema || 'public', json.tableName ?? json.name), reason: `drizzle-kit gives no SQL for ${kind}; change it by hand` })),
    ],
  });
}

/** Every statement must parse as exactly one statement of its kind: what quoting missed shows up here. */
export async function refuseUnsafeStatements(statements: DraftStatement[]) {
  await loadParser();
  for (const { sql, kind, target, object } of statements) {
    const reason = statementKindError(sql, kind);
    if (!reason) continue;
    const name = object || (target ? displayName(target.schema, target.table, target.column ?? target.name) : '(a setting)');
    throw new PlanInputError(`cannot plan ${kind} of ${name} safely: ${reason}. Dev has a name or definition pgpromote cannot plan safely; `
      + `rename the object on dev (or change it on prod by hand), then plan again. The statement: ${sql}`);
  }
}

/** New values of existing enums are committed before everything else, in their own transaction (see
 * `modeOf`). Schemas and enums go before the types and functions that may use them, their drops last. New foreign
 * keys go after the tables' other changes: drizzle-kit adds them before the unique indexes and constraints
 * (and the recreated primary keys) they may reference. */
function phase(kind: string): 'enum values' | 'first' | 'tables' | 'foreign keys' | 'last' {
  if (kind === 'alter_type_add_value') return 'enum values';
  if (kind === 'create_schema' || kind === 'create_type_enum') return 'first';
  if (kind === 'drop_type_enum' || kind === 'drop_schema') return 'last';
  return kind === 'create_reference' ? 'foreign keys' : 'tables';
}

/** drizzle-kit does not know a single-column primary key's name and emits only a comment to drop it. */
function droppedPrimaryKeySql(kind: string, json: any, prod: Extras): string | undefined {
  if (kind !== 'alter_table_alter_column_drop_pk') return undefined;
  const table = { schema: json.schema || 'public', name: json.tableName };
  const primaryKey = prod.implicitNames.find((name) => name.kind === 'primary key' && name.owner === `table ${table.schema}.${table.name}`);
  return primaryKey && `ALTER TABLE ${qualified(table.schema, table.name)} DROP CONSTRAINT ${ident(primaryKey.name)}`;
}

/** Each enum that the plan renames or moves, by its new `schema.name`: its name on prod. */
function enumNamesBefore(statements: any[]): Map<string, { schema: string; name: string }> {
  const before = new Map<string, { schema: string; name: string }>();
  for (const statement of statements) {
    if (statement.type === 'move_type_enum') {
      before.set(displayName(statement.schemaTo, statement.name), { schema: statement.schemaFrom, name: statement.name });
    } else if (statement.type === 'rename_type_enum') {
      const schema = statement.schema || 'public';
      const earlier = before.get(displayName(schema, statement.nameFrom)) ?? { schema, name: statement.nameFrom };
      before.set(displayName(schema, statement.nameTo), earlier);
    }
  }
  return before;
}

/** A new value of an enum that the plan also renames or moves: added first (see `modeOf`), so under the
 * name the enum has on prod, before the rename runs in the main transaction. */
function enumValueSql(kind: string, json: any, renamedEnums: ReturnType<typeof enumNamesBefore>): string | undefined {
  if (kind !== 'alter_type_add_value') return undefined;
  const before = renamedEnums.get(displayName(json.schema || 'public', json.name));
  return before && `ALTER TYPE ${qualified(before.schema, before.name)} ADD VALUE ${literal(json.value)}${json.before ? ` BEFORE ${literal(json.before)}` : ''}`;
}

/** The snapshot without what extras.ts plans instead: views (drizzle orders them wrongly), policies
 * (their expressions get lost), sequences other than serial and identity ones (drizzle loses their
 * type and ownership), tables in partitioning or inheritance (drizzle skips parents and flattens
 * children) and constraints it cannot express. */
function drizzleViews(snapshots: [Snapshot, Snapshot], sides: Extras[]): [Snapshot, Snapshot] {
  const special = new Set(sides.flatMap((extras) => extras.specialTables.map((table) => table.snapshotKey)));
  // A table both snapshots share (BuiltRelations) gets one view, so that later stages still see it shared.
  const views = new Map<object, Snapshot['tables'][string]>();
  const viewOf = (key: string, table: Snapshot['tables'][string]) => {
    const outside = new Set(sides.flatMap((extras) => extras.constraintsOutsideDrizzle[key] ?? []));
    const keep = (constraints: Record<string, unknown> = {}) => (Object.keys(constraints).some((name) => outside.has(name))
      ? Object.fromEntries(Object.entries(constraints).filter(([name]) => !outside.has(name))) : constraints);
    return {
      ...table,
      policies: {},
      foreignKeys: keep(table.foreignKeys),
      uniqueConstraints: keep(table.uniqueConstraints),
      checkConstraints: keep(table.checkConstraints),
      compositePrimaryKeys: keep(table.compositePrimaryKeys),
    };
  };
  return snapshots.map((snapshot) => {
    const tables = Object.fromEntries(Object.entries(snapshot.tables).filter(([key]) => !special.has(key)).map(([key, table]) => {
      let view = views.get(table);
      if (!view) views.set(table, (view = viewOf(key, table)));
      return [key, view];
    }));
    return { ...snapshot, tables, sequences: {}, views: {}, policies: {} };
  }) as [Snapshot, Snapshot];
}

/** Column changes no statement can make: a generated expression that changes (drizzle-kit leaves it
 * out) and a column order other than prod's with new columns at the end (Postgres appends them). */
function columnRefusals(from: Snapshot, to: Snapshot, statements: any[]): Unsupported[] {
  const tableFrom = new Map(statements.filter((statement) => statement.type === 'rename_table')
    .map((statement) => [displayName(statement.toSchema || 'public', statement.tableNameTo), displayName(statement.fromSchema || 'public', statement.tableNameFrom)]));
  const columnTo = new Map(statements.filter((statement) => statement.type === 'alter_table_rename_column')
    .map((statement) => [displayName(statement.schema || 'public', statement.tableName, statement.oldColumnName), statement.newColumnName as string]));
  const refusals: Unsupported[] = [];
  for (const [key, table] of Object.entries(to.tables)) {
    const before = from.tables[tableFrom.get(key) ?? key];
    if (!before || before === table) continue;
    const devColumns = Object.values<any>(table.columns);
    const kept = Object.values<any>(before.columns).map((column) => ({ ...column, name: columnTo.get(displayName(key, column.name)) ?? column.name }))
      .filter((column) => table.columns[column.name]);
    for (const old of kept) {
      if (JSON.stringify(old.generated) !== JSON.stringify(table.columns[old.name].generated)) {
        const column = displayName(key, old.name);
        refusals.push({ kind: 'column', object: column, reason: `the generated expression of ${column} changes, which drizzle-kit does not plan; drop and re-add the column by hand` });
      }
    }
    const keptNames = kept.map((column) => column.name);
    const expected = [...keptNames, ...devColumns.map((column) => column.name).filter((name) => !keptNames.includes(name))];
    if (expected.join() !== devColumns.map((column) => column.name).join()) {
      refusals.push({ kind: 'table', object: key, reason: `dev orders the columns of ${key} differently (${devColumns.map((column) => column.name).join(', ')}); Postgres adds new columns at the end and cannot reorder them` });
    }
  }
  return refusals;
}


// A new enum value cannot be used in the transaction that adds it. Decided by kind, never by the SQL's
// text, which holds dev's names.
const modeOf = (kind: string): ExecutionMode => (kind === 'alter_type_add_value' ? 'own-transaction' : 'main');

/** Diffs two snapshots. Renames given as `old=new` and drops given by name are matched against the
 * questions, round after round, because a column question appears only once its table's own question
 * is answered. */
export async function diffSnapshots(
  from: Snapshot,
  to: Snapshot,
  options: Pick<PlanOptions, 'answers' | 'renames' | 'drops'> = {},
): Promise<{ plan: Diff; statementsJson: any[][] }> {
  const answers: Answers = { ...options.answers };
  const renames = (options.renames ?? []).map((text) => {
    const rename = parseRename(text);
    if (typeof rename === 'string') throw new PlanInputError(rename);
    return { text: `--rename ${text}`, match: (questions: Question[]) => matchRename(rename, questions) };
  });
  const drops = (options.drops ?? []).map((object) => ({
    text: `--drop ${object}`,
    match: (questions: Question[]) => {
      const question = matchDrop(object, questions);
      return question && { questionId: question.id, answer: DROP };
    },
  }));
  let pending = [...renames, ...drops];
  for (;;) {
    const result = await diffOnce(from, to, answers);
    const stillPending = pending.filter(({ match }) => {
      const found = match(result.plan.questions);
      if (found) answers[found.questionId] = found.answer;
      return !found;
    });
    if (stillPending.length === pending.length) {
      if (stillPending.length) {
        throw new PlanInputError(`${stillPending[0]!.text}: no object of that name is missing from dev while objects of its kind are new (for a rename, one named like the right side); check the names (schema.table or table.column)`);
      }
      checkAnswers(answers, result.plan.questions);
      return result;
    }
    pending = stillPending;
  }
}

/** The differ's statements, before hazards and execution are planned around them. */
type Diff = Omit<Plan, 'schemas' | 'statements' | 'lockBudgetMs'> & { statements: Pick<PlannedStatement, 'sql' | 'kind'>[] };

type TableName = { name: string; schema: string };
type Renames = { tables: { from: TableName; to: TableName }[]; columns: { table: TableName; from: string; to: string }[] };

async function diffOnce(realFrom: Snapshot, realTo: Snapshot, answers: Answers) {
  const kit = drizzle();
  const codec = nameCodec(realFrom, realTo);
  const [from, to] = [codec.encodeSnapshot(realFrom), codec.encodeSnapshot(realTo)];
  const first = await runDiffer(from, to, answers, codec);
  let { statements, questions } = first;
  if (first.renames.tables.length || first.renames.columns.length) {
    // drizzle-kit looks up a renamed table's old columns under its new name (and crashes), and plans
    // only the rename of a renamed column: rename them in prod's snapshot, diff again, renames first.
    const second = await runDiffer(renamed(from, first.renames), to, answers, codec);
    if (!second.statements) throw second.error;
    statements = [...renameJson(first.renames), ...second.statements];
    questions = [...new Map([...first.questions, ...second.questions].map((question) => [question.id, question])).values()];
  } else if (!statements) throw first.error;
  // One JSON statement gives zero or more SQL statements; keep the link for kinds and hazards.
  await loadParser();
  const seen = new Set<string>();
  const planned: Pick<PlannedStatement, 'sql' | 'kind'>[] = [];
  const statementsJson: any[][] = [];
  for (const encoded of statements) {
    const json = codec.decodeStatement(encoded, kit.PgSquasher);
    for (const sql of kit.fromJson([encoded], 'postgresql', 'push').flatMap(oneByOne).map(codec.decodeSql)) {
      if (seen.has(sql)) continue;
      seen.add(sql);
      planned.push({ sql: repairedSql(json, sql), kind: json.type });
      statementsJson.push([json]);
    }
  }
  questions.sort((a, b) => a.id.localeCompare(b.id));
  const plan = withHash({
    fromFingerprint: fingerprint(realFrom),
    toFingerprint: fingerprint(realTo),
    planHash: '',
    statements: planned,
    questions,
    unsupported: [],
  });
  return { plan, statementsJson };
}

/** drizzle-kit writes some changes (a foreign key's actions, a primary key's columns) as two statements in
 * one string: split by the parser while the names are still tokens. Text the parser refuses is left to
 * the check of every planned statement. */
function oneByOne(sql: string): string[] {
  try {
    const statements = parseStatements(sql);
    return statements.length > 1 ? statements.map((statement) => `${statement.sql};`) : [sql];
  } catch {
    return [sql];
  }
}

/** One run of drizzle-kit's differ on encoded snapshots, with our answers as its rename resolvers. */
async function runDiffer(from: Snapshot, to: Snapshot, answers: Answers, codec: NameCodec) {
  const kit = drizzle();
  const questions: Question[] = [];
  const renames: Renames = { tables: [], columns: [] };
  const resolve = <T extends { name: string; schema?: string }>(kind: QuestionKind, qualify: (item: T) => string) => {
    return (created: T[], deleted: T[]) => {
      const free = new Map(created.map((item) => [codec.decode(qualify(item)), item]));
      const candidates = [...free.keys()];
      const renamed: { from: T; to: T }[] = [];
      const dropped: T[] = [];
      for (const item of deleted) {
        const object = codec.decode(qualify(item));
        if (!candidates.length) {
          dropped.push(item);
          continue;
        }
        const id = `${kind}:${object}`;
        const answer = answers[id];
        const target = answer && answer !== DROP ? free.get(answer) : undefined;
        questions.push({ id, kind, object, candidates, ...(answer ? { answer } : {}) });
        if (target) {
          free.delete(answer!);
          renamed.push({ from: item, to: target });
        } else dropped.push(item);
      }
      return { created: [...free.values()], deleted: dropped, renamed };
    };
  };
  const named = <T extends { name: string; schema?: string }>(kind: QuestionKind, qualify: (item: T) => string) => {
    const resolver = resolve<T>(kind, qualify);
    return async (input: { created: T[]; deleted: T[] }) => resolver(input.created, input.deleted);
  };
  // Tables, enums, sequences and views can also move between schemas: a rename to the same name elsewhere.
  const movable = <T extends { name: string; schema?: string }>(kind: QuestionKind) => {
    const resolver = resolve<T>(kind, (item) => displayName(item.schema || 'public', item.name));
    return async (input: { created: T[]; deleted: T[] }) => {
      const { created, deleted, renamed } = resolver(input.created, input.deleted);
      if (kind === 'table') renames.tables.push(...(renamed as unknown as Renames['tables']));
      const moved = renamed
        .filter(({ from, to }) => from.name === to.name)
        .map(({ from, to }) => ({ name: from.name, schemaFrom: from.schema || 'public', schemaTo: to.schema || 'public' }));
      return { created, deleted, moved, renamed: renamed.filter(({ from, to }) => from.name !== to.name) };
    };
  };
  const perTable = <T extends { name: string }>(kind: QuestionKind) => {
    return async (input: { tableName: string; schema: string; created: T[]; deleted: T[] }) => {
      const resolved = resolve<T>(kind, (item) => displayName(input.schema || 'public', input.tableName, item.name))(input.created, input.deleted);
      if (kind === 'column') {
        renames.columns.push(...resolved.renamed.map(({ from, to }) => ({ table: { name: input.tableName, schema: input.schema }, from: from.name, to: to.name })));
      }
      return { tableName: input.tableName, schema: input.schema, ...resolved };
    };
  };
  const prev = kit.squashPgScheme(kit.pgSchema.parse(from), 'push');
  const cur = kit.squashPgScheme(kit.pgSchema.parse(to), 'push');
  try {
    const { statements } = await kit.applyPgSnapshotsDiff(
    prev, cur,
    named('schema', (item) => item.name) as any,
    movable('enum') as any,
    movable('sequence') as any,
    named('policy', (item) => item.name) as any,
    perTable('policy') as any,
    named('role', (item) => item.name) as any,
    movable('table') as any,
    perTable('column') as any,
    movable('view') as any,
    from, to, 'push',
    );
    return { statements, questions, renames };
  } catch (error) {
    return { statements: undefined, error, questions, renames };
  }
}

/** Prod's snapshot with the renamed tables and columns under their new names, references included. */
function renamed(snapshot: Snapshot, renames: Renames): Snapshot {
  const key = (table: TableName) => displayName(table.schema || 'public', table.name);
  const sameTable = (a: TableName, b: TableName) => a.name === b.name && (a.schema || 'public') === (b.schema || 'public');
  const tables: Record<string, any> = { ...snapshot.tables };
  for (const { from, to } of renames.tables) {
    delete tables[key(from)];
    tables[key(to)] = { ...snapshot.tables[key(from)], name: to.name, schema: to.schema };
  }
  const newTable = (table: TableName) => renames.tables.find(({ from }) => sameTable(from, table))?.to ?? table;
  const newColumn = (table: TableName, column: string) => renames.columns.find((rename) => sameTable(rename.table, table) && rename.from === column)?.to ?? column;
  for (const [tableKey, table] of Object.entries(tables)) {
    const here = { name: table.name, schema: table.schema };
    const columns = (names: string[]) => names.map((name) => newColumn(here, name));
    const map = (items: Record<string, any> = {}, change: (item: any) => any) => Object.fromEntries(Object.entries(items).map(([name, item]) => [name, change(item)]));
    tables[tableKey] = {
      ...table,
      columns: Object.fromEntries(Object.values<any>(table.columns).map((column) => [newColumn(here, column.name), { ...column, name: newColumn(here, column.name) }])),
      compositePrimaryKeys: map(table.compositePrimaryKeys, (pk) => ({ ...pk, columns: columns(pk.columns) })),
      uniqueConstraints: map(table.uniqueConstraints, (unique) => ({ ...unique, columns: columns(unique.columns) })),
      indexes: map(table.indexes, (index) => ({
        ...index,
        columns: index.columns.map((column: any) => (column.isExpression ? column : { ...column, expression: newColumn(here, column.expression) })),
      })),
      foreignKeys: map(table.foreignKeys, (fk) => {
        const target = newTable({ name: fk.tableTo, schema: fk.schemaTo });
        return {
          ...fk, tableFrom: table.name, tableTo: target.name, schemaTo: target.schema || 'public',
          columnsFrom: columns(fk.columnsFrom), columnsTo: fk.columnsTo.map((name: string) => newColumn(target, name)),
        };
      }),
    };
  }
  return { ...snapshot, tables };
}

/** Table renames and moves, then column renames, as the differ's own statements. */
function renameJson(renames: Renames): any[] {
  return [
    ...renames.tables.flatMap(({ from, to }) => {
      const [schemaFrom, schemaTo] = [from.schema || 'public', to.schema || 'public'];
      return [
        ...(schemaFrom !== schemaTo ? [{ type: 'alter_table_set_schema', tableName: from.name, schemaFrom, schemaTo }] : []),
        ...(from.name !== to.name ? [{ type: 'rename_table', fromSchema: to.schema, toSchema: to.schema, tableNameFrom: from.name, tableNameTo: to.name }] : []),
      ];
    }),
    ...renames.columns.map(({ table, from, to }) => ({ type: 'alter_table_rename_column', tableName: table.name, schema: table.schema, oldColumnName: from, newColumnName: to })),
  ];
}

/** drizzle-kit's ADD COLUMN turns an empty array default into an array of one empty string. */
function repairedSql(json: any, sql: string): string {
  return json.type === 'alter_table_add_column' && json.column.default === "'{}'" ? sql.replace(`DEFAULT '{""}'`, `DEFAULT '{}'`) : sql;
}

function withHash<T extends Diff | Plan>(plan: T): T {
  const { planHash: _old, ...reviewed } = plan;
  return { ...plan, planHash: sha256(JSON.stringify(reviewed)) };
}

function checkAnswers(answers: Answers, questions: Question[]) {
  for (const [id, answer] of Object.entries(answers)) {
    const problem = answerProblem(id, answer, questions);
    if (problem) throw new PlanInputError(problem);
  }
}
