// Benchmark of the `pgpromote` command as a user runs it: whole processes (start-up, connecting,
// introspecting, diffing, printing), side by side in one run on one embedded Postgres, against migra (Python)
// and drizzle-kit's own introspection (its CLI's `pull` of dev) as the baseline.
//   npx tsx bench/cli.ts [--sizes 10,100,1000,5000] [--repeat 5] [--drizzle-max 100]
// prod has `tables` tables (bench/schema.ts's generator); dev is prod plus one added column. Each round runs
// every command once, in turn, so that the machine's load weighs on all of them alike; the median of
// `--repeat` rounds is reported, with each process's peak resident memory. drizzle-kit's pull, which queries
// table by table (one run at 1000 tables had not finished after 5 minutes), is left out above `--drizzle-max`
// tables. migra is installed on first use into .tools/migra (a venv; `pip install migra psycopg2-binary`):
// setup and CI never need it.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startLocalPostgres } from '../scripts/postgres.ts';
import { withClient } from '../activities/db.ts';
import { cliBuildProblem } from '../scripts/cli-build.mjs';
import { createDatabase, generateSchema } from './schema.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const migraVenv = path.join(root, '.tools', 'migra');
const run = promisify(execFile);

/** Runs a command to its end and reports its wall time, its CPU time (user + system: on a shared machine the
 * wall time also counts waiting for the CPU) and peak memory (the children's rusage, read by Python's wait, so
 * that no `time` binary is needed); its output goes to `outputFile`. */
const MEASURE = `
import json, resource, subprocess, sys, time
started = time.perf_counter()
with open(sys.argv[1], 'wb') as output:
    code = subprocess.run(sys.argv[2:], stdout=output, stderr=subprocess.STDOUT).returncode
ms = (time.perf_counter() - started) * 1000
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({'ms': ms, 'cpuMs': (usage.ru_utime + usage.ru_stime) * 1000, 'peakMb': usage.ru_maxrss / 1024, 'code': code}))
`;

interface Measurement {
  ms: number;
  cpuMs: number;
  peakMb: number;
}

/** One command of the comparison: how to run it, and how to tell that it did its job (a benchmark of a
 * command that failed measures nothing). */
interface Contender {
  name: string;
  command: (urls: { prod: string; dev: string }, scratch: string) => string[];
  check: (code: number, output: string, scratch: string) => string | undefined;
}

const node = process.execPath;
const HELP: Contender = {
  name: 'pgpromote --help',
  command: () => [node, 'bin/pgpromote.mjs', '--help'],
  check: (code, output) => (code === 0 && output.includes('Usage: pgpromote') ? undefined : `exit ${code}: ${output}`),
};

const CONTENDERS: Contender[] = [
  {
    name: 'pgpromote plan',
    command: ({ prod, dev }) => [node, 'bin/pgpromote.mjs', 'plan', '--from', prod, '--to', dev, '--json'],
    check: (code, output) => {
      if (code !== 0) return `exit ${code}: ${output}`;
      const statements = (JSON.parse(output) as { statements: { sql: string }[] }).statements;
      return statements.length === 1 && statements[0]!.sql.includes('"note"') ? undefined : `expected one ADD COLUMN "note", planned ${output}`;
    },
  },
  {
    name: 'migra',
    // migra speaks SQLAlchemy URLs; plain postgresql:// would ask for psycopg 3. It exits 2 when it found differences.
    command: ({ prod, dev }) => [path.join(migraVenv, 'bin', 'migra'), '--unsafe', ...[prod, dev].map((url) => url.replace(/^postgres(ql)?:/, 'postgresql+psycopg2:'))],
    check: (code, output) => (code === 2 && /add column "note"/.test(output) ? undefined : `exit ${code}: ${output}`),
  },
  {
    name: 'drizzle-kit pull (dev only)',
    command: ({ dev }, scratch) => [node, 'node_modules/drizzle-kit/bin.cjs', 'pull', '--dialect', 'postgresql', '--url', dev, '--out', scratch],
    check: (code, output, scratch) => {
      const schema = path.join(scratch, 'schema.ts');
      return code === 0 && existsSync(schema) && readFileSync(schema, 'utf8').includes('note') ? undefined : `exit ${code}: ${output}`;
    },
  },
];

