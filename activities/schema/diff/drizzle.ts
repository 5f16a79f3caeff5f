// drizzle-kit's Postgres snapshot differ, reached inside its bundle.
//
// drizzle-kit exports only `generateMigration`, which prompts on a TTY for every ambiguous rename.
// The differ itself (`applyPgSnapshotsDiff`) takes rename resolvers as arguments, which is what a
// non-interactive planner needs, but it is private to `drizzle-kit/api`'s CJS bundle. We compile
// that file once more with one appended line that initialises the modules we use and exports them
// (prebuilt for the compiled command, with drizzle-orm inlined and a V8 code cache: it starts faster).
// The version is pinned exactly; test/drizzle.test.ts fails loudly if an upgrade moves anything.
import Module, { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Script } from 'node:vm';
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

/** What the compiled command loads instead (scripts/cli-build.mjs writes both next to it, in dist/cli):
 * drizzle-kit's bundle with drizzle-orm inlined and our exporter appended, and V8's code cache of it.
 * Run from the sources (tsx, tests), there is none, and the bundle is compiled as installed. */
const PREBUILT = { code: new URL('drizzle-kit.cjs', import.meta.url), cache: new URL('drizzle-kit.v8', import.meta.url) };

let internals: DrizzleInternals | undefined;

/** Loads the bundle once per process (~0.5 s as installed, less prebuilt). */
export function drizzle(): DrizzleInternals {
  if (internals) return internals;
  const prebuilt = readIfExists(PREBUILT.code);
  internals = prebuilt ? compile(prebuilt.toString('utf8'), readIfExists(PREBUILT.cache)).internals : compile(installedSource()).internals;
  return internals;
}

/** For the setup build: writes the prebuilt bundle and its code cache into `outdir`; returns the files it read. */
export async function prebuildDrizzle(outdir: string): Promise<string[]> {
  const { build } = await import('esbuild');
  const file = apiFile();
  const { outputFiles, metafile } = await build({
    stdin: { contents: installedSource(), resolveDir: path.dirname(file), sourcefile: file, loader: 'js' },
    absWorkingDir: path.dirname(file),
    bundle: true,
    write: false,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    metafile: true,
    logLevel: 'warning',
    // drizzle-orm is what api.js loads at start (~60 files): inlined. Anything else it needs only on paths we never take.
    plugins: [{
      name: 'external-but-drizzle-orm',
      setup(builder) {
        builder.onResolve({ filter: /^[^./]/ }, ({ path: name }) => (name === 'drizzle-orm' || name.startsWith('drizzle-orm/') ? undefined : { path: name, external: true }));
      },
    }],
  });
  const code = outputFiles[0]!.text;
  const { script } = compile(code);
  writeFileSync(new URL('drizzle-kit.cjs', pathToFileURL(`${outdir}/`)), code);
  // After running it: the cache then holds the functions its start-up compiled too.
  writeFileSync(new URL('drizzle-kit.v8', pathToFileURL(`${outdir}/`)), script.createCachedData());
  return Object.keys(metafile.inputs).filter((input) => input !== '<stdin>').map((input) => path.resolve(path.dirname(file), input));
}

const apiFile = () => createRequire(import.meta.url).resolve('drizzle-kit/api');

/** api.js as installed, with one line appended that initialises the modules we use and exports them. */
function installedSource(): string {
  return `${readFileSync(apiFile(), 'utf8')}\ninit_pgSchema(); init_pgSerializer(); init_snapshotsDiffer();
module.exports.__pgpromote = { ${EXPORTED.join(', ')} };\n`;
}

/** Runs `code` as the CommonJS module api.js (it requires what it needs from there), with V8's cache of it if any. */
function compile(code: string, cachedData?: Buffer): { internals: DrizzleInternals; script: Script } {
  const file = apiFile();
  const script = new Script(Module.wrap(code), { filename: file, ...(cachedData ? { cachedData } : {}) });
  const mod = { exports: {} as { __pgpromote?: Record<string, unknown> } };
  script.runInThisContext()(mod.exports, createRequire(file), mod, file, path.dirname(file));
  const found = mod.exports.__pgpromote ?? {};
  const missing = EXPORTED.filter((name) => found[name] === undefined);
  if (missing.length) {
    throw new Error(`drizzle-kit internals not found (${missing.join(', ')}): pgpromote needs drizzle-kit 0.31.11 exactly`);
  }
  return { internals: found as unknown as DrizzleInternals, script };
}

function readIfExists(file: URL): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
