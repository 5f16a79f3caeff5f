// Plans what drizzle-kit does not model (read/extras.ts; the SQL is written by sql/extras.ts) around
// drizzle's own statements. `before` runs ahead of drizzle's statements: removals from prod's objects,
// under prod's names, and the types, extensions and functions tables may use. `after` runs last: objects
// built on tables (views, triggers, ...), settings, comments and grants under dev's names, then the removed
// functions, types and extensions. An object replaced or dropped takes with it, and recreates, what depends
// on it.
import type { CatalogObject, Extras, Grant, Setting } from '../read/extras.ts';
import type { Snapshot } from './drizzle.ts';
import { displayName, type DraftStatement, type StatementTarget, type Unsupported } from '../model.ts';
import { ident, literal, qualified } from '../../quote.ts';
import { alterSql, createSql, dropSql, SETTINGS } from '../sql/extras.ts';

/** One of ours: it names its object by key. */
type ExtraStatement = DraftStatement & { object: string };

/** Raw names by object key (`column public.t.c` → schema, table, column), for both databases. */
export type ObjectTargets = Map<string, StatementTarget>;

const tableKey = (schema: string, table: string) => `table ${schema}.${table}`;
const columnKey = (schema: string, table: string, column: string) => `column ${schema}.${table}.${column}`;

/** The targets of every object either database has, by key: tables, columns, indexes and constraints
 * from drizzle's snapshots, the rest from the extras' raw names. A key stands for its raw names only
 * through this map: keys join names with dots, which names may hold too. */
export function objectTargets(schemas: string[], sides: { snapshot: Snapshot; extras: Extras }[]): ObjectTargets {
  const targets: ObjectTargets = new Map(schemas.map((schema) => [`schema ${schema}`, { schema }]));
  const seen = new Set<object>(); // a table both snapshots share (BuiltRelations) names the same objects
  for (const { snapshot, extras } of sides) {
    for (const table of Object.values<any>(snapshot.tables)) {
      if (seen.has(table)) continue;
      seen.add(table);
      const [schema, name] = [table.schema || 'public', table.name as string];
      targets.set(tableKey(schema, name), { schema, table: name });
      for (const column of Object.keys(table.columns)) targets.set(columnKey(schema, name, column), { schema, table: name, column });
      for (const index of Object.keys(table.indexes ?? {})) targets.set(`index ${schema}.${index}`, { schema, table: name, name: index });
      for (const constraints of [table.compositePrimaryKeys, table.uniqueConstraints, table.foreignKeys, table.checkConstraints]) {
        for (const constraint of Object.keys(constraints ?? {})) targets.set(`constraint ${schema}.${name}.${constraint}`, { schema, table: name, name: constraint });
      }
    }
    for (const object of extras.objects) {
      const names = extras.names[object.key];
      if (!names) continue;
      targets.set(object.key, object.kind === 'table' ? { schema: names.schema, table: names.name } : names);
    }
    for (const implicit of extras.implicitNames) {
      const owner = targets.get(implicit.owner);
      if (implicit.kind === 'sequence' && owner) targets.set(`sequence ${owner.schema}.${implicit.name}`, { schema: owner.schema, name: implicit.name });
    }
  }
  return targets;
}


/** What drizzle's statements do, as far as the extras care. Keys as in extras.ts. */
export interface DrizzleEffects {
  /** Tables whose columns drizzle drops or changes the type of: views on them must be rebuilt. */
  touchedTables: Set<string>;
  /** Objects drizzle creates or recreates: their comments, grants and settings start from scratch. */
  created: Set<string>;
  /** Renamed or moved tables: dev's key → prod's. */
  previousName: Map<string, string>;
  /** Renamed columns: dev's key → the column's name on prod, in dev's table. */
  previousColumn: Map<string, StatementTarget>;
  /** Tables whose primary key drizzle creates under its own name (composite keys). */
  namedPrimaryKeys: Set<string>;
  /** Tables where drizzle adds a primary key without a name (on one column): Postgres names it. */
  unnamedPrimaryKeys: Set<string>;
}