async function measure(contender: Contender, urls: { prod: string; dev: string }): Promise<Measurement> {
  const scratch = mkdtempSync(path.join(tmpdir(), 'pgpromote-bench-cli-'));
  try {
    const outputFile = path.join(scratch, 'output');
    const { stdout } = await run('python3', ['-c', MEASURE, outputFile, ...contender.command(urls, scratch)], { cwd: root });
    const { ms, cpuMs, peakMb, code } = JSON.parse(stdout) as Measurement & { code: number };
    const problem = contender.check(code, readFileSync(outputFile, 'utf8'), scratch);
    if (problem) throw new Error(`${contender.name} failed: ${problem.slice(0, 2000)}`);
    return { ms, cpuMs, peakMb };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The median of `repeat` rounds of each contender, run in turn within each round. */
async function sideBySide(contenders: Contender[], urls: { prod: string; dev: string }, repeat: number): Promise<(Measurement | undefined)[]> {
  const runs: Measurement[][] = contenders.map(() => []);
  for (let round = 0; round < repeat; round++) {
    for (const [index, contender] of contenders.entries()) runs[index]!.push(await measure(contender, urls));
  }
  return runs.map((measurements) => measurements.sort((a, b) => a.ms - b.ms)[Math.floor(repeat / 2)]!);
}

async function installMigra(): Promise<string> {
  const pip = path.join(migraVenv, 'bin', 'pip');
  if (!existsSync(path.join(migraVenv, 'bin', 'migra'))) {
    console.error('installing migra into .tools/migra (pip install migra psycopg2-binary)…');
    await run('python3', ['-m', 'venv', migraVenv]);
    await run(pip, ['install', '--quiet', '--disable-pip-version-check', 'migra', 'psycopg2-binary']);
  }
  const { stdout } = await run(pip, ['show', 'migra']);
  return stdout.match(/^Version: (.*)$/m)?.[1] ?? 'unknown';
}

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1]! : fallback;
}

const cell = ({ ms, cpuMs, peakMb }: Measurement) => `${(ms / 1000).toFixed(2)} s (CPU ${(cpuMs / 1000).toFixed(2)} s), ${Math.round(peakMb)} MB`;
const ratio = (other: Measurement, of: Measurement) => `${(other.ms / of.ms).toFixed(1)}×`;

async function main() {
  const sizes = option('--sizes', '10,100,1000,5000').split(',').map(Number);
  const repeat = Number(option('--repeat', '5'));
  const drizzleMax = Number(option('--drizzle-max', '100'));
  const stale = cliBuildProblem();
  if (stale) throw new Error(`the compiled command is ${stale}: run \`npm run setup\` first`);
  const migraVersion = await installMigra();
  const load = [loadavg()[0]!];
  const server = await startLocalPostgres({ logFile: 'bench-postgres.log' });
  const rows: string[] = [];
  const goals: string[] = [];
  let postgresVersion = '';
  try {
    postgresVersion = await withClient(server.url(), async (client) => (await client.query('SHOW server_version')).rows[0].server_version);
    // --help touches no database: measured once, against an empty pair.
    const [help] = await sideBySide([HELP], { prod: '', dev: '' }, repeat);
    goals.push(`pgpromote --help: ${cell(help!)} (goal: under 0.3 s) ${help!.ms < 300 ? 'met' : 'MISSED'}`);
    for (const tables of sizes) {
      const prodScripts = generateSchema(tables, 'prod');
      const urls = {
        prod: await createDatabase(server, `cli_prod_${tables}`, prodScripts),
        dev: await createDatabase(server, `cli_dev_${tables}`, [...prodScripts, 'ALTER TABLE t1 ADD COLUMN note text;']),
      };
      console.error(`${tables} tables…`);
      const [plan, migra, drizzle] = await sideBySide(tables > drizzleMax ? CONTENDERS.slice(0, 2) : CONTENDERS, urls, repeat);
      const baseline = drizzle ? [cell(drizzle), ratio(plan!, drizzle)] : ['skipped', '–'];
      rows.push(`| ${tables} | ${cell(plan!)} | ${cell(migra!)} | ${baseline[0]} | ${ratio(migra!, plan!)} | ${baseline[1]} |`);
      console.error(rows.at(-1));
      if (tables === 1000) {
        const met = plan!.ms < 1500 && migra!.ms >= 2 * plan!.ms;
        goals.push(`plan of 1000 tables: ${cell(plan!)}, migra ÷ pgpromote ${ratio(migra!, plan!)} (goal: under 1.5 s and at least 2×) ${met ? 'met' : 'MISSED'}`);
      }
    }
  } finally {
    await server.stop();
  }
  load.push(loadavg()[0]!);
  console.log([
    `${cpus().length} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, Postgres ${postgresVersion}, migra ${migraVersion}, ` +
      `${new Date().toISOString().slice(0, 16)}Z, load average ${load.map((value) => value.toFixed(1)).join(' → ')}, median of ${repeat}`,
    '',
    '| tables | pgpromote plan | migra | drizzle-kit pull (dev only) | migra ÷ pgpromote | pgpromote ÷ drizzle-kit |',
    '|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    ...goals.map((goal) => `- ${goal}`),
  ].join('\n'));
}

await main();
