// The `pgpromote` command runs as JavaScript that the setup step compiles once (esbuild, one bundle of the
// project's own modules; npm packages stay in node_modules), not compiled by tsx at every run. drizzle-kit's
// internals are prebuilt beside it with a V8 code cache (activities/schema/diff/drizzle.ts). Plain JS:
// bin/pgpromote.mjs checks the build with it before loading anything else.
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const outdir = path.join(root, 'dist', 'cli');
export const CLI_ENTRY = path.join(outdir, 'cli.js');
/** The sources the build read (esbuild's metafile), written last: its time is the build's. */
const SOURCES = path.join(outdir, 'sources.json');

/** Why the build cannot be used as it is (missing, or a source changed since), or undefined when it is current. */
export function cliBuildProblem() {
  let sources;
  try {
    sources = JSON.parse(readFileSync(SOURCES, 'utf8'));
  } catch {
    return 'missing';
  }
  const built = statSync(SOURCES).mtimeMs;
  for (const source of sources) {
    let changed;
    try {
      changed = statSync(path.join(root, source)).mtimeMs;
    } catch {
      return `out of date (${source} is gone)`;
    }
    if (changed > built) return `out of date (${source} changed since)`;
  }
  return undefined;
}

/** Compiles client/cli.ts into dist/cli/. Each dynamic import() becomes a chunk of its own, loaded only by
 * the command that needs it; keepNames keeps function names (the workflow's type is `promote.name`).
 * drizzle.ts is an entry too: the build runs its prebuildDrizzle. */
export async function buildCli() {
  const { build } = await import('esbuild');
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const { metafile } = await build({
    absWorkingDir: root,
    entryPoints: { cli: 'client/cli.ts', drizzle: 'activities/schema/diff/drizzle.ts' },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    keepNames: true,
    metafile: true,
    logLevel: 'warning',
  });
  const { prebuildDrizzle } = await import(pathToFileURL(path.join(outdir, 'drizzle.js')).href);
  const drizzleInputs = (await prebuildDrizzle(outdir)).map((input) => path.relative(root, input));
  writeFileSync(SOURCES, JSON.stringify([...Object.keys(metafile.inputs), ...drizzleInputs]));
}