const PLANNABLE = new Set(['extension', 'function', 'domain', 'composite', 'sequence', 'view', 'matview', 'index', 'trigger', 'constraint', 'policy', 'rule', 'statistics']);
// Built on tables: dropped before drizzle's statements, created after them.
const ON_TABLES = new Set(['view', 'matview', 'index', 'trigger', 'constraint', 'policy', 'rule', 'statistics']);
// A view must be rebuilt when a table under it changes; these only when one of their columns may have.
const REBUILT_WITH_TABLE = new Set(['view', 'matview']);
const REBUILT_WITH_COLUMNS = new Set(['trigger', 'policy', 'rule', 'statistics']);

// Postgres refuses these while a view (or a trigger's or policy's expression) uses the column; renames are fine.
const BREAKS_VIEWS = new Set(['drop_table', 'alter_table_drop_column', 'pg_alter_table_alter_column_set_type',
  'alter_table_alter_column_set_generated', 'alter_table_alter_column_drop_generated', 'alter_table_alter_column_alter_generated']);

export function drizzleEffects(statements: any[], namedPrimaryKeys: Set<string>): DrizzleEffects {
  const touchedTables = new Set<string>();
  const created = new Set<string>();
  const previousName = new Map<string, string>();
  const previousColumn = new Map<string, StatementTarget>();
  const unnamedPrimaryKeys = new Set<string>();
  const dotted = (schema: string | undefined, name: string) => displayName(schema || 'public', name);
  for (const statement of statements) {
    // Renames come first in drizzle's statements: later ones name tables as dev does, prod's dependencies as prod does.
    const touch = (schema: string | undefined, table: string) => {
      const key = `table ${dotted(schema, table)}`;
      touchedTables.add(previousName.get(key) ?? key);
    };
    if (BREAKS_VIEWS.has(statement.type)) touch(statement.schema, statement.tableName);
    for (const column of statement.columnsWithEnum ?? []) touch(column.tableSchema, column.table);
    switch (statement.type) {
      case 'rename_table':
        previousName.set(`table ${dotted(statement.toSchema, statement.tableNameTo)}`, `table ${dotted(statement.fromSchema, statement.tableNameFrom)}`);
        break;
      case 'alter_table_set_schema':
        previousName.set(`table ${dotted(statement.schemaTo, statement.tableName)}`, `table ${dotted(statement.schemaFrom, statement.tableName)}`);
        break;
      case 'alter_table_rename_column': {
        const [schema, table] = [statement.schema || 'public', statement.tableName];
        previousColumn.set(columnKey(schema, table, statement.newColumnName), { schema, table, column: statement.oldColumnName });
        break;
      }
      case 'create_table':
        created.add(`table ${dotted(statement.schema, statement.tableName)}`);
        break;
      case 'alter_table_add_column':
        created.add(`column ${dotted(statement.schema, statement.tableName)}.${statement.column.name}`);
        if (statement.column.primaryKey) unnamedPrimaryKeys.add(`table ${dotted(statement.schema, statement.tableName)}`);
        break;
      case 'alter_table_alter_column_set_pk':
        unnamedPrimaryKeys.add(`table ${dotted(statement.schema, statement.tableName)}`);
        break;
      case 'create_type_enum':
      case 'alter_type_drop_value':
        created.add(`type ${dotted(statement.schema ?? statement.enumSchema, statement.name)}`);
        break;
      case 'create_index_pg':
        created.add(`index ${dotted(statement.schema, statement.data.name)}`);
        break;
    }
  }
  return { touchedTables, created, previousName, previousColumn, namedPrimaryKeys, unnamedPrimaryKeys };
}

/** Prod's key for a dev table or column, through drizzle's renames. */
function previousKey(key: string, effects: DrizzleEffects, targets: ObjectTargets): string {
  const table = effects.previousName.get(key);
  if (table) return table;
  const column = effects.previousColumn.get(key) ?? targets.get(key);
  if (!column?.column) return key;
  const onProd = targets.get(effects.previousName.get(tableKey(column.schema, column.table!)) ?? '') ?? column;
  return columnKey(onProd.schema, onProd.table!, column.column);
}

/** Keys ordered so that each comes after what it depends on; ties by name, for determinism. */
function dependencyOrder(keys: Iterable<string>, dependencies: Map<string, string[]>): string[] {
  const wanted = new Set(keys);
  const ordered: string[] = [];
  const visited = new Set<string>();
  const visit = (key: string) => {
    if (visited.has(key)) return;
    visited.add(key);
    for (const dependency of dependencies.get(key) ?? []) if (wanted.has(dependency)) visit(dependency);
    ordered.push(key);
  };
  [...wanted].sort().forEach(visit);
  return ordered;
}

