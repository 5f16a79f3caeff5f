// drizzle-kit's Postgres snapshot differ, reached inside its bundle.
//
// drizzle-kit exports only `generateMigration`, which prompts on a TTY for every ambiguous rename.
// The differ itself (`applyPgSnapshotsDiff`) takes rename resolvers as arguments, which is what a
// non-interactive planner needs, but it is private to `drizzle-kit/api`'s CJS bundle. We compile
// that file once more with one appended line that initialises the modules we use and exports them.
// The version is pinned exactly; test/drizzle.test.ts fails loudly if an upgrade moves anything.
import { createRequire } from 'node:module';
import Module from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Unsquash } from './drizzle-names.ts';

export type Snapshot = {
  version: string;
  dialect: 'postgresql';
  tables: Record<string, any>;
  enums: Record<string, any>;
  schemas: Record<string, string>;
  sequences: Record<string, any>;
  roles: Record<string, any>;
  policies: Record<string, any>;
  views: Record<string, any>;
  _meta: { schemas: Record<string, string>; tables: Record<string, string>; columns: Record<string, string> };
  id: string;
  prevId: string;
  internal?: unknown;
};

type NamedResolverInput<T> = { created: T[]; deleted: T[] };
type NamedResolverOutput<T> = NamedResolverInput<T> & { renamed: { from: T; to: T }[] };
type MovableResolverOutput<T> = NamedResolverOutput<T> & { moved: { name: string; schemaFrom: string; schemaTo: string }[] };
type ColumnResolverInput<T> = { tableName: string; schema: string; created: T[]; deleted: T[] };
type ColumnResolverOutput<T> = ColumnResolverInput<T> & { renamed: { from: T; to: T }[] };

export type NamedResolver = <T extends { name: string }>(input: NamedResolverInput<T>) => Promise<NamedResolverOutput<T>>;
export type MovableResolver = <T extends { name: string; schema?: string }>(input: NamedResolverInput<T>) => Promise<MovableResolverOutput<T>>;
export type ColumnResolver = <T extends { name: string }>(input: ColumnResolverInput<T>) => Promise<ColumnResolverOutput<T>>;

export interface DrizzleInternals {
  fromDatabase(
    db: { query: (sql: string, params?: unknown[]) => Promise<any[]> },
    tablesFilter: (name: string) => boolean,
    schemaFilters: string[],
    entities?: unknown,
    progress?: unknown,
  ): Promise<Snapshot>;
  applyPgSnapshotsDiff(
    prev: unknown, cur: unknown,
    schemas: NamedResolver, enums: MovableResolver, sequences: MovableResolver,
    policies: NamedResolver, tablePolicies: ColumnResolver, roles: NamedResolver,
    tables: MovableResolver, columns: ColumnResolver, views: MovableResolver,
    prevFull: Snapshot, curFull: Snapshot, action?: 'push',
  ): Promise<{ statements: any[]; sqlStatements: string[] }>;
  squashPgScheme(snapshot: unknown, action?: 'push'): unknown;
  pgSchema: { parse(snapshot: unknown): Snapshot };
  /** The SQL that one JSON statement of the differ turns into (the differ's own generator). */
  fromJson(statements: any[], dialect: 'postgresql', action?: 'push'): string[];
  /** Reads the differ's squashed keys and references (`name;columns;...`). */
  PgSquasher: Unsquash;
}

const EXPORTED = ['fromDatabase', 'applyPgSnapshotsDiff', 'squashPgScheme', 'pgSchema', 'fromJson', 'PgSquasher'] as const;

let internals: DrizzleInternals | undefined;

/** Loads the bundle once per process (~0.7 s). */
export function drizzle(): DrizzleInternals {
  if (internals) return internals;
  const require = createRequire(import.meta.url);
  const file = require.resolve('drizzle-kit/api');
  const source = readFileSync(file, 'utf8');
  const exporter = `\ninit_pgSchema(); init_pgSerializer(); init_snapshotsDiffer();
module.exports.__pgpromote = { ${EXPORTED.join(', ')} };\n`;
  const mod = new Module(file) as Module & { _compile(code: string, filename: string): void; paths: string[] };
  mod.filename = file;
  mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(path.dirname(file));
  mod._compile(source + exporter, file);
  const found = (mod.exports as { __pgpromote?: Record<string, unknown> }).__pgpromote ?? {};
  const missing = EXPORTED.filter((name) => found[name] === undefined);
  if (missing.length) {
    throw new Error(`drizzle-kit internals not found (${missing.join(', ')}): pgpromote needs drizzle-kit 0.31.11 exactly`);
  }
  internals = found as unknown as DrizzleInternals;
  return internals;
}