function dependencyMaps(extras: Extras) {
  const uses = new Map<string, string[]>();
  const usedBy = new Map<string, { key: string; columnLevel: boolean }[]>();
  for (const [dependent, referenced, columnLevel] of extras.dependencies) {
    (uses.get(dependent) ?? uses.set(dependent, []).get(dependent)!).push(referenced);
    (usedBy.get(referenced) ?? usedBy.set(referenced, []).get(referenced)!).push({ key: dependent, columnLevel });
  }
  return { uses, usedBy };
}

function refusalOf(prod: CatalogObject | undefined, dev: CatalogObject | undefined): string | undefined {
  const object = (dev ?? prod)!;
  if (object.kind === 'other') return `${object.key} differs between prod and dev; pgpromote does not plan this kind of object, change it by hand`;
  if (!prod || !dev) return undefined;
  if (object.kind === 'domain' && (prod.details.base !== dev.details.base || prod.details.collation !== dev.details.collation)) {
    return `the base type or collation of domain ${dev.target} changes; columns use it, so change it by hand`;
  }
  if (object.kind === 'composite' && prod.details.used) return `composite type ${dev.target} changes while columns or views use it; change it by hand`;
  return undefined;
}

const byKey = <T>(items: T[], key: (item: T) => string) => new Map(items.map((item) => [key(item), item]));
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The statements planned so far, by where they go. */
class Output {
  /** Comments and grants of prod's objects, ahead of everything. */
  readonly unset: ExtraStatement[] = [];
  readonly before: ExtraStatement[] = [];
  readonly after: ExtraStatement[] = [];
  readonly refusals: Unsupported[] = [];
  constructor(readonly targets: ObjectTargets) {}
  /** Statements on `object`; its target is looked up by its key unless given. */
  emit(list: ExtraStatement[], kind: string, object: string, sqls: string[], { check, target = this.targets.get(object) }: Pick<DraftStatement, 'check' | 'target'> = {}) {
    list.push(...sqls.map((sql) => ({ sql, kind, ...(target ? { target } : {}), object, ...(check ? { check } : {}) })));
  }
  create(list: ExtraStatement[], created: CatalogObject) {
    const expression = created.kind === 'constraint' ? /^CHECK \((.*)\)$/s.exec(created.definition)?.[1] : undefined;
    this.emit(list, `create_${created.kind}`, created.key, createSql(created), expression === undefined ? {} : { check: { name: created.details.rawName, expression } });
  }
}

export function planExtras(prod: Extras, dev: Extras, effects: DrizzleEffects, targets: ObjectTargets) {
  const out = new Output(targets);
  refuseSpecialTables(prod, dev, out);
  const recreated = (key: string) => {
    const column = targets.get(key);
    return effects.created.has(key) || (column?.column !== undefined && effects.created.has(tableKey(column.schema, column.table!)));
  };
  const retypedTables = planSettings(prod, dev, recreated, out);
  const creates = planObjects(prod, dev, effects, new Set([...effects.touchedTables, ...retypedTables]), out);
  renameImplicitNames(prod, dev, effects, out);
  // A (re)created object starts with no comment and its initial privileges.
  const fresh = (object: string, parent: string | null) => [object, parent].some((key) => key !== null && (recreated(key) || creates.has(key)));
  planComments(prod, dev, fresh, out);
  planGrants(prod, dev, fresh, out);
  return { before: [...out.unset, ...out.before], after: out.after, refusals: out.refusals };
}

function refuseSpecialTables(prod: Extras, dev: Extras, out: Output) {
  for (const table of new Set([...prod.specialTables, ...dev.specialTables].map((table) => table.key))) {
    const [was, is] = [prod.specialTables.find((t) => t.key === table), dev.specialTables.find((t) => t.key === table)];
    if (was?.signature === is?.signature) continue;
    const { reason } = (is ?? was)!;
    out.refusals.push({ kind: reason, object: table, reason: `${table} (${reason}) differs between prod and dev; partitioning and inheritance are not planned, change them by hand` });
  }
}

/** Resets under prod's names before drizzle, sets under dev's names after. Returns the tables whose columns change type (collations). */
function planSettings(prod: Extras, dev: Extras, recreated: (key: string) => boolean, out: Output): string[] {
  const retypedTables: string[] = [];
  const settingKey = (setting: Setting) => `${setting.kind} ${setting.key}`;
  const prodSettings = byKey(prod.settings, settingKey);
  const devSettings = byKey(dev.settings, settingKey);
  for (const [key, setting] of prodSettings) {
    if (devSettings.has(key)) continue;
    out.emit(out.before, `reset_${setting.kind}`, setting.object, SETTINGS[setting.kind].reset(setting));
    if (setting.kind === 'collation') retypedTables.push(setting.table);
  }
  for (const [key, setting] of devSettings) {
    const old = prodSettings.get(key);
    const isNew = !old || recreated(setting.object);
    if (!isNew && same(old.value, setting.value)) continue;
    out.emit(out.after, `set_${setting.kind}`, setting.object, SETTINGS[setting.kind].set(setting, isNew ? undefined : old));
    if (setting.kind === 'collation' && !isNew) retypedTables.push(setting.table);
  }
  return retypedTables;
}

/** Objects to drop, create or alter, with what a replacement takes along. Returns the keys (re)created. */
function planObjects(prod: Extras, dev: Extras, effects: DrizzleEffects, touchedTables: Set<string>, out: Output): Set<string> {
  const prodObjects = byKey(prod.objects, (object) => object.key);
  const devObjects = byKey(dev.objects, (object) => object.key);
  const drops = new Set<string>();
  const creates = new Set<string>();
  const alters: [string, string[]][] = [];
  const ours = (object: CatalogObject | undefined) => object !== undefined && (object.kind !== 'constraint' || object.details.outsideDrizzle);
  for (const key of [...new Set([...prodObjects.keys(), ...devObjects.keys()])].sort()) {
    const [was, is] = [prodObjects.get(key), devObjects.get(key)];
    if ((was && is && was.definition === is.definition) || (!ours(was) && !ours(is))) continue;
    const refusal = refusalOf(was, is);
    if (refusal) {
      out.refusals.push({ kind: (is ?? was)!.kind, object: key, reason: refusal });
      continue;
    }
    if (!PLANNABLE.has((is ?? was)!.kind)) continue;
    const inPlace = was && is ? alterSql(was, is) : undefined;
    if (inPlace) alters.push([key, inPlace]);
    else {
      if (was) drops.add(key);
      if (is) creates.add(key);
    }
  }
  const prodDependencies = dependencyMaps(prod);
  const devDependencies = dependencyMaps(dev);
  const pending = [...drops, ...touchedTables];
  for (let key = pending.pop(); key !== undefined; key = pending.pop()) {
    const isTable = key.startsWith('table ');
    for (const { key: dependent, columnLevel } of prodDependencies.usedBy.get(key) ?? []) {
      const kind = prodObjects.get(dependent)?.kind;
      if (!kind || drops.has(dependent) || !PLANNABLE.has(kind) || !ours(prodObjects.get(dependent))) continue;
      if (isTable && !REBUILT_WITH_TABLE.has(kind) && !(columnLevel && REBUILT_WITH_COLUMNS.has(kind))) continue;
      drops.add(dependent);
      if (devObjects.has(dependent)) creates.add(dependent);
      pending.push(dependent);
    }
  }

  // Columns, their defaults and indexes are drizzle-kit's: a function or domain they use cannot be dropped to be created again.
  for (const key of drops) {
    const { kind } = prodObjects.get(key)!;
    if (!['function', 'domain'].includes(kind) || !creates.has(key)) continue;
    for (const { key: table } of prodDependencies.usedBy.get(key) ?? []) {
      if (!table.startsWith('table ')) continue;
      out.refusals.push({ kind, object: key, reason: `${key} must be dropped and created again to change, but a column, column default or index of ${table} uses it; `
        + 'change that use on prod first (or keep what the function returns and its parameters\' names), then plan again' });
    }
  }

  // drizzle-kit removes enum values by dropping and recreating the type: only its columns follow.
  for (const key of effects.created) {
    if (prodObjects.get(key)?.kind !== 'enum') continue;
    for (const { key: dependent } of prodDependencies.usedBy.get(key) ?? []) {
      const kind = prodObjects.get(dependent)?.kind;
      if (kind && kind !== 'table' && !drops.has(dependent)) {
        out.refusals.push({ kind: 'enum', object: key, reason: `drizzle-kit recreates enum ${displayName(out.targets.get(key)?.schema, out.targets.get(key)?.name)} to remove values, but ${dependent} depends on it; change it by hand` });
      }
    }
  }

  // Removed functions, types and extensions go last: columns and defaults drizzle drops may use them.
  const dropLate = (key: string) => !creates.has(key) && !ON_TABLES.has(prodObjects.get(key)!.kind);
  const createLate = (key: string) => ON_TABLES.has(devObjects.get(key)!.kind) || (devObjects.get(key)!.kind === 'function' && devObjects.get(key)!.details.atomic);
  const dropOrder = dependencyOrder(drops, prodDependencies.uses).reverse();
  const createOrder = dependencyOrder(creates, devDependencies.uses);
  if ([...creates, ...alters.map(([key]) => key)].some((key) => devObjects.get(key)!.kind === 'function')) {
    // Function bodies may name tables that drizzle creates later.
    out.emit(out.before, 'set', '', ['SET check_function_bodies = off']);
  }
  for (const key of dropOrder.filter((key) => !dropLate(key))) out.emit(out.before, `drop_${prodObjects.get(key)!.kind}`, key, [dropSql(prodObjects.get(key)!)]);
  for (const [key, sqls] of alters) if (!drops.has(key)) out.emit(out.before, `alter_${devObjects.get(key)!.kind}`, key, sqls);
  for (const key of createOrder.filter((key) => !createLate(key))) out.create(out.before, devObjects.get(key)!);
  for (const key of creates) {
    const missing = (devObjects.get(key)!.details.roles ?? []).filter((role: string) => !prod.roles.includes(role));
    if (missing.length) out.refusals.push({ kind: 'policy', object: key, reason: `${key} applies to roles missing on prod's server (${missing.join(', ')}); create them first` });
  }
  for (const key of createOrder.filter(createLate)) out.create(out.after, devObjects.get(key)!);
  for (const key of dropOrder.filter(dropLate)) out.emit(out.after, `drop_${prodObjects.get(key)!.kind}`, key, [dropSql(prodObjects.get(key)!)]);
  return creates;
}

/** Names Postgres chose itself stay behind when drizzle renames their table or column, and are
 * Postgres' defaults where drizzle creates them. */
function renameImplicitNames(prod: Extras, dev: Extras, effects: DrizzleEffects, out: Output) {
  const prodNames = byKey(prod.implicitNames, (name) => `${name.kind} ${name.owner}`);
  for (const name of dev.implicitNames) {
    // drizzle-kit drops and adds a primary key it names itself under dev's name: nothing left to rename.
    if (name.kind === 'primary key' && effects.namedPrimaryKeys.has(name.owner)) continue;
    const owner = previousKey(name.owner, effects, out.targets);
    const ownerTarget = out.targets.get(name.owner); // every table is an extras object; a column may not be drizzle's
    const isPrimaryKey = name.kind === 'primary key';
    const defaultName = ownerTarget?.table === undefined ? undefined : defaultPrimaryKeyName(ownerTarget.table);
    const current = isPrimaryKey && effects.unnamedPrimaryKeys.has(name.owner) ? defaultName
      : prodNames.get(`${name.kind} ${owner}`)?.name ?? (isPrimaryKey ? defaultName : undefined);
    if (current === undefined || current === name.name) continue;
    if (!ownerTarget?.table) {
      out.refusals.push({ kind: name.kind, object: name.owner, reason: `the ${name.kind} of ${name.owner} is renamed to ${name.name}, which pgpromote cannot plan for a column of a partitioned or inheritance table; rename it by hand` });
      continue;
    }
    const { schema, table } = ownerTarget as Required<StatementTarget>;
    out.emit(out.after, 'rename', name.owner, [isPrimaryKey
      ? `ALTER TABLE ${qualified(schema, table)} RENAME CONSTRAINT ${ident(current)} TO ${ident(name.name)}`
      : `ALTER SEQUENCE ${qualified(schema, current)} RENAME TO ${ident(name.name)}`],
    { target: isPrimaryKey ? { schema, table, name: name.name } : { schema, name: name.name } });
  }
}

/** The name Postgres gives a new table's primary key: `<table>_pkey` within 63 bytes, the table's name
 * cut at a character boundary (its makeObjectName). */
export function defaultPrimaryKeyName(table: string): string {
  let kept = table;
  while (Buffer.byteLength(`${kept}_pkey`) > 63) kept = [...kept].slice(0, -1).join('');
  return `${kept}_pkey`;
}

type Fresh = (object: string, parent: string | null) => boolean;

/** A comment's or grant's target: its object's, or else its table's (a primary key is no object of ours). */
const targetOf = (out: Output, { object, parent }: { object: string; parent: string | null }) => out.targets.get(object) ?? (parent === null ? undefined : out.targets.get(parent));

/** Removed under prod's names first, set under dev's names last. */
function planComments(prod: Extras, dev: Extras, fresh: Fresh, out: Output) {
  const devComments = byKey(dev.comments, (comment) => comment.target);
  const prodComments = byKey(prod.comments, (comment) => comment.target);
  for (const comment of prod.comments) {
    if (!devComments.has(comment.target)) out.emit(out.unset, 'comment', comment.object, [`COMMENT ON ${comment.target} IS NULL`], { target: targetOf(out, comment) });
  }
  for (const comment of dev.comments) {
    const old = fresh(comment.object, comment.parent) ? undefined : prodComments.get(comment.target)?.text;
    if (old !== comment.text) out.emit(out.after, 'comment', comment.object, [`COMMENT ON ${comment.target} IS ${literal(comment.text)}`], { target: targetOf(out, comment) });
  }
}

function planGrants(prod: Extras, dev: Extras, fresh: Fresh, out: Output) {
  const grantKey = (grant: Grant) => `${grant.target} ${grant.column} ${grant.grantee}`;
  const devGrants = byKey(dev.grants, grantKey);
  const prodGrants = byKey(prod.grants, grantKey);
  const to = (grant: Grant) => (grant.grantee === 'PUBLIC' ? 'PUBLIC' : ident(grant.grantee));
  const on = (grant: Grant, privileges: string) => {
    const [kind, ...name] = grant.target.split(' ');
    return grant.column ? `${privileges} (${grant.column}) ON ${kind} ${name.join(' ')}` : `${privileges} ON ${grant.target}`;
  };
  const grantSql = (grant: Grant, privileges: string) => {
    const list = privileges ? privileges.split(',') : [];
    const plain = list.filter((privilege) => !privilege.endsWith('*'));
    const grantable = list.filter((privilege) => privilege.endsWith('*')).map((privilege) => privilege.slice(0, -1));
    return [
      ...(plain.length ? [`GRANT ${on(grant, plain.join(', '))} TO ${to(grant)}`] : []),
      ...(grantable.length ? [`GRANT ${on(grant, grantable.join(', '))} TO ${to(grant)} WITH GRANT OPTION`] : []),
    ];
  };
  // An object dev lacks under this name (dropped, or renamed by drizzle) goes back to its initial
  // privileges, from which dev's are then granted.
  for (const grant of prod.grants) {
    if (grant.actual === grant.initial || devGrants.has(grantKey(grant))) continue;
    out.emit(out.unset, 'revoke', grant.object, [`REVOKE ${on(grant, 'ALL')} FROM ${to(grant)}`, ...grantSql(grant, grant.initial)], { target: targetOf(out, grant) });
  }
  for (const grant of dev.grants) {
    const old = prodGrants.get(grantKey(grant));
    const baseline = !old || fresh(grant.object, grant.parent) ? grant.initial : old.actual;
    if (baseline === grant.actual) continue;
    if (grant.grantee !== 'PUBLIC' && !prod.roles.includes(grant.grantee)) {
      out.refusals.push({ kind: 'grant', object: grant.object, reason: `dev grants ${grant.target} to role ${grant.grantee}, which does not exist on prod's server; create the role first` });
      continue;
    }
    out.emit(out.after, 'grant', grant.object, [...(baseline ? [`REVOKE ${on(grant, 'ALL')} FROM ${to(grant)}`] : []), ...grantSql(grant, grant.actual)],
      { target: targetOf(out, grant) });
  }
}
