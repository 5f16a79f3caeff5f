// Benchmark of online apply (issue #12): how long an app's writes wait while prod changes under them.
//   npx tsx bench/online.ts [--rows 5000000] [--writers 4] [--changes index,foreign-key,not-null,check,default]
// prod has `orders` (`--rows` rows, generated in SQL) and a small `customers`; dev is prod's schema plus one
// change. For each change, two sides on fresh copies of prod (CREATE DATABASE ... TEMPLATE) in the same run:
// naive, the plan as drizzle-kit would emit it (no rewrites) in one BEGIN ... COMMIT with no timeouts; and
// pgpromote, the online plan (`online: 'always'`) through pgpromote's own production apply, with its lock
// timeouts and retries. During each apply a writer (inserts and updates in a loop on `--writers` connections of
// its own, in a child process so that the apply's own work in this process does not delay it) records every
// query's latency; the queries that overlap the apply are reported.
import { randomUUID } from 'node:crypto';
import { cpus, loadavg, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startLocalPostgres, type LocalPostgres } from '../scripts/postgres.ts';
import { connect, withClient } from '../activities/db.ts';
import { planUrls, readSchema, schemaFingerprint, type PlanOptions } from '../activities/schema/plan.ts';
import type { Plan } from '../activities/schema/model.ts';
import { applyToProduction } from '../activities/production/apply.ts';
import { DEFAULT_LIMITS } from '../activities/production/execute.ts';
import { readCatalogObjects } from '../activities/convergence/catalog.ts';
import { catalogHash } from '../activities/convergence/diff.ts';

const CUSTOMERS = 1000;

const PROD_SCHEMA = `
  CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL);
  CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    customer_id integer NOT NULL,
    amount integer NOT NULL,
    status text,
    created_at timestamptz NOT NULL DEFAULT now()
  );
`;

const prodData = (rows: number) => `
  INSERT INTO customers SELECT i, 'customer ' || i FROM generate_series(1, ${CUSTOMERS}) i;
  INSERT INTO orders (id, customer_id, amount, status)
    SELECT i, 1 + i % ${CUSTOMERS}, i % 10000, (ARRAY['new', 'paid', 'shipped'])[1 + i % 3] FROM generate_series(1, ${rows}) i;
  SELECT setval('orders_id_seq', ${rows});
`;

/** The changes measured: dev is prod's schema plus one of these. */
const CHANGES = {
  index: { label: 'add an index', sql: 'CREATE INDEX orders_customer_id_idx ON orders (customer_id);' },
  'foreign-key': {
    label: 'add a foreign key',
    sql: 'ALTER TABLE orders ADD CONSTRAINT orders_customer_id_customers_id_fk FOREIGN KEY (customer_id) REFERENCES customers (id);',
  },
  'not-null': { label: 'SET NOT NULL', sql: 'ALTER TABLE orders ALTER COLUMN status SET NOT NULL;' },
  check: { label: 'add a CHECK', sql: 'ALTER TABLE orders ADD CONSTRAINT orders_amount_check CHECK (amount >= 0);' },
  default: { label: 'change a default', sql: "ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'new';" },
} as const;
type Change = keyof typeof CHANGES;

// ---- The writer (a child process) --------------------------------------------------------------------------

interface WriterSettings {
  url: string;
  connections: number;
  rows: number;
}

/** Every query the writer ran: when it started (ms since the epoch, comparable across processes) and how long it
 * took; and, sampled every SAMPLE_MS, how long each of its queries in flight had run and what it was waiting on. */
interface WriterReport {
  starts: number[];
  durations: number[];
  errors: number;
  firstError?: string;
  samples: { at: number; inFlight: InFlight[] }[];
}

/** A writer query seen running: for how long so far, and its wait event (`Lock: relation`, `IO: WALSync`; `none`:
 * on the CPU or waiting for it). */
interface InFlight {
  ms: number;
  wait: string;
}

/** The writer's queries in flight are sampled this often from pg_stat_activity: they tell a stall behind a lock
 * from a machine too busy to answer quickly. */
const SAMPLE_MS = 50;
const WRITER_SESSION = 'pgpromote-bench:writer';

/** The argument that makes this script the writer. */
const WRITER = '--writer';

const epochNow = () => performance.timeOrigin + performance.now();

/** The writer's side: inserts and updates `orders` on its own connections until the parent says stop. */
async function runWriter({ url, connections, rows }: WriterSettings) {
  let stopping = false;
  process.once('message', () => (stopping = true));
  const clients = await Promise.all(Array.from({ length: connections }, () => connect(url, WRITER_SESSION)));
  const sampler = await connect(url, 'pgpromote-bench:sampler');
  const report: WriterReport = { starts: [], durations: [], errors: 0, samples: [] };
  const random = (max: number) => 1 + Math.floor(Math.random() * max);
  process.send!('ready');
  const sampleInFlight = async () => {
    while (!stopping) {
      const { rows } = await sampler.query<InFlight>(
        `SELECT (extract(epoch FROM clock_timestamp() - query_start) * 1000)::float8 AS ms, coalesce(wait_event_type || ': ' || wait_event, 'none') AS wait
           FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'`,
        [WRITER_SESSION],
      );
      report.samples.push({ at: epochNow(), inFlight: rows });
      await sleep(SAMPLE_MS);
    }
  };
  await Promise.all([sampleInFlight(), ...clients.map(async (client, index) => {
    for (let turn = index; !stopping; turn++) {
      const started = epochNow();
      try {
        // Values every change allows: a known customer, a non-negative amount, a status.
        if (turn % 2) await client.query('UPDATE orders SET amount = amount + 1 WHERE id = $1', [random(rows)]);
        else await client.query("INSERT INTO orders (customer_id, amount, status) VALUES ($1, $2, 'new')", [random(CUSTOMERS), random(10000)]);
      } catch (error) {
        report.errors++;
        report.firstError ??= (error as Error).message;
      }
      report.starts.push(started);
      report.durations.push(epochNow() - started);
    }
  })]);
  await Promise.all([...clients, sampler].map((client) => client.end()));
  process.send!(report, () => process.disconnect());
}

/** Starts the writer on `settings.url`; resolves once its connections are open. */
async function startWriter(settings: WriterSettings): Promise<{ stop(): Promise<WriterReport> }> {
  const writer = fork(fileURLToPath(import.meta.url), [WRITER, JSON.stringify(settings)], { execArgv: ['--import', 'tsx'] });
  const next = () => new Promise<unknown>((resolve, reject) => {
    writer.once('message', resolve);
    writer.once('exit', (code) => reject(new Error(`the writer exited early (exit ${code})`)));
  });
  await next();
  return {
    async stop() {
      const report = next();
      writer.send('stop');
      return (await report) as WriterReport;
    },
  };
}

// ---- Measuring one side -----------------------------------------------------------------------------------

interface Latencies {
  p50: number;
  p99: number;
  max: number;
  /** Writer queries per second. */
  rate: number;
}

interface SideResult {
  applyMs: number;
  /** The longest a writer query was seen waiting for a lock during the apply (sampled). */
  lockWaitMs: number;
  /** The longest-running writer query seen during the apply (sampled), with what it was waiting on then. */
  longest: InFlight;
  /** The writer alone, before the apply started. */
  alone: Latencies;
  /** Writer queries that overlapped the apply. */
  during: Latencies;
  errors: number;
  firstError?: string;
}

const percentile = (sorted: number[], share: number) => sorted[Math.max(0, Math.ceil(share * sorted.length) - 1)] ?? NaN;

/** The writer's queries seen in flight during the apply (or after it, when they began before its end), longest first. */
const inFlightDuring = ({ samples }: WriterReport, from: number, to: number) =>
  samples.filter(({ at }) => at >= from).flatMap(({ at, inFlight }) => inFlight.filter(({ ms }) => at - ms <= to)).sort((a, b) => b.ms - a.ms);

function latencies(report: WriterReport, from: number, to: number): Latencies {
  const durations = report.durations.filter((ms, index) => report.starts[index]! <= to && report.starts[index]! + ms >= from).sort((a, b) => a - b);
  return { p50: percentile(durations, 0.5), p99: percentile(durations, 0.99), max: durations.at(-1) ?? NaN, rate: durations.length / ((to - from) / 1000) };
}

/** How long the writer runs alone before each apply: its baseline, and time for its connections to warm up. */
const WARM_UP_MS = 2000;

/** Copies prod, runs the writer on the copy, applies with `apply` while it writes, and checks that the copy
 * ends up with dev's schema (a benchmark of an apply that did not do its job measures nothing). */
async function measureSide(server: LocalPostgres, copy: string, plan: Plan, writers: number, rows: number, apply: (url: string) => Promise<unknown>): Promise<SideResult> {
  await withClient(server.url(), (admin) => admin.query(`CREATE DATABASE ${copy} TEMPLATE prod STRATEGY FILE_COPY`));
  const url = server.url(copy);
  try {
    const writer = await startWriter({ url, connections: writers, rows });
    const warmUpStarted = epochNow();
    await sleep(WARM_UP_MS);
    const started = epochNow();
    const failure = await apply(url).then(() => undefined, (error: Error) => error);
    const ended = epochNow();
    const report = await writer.stop();
    if (failure) throw failure;
    const fingerprint = await withClient(url, async (client) => schemaFingerprint(await readSchema(client, { schemas: plan.schemas })));
    if (fingerprint !== plan.toFingerprint) throw new Error(`after the apply, ${copy} does not have dev's schema`);
    const seen = inFlightDuring(report, started, ended);
    return { applyMs: ended - started, lockWaitMs: seen.find(({ wait }) => wait.startsWith('Lock'))?.ms ?? 0, longest: seen[0] ?? { ms: 0, wait: 'none' }, alone: latencies(report, warmUpStarted, started), during: latencies(report, started, ended), errors: report.errors, firstError: report.firstError };
  } finally {
    await withClient(server.url(), (admin) => admin.query(`DROP DATABASE IF EXISTS ${copy} WITH (FORCE)`));
  }
}

/** The naive side: every statement in one transaction, as drizzle-kit's migrations run, waiting as long as it takes. */
const applyNaively = (plan: Plan) => (url: string) =>
  withClient(url, async (client) => {
    await client.query('BEGIN');
    try {
      for (const { sql } of plan.statements) await client.query(sql);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  });

/** pgpromote's side: the production apply as the worker runs it, for a promotion of its own. */
const applyWithPgpromote = (plan: Plan, devCatalog: string) => (url: string) =>
  applyToProduction(url, plan, {
    identity: { promotionId: 'bench-online', runId: randomUUID(), attempt: 1 },
    limits: DEFAULT_LIMITS,
    devCatalog,
  });

/** No table is big enough to be changed online: the plan as drizzle-kit would emit it. */
const NAIVE: PlanOptions = { onlineThresholdBytes: Number.POSITIVE_INFINITY };

// ---- The run ------------------------------------------------------------------------------------------------

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1]! : fallback;
}

async function createDatabase(server: LocalPostgres, name: string, sql: string) {
  await withClient(server.url(), (admin) => admin.query(`CREATE DATABASE ${name}`));
  await withClient(server.url(name), (client) => client.query(sql));
}

const planShape = (plan: Plan) => plan.statements.map(({ sql, mode }) => `\`${sql.trim().replace(/\s+/g, ' ')}\` (${mode})`).join('; ');
const ms = (value: number) => (value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`);
const ratio = (naive: number, online: number) => `${(naive / online).toFixed(1)}×`;
const firstLine = (error: Error) => error.message.split('\n')[0]!.replace(/\|/g, '\\|');

/** A side's cells: the apply's duration, the writer's p99 / max during it and its longest lock wait. */
const sideCells = (side: SideResult | Error) => (side instanceof Error
  ? [`failed: ${firstLine(side)}`, '–', '–']
  : [ms(side.applyMs), `${ms(side.during.p99)} / ${ms(side.during.max)}`, ms(side.lockWaitMs)]);

/** What the table leaves out: the writer's median and rate during the apply, the writer alone before it, its errors. */
const sideNote = (side: SideResult | Error) => {
  if (side instanceof Error) return `; failed: ${side.message}`;
  const errors = side.errors ? `; ${side.errors} writer queries failed (first: ${side.firstError})` : '';
  return `; writer during the apply: p50 ${ms(side.during.p50)}, ${Math.round(side.during.rate)} queries/s, longest query seen ${ms(side.longest.ms)} (waiting on ${side.longest.wait}); `
    + `alone: p50 / p99 ${ms(side.alone.p50)} / ${ms(side.alone.p99)}, ${Math.round(side.alone.rate)} queries/s${errors}`;
};

async function main() {
  const rows = Number(option('--rows', '5000000'));
  const writers = Number(option('--writers', '4'));
  const changes = option('--changes', Object.keys(CHANGES).join(',')).split(',') as Change[];
  const unknown = changes.filter((change) => !(change in CHANGES));
  if (unknown.length) throw new Error(`no change named ${unknown.join(', ')}: choose among ${Object.keys(CHANGES).join(', ')}`);
  const load = [loadavg()[0]!];
  const server = await startLocalPostgres({ logFile: 'bench-postgres.log' });
  const lines: string[] = [];
  const notes: string[] = [];
  const goals: string[] = [];
  let postgresVersion = '';
  let prodSize = '';
  try {
    await withClient(server.url(), async (admin) => {
      postgresVersion = (await admin.query('SHOW server_version')).rows[0].server_version;
      // Fewer checkpoints while generating prod; the measured applies write little WAL either way.
      await admin.query("ALTER SYSTEM SET max_wal_size = '4GB'");
      await admin.query('SELECT pg_reload_conf()');
    });
    console.error(`generating prod: ${rows} orders…`);
    await createDatabase(server, 'prod', PROD_SCHEMA + prodData(rows));
    await withClient(server.url('prod'), (client) => client.query('VACUUM ANALYZE'));
    prodSize = await withClient(server.url('prod'), async (client) => (await client.query("SELECT pg_size_pretty(pg_total_relation_size('orders')) AS size")).rows[0].size);
    for (const change of changes) {
      const { label, sql } = CHANGES[change];
      const dev = `dev_${change.replace('-', '_')}`;
      await createDatabase(server, dev, PROD_SCHEMA + sql);
      const plan = (options: PlanOptions) => planUrls(server.url('prod'), server.url(dev), options);
      const naivePlan = await plan(NAIVE);
      const onlinePlan = await plan({ online: 'always' });
      if (naivePlan.statements.some((statement) => statement.mode !== 'main')) throw new Error(`the naive plan of "${label}" is not all in one transaction: ${planShape(naivePlan)}`);
      const devCatalog = await withClient(server.url(dev), async (client) => catalogHash(await readCatalogObjects(client, onlinePlan.schemas)));
      console.error(`${label}: naive…`);
      const naive = await measureSide(server, 'copy_naive', naivePlan, writers, rows, applyNaively(naivePlan)).catch((error: Error) => error);
      console.error(`${label}: pgpromote…`);
      const online = await measureSide(server, 'copy_pgpromote', onlinePlan, writers, rows, applyWithPgpromote(onlinePlan, devCatalog)).catch((error: Error) => error);
      const lockTimeoutMs = Math.max(...onlinePlan.statements.map((statement) => statement.lockTimeoutMs));
      const met = !(online instanceof Error) && online.during.p99 < 100 && online.during.max < lockTimeoutMs;
      const compared = naive instanceof Error || online instanceof Error
        ? ['–', '–']
        : [ratio(naive.during.p99, online.during.p99), ratio(naive.during.max, online.during.max)];
      lines.push(`| ${label} | ${[...sideCells(naive), ...sideCells(online), ...compared, met ? 'met' : 'MISSED'].join(' | ')} |`);
      console.error(lines.at(-1));
      notes.push(`- ${label}: naive ${planShape(naivePlan)}${sideNote(naive)}`, `  pgpromote ${planShape(onlinePlan)}${sideNote(online)}`);
      goals.push(online instanceof Error
        ? `${label}: pgpromote's apply failed, so the goal was not measured`
        : `${label}: pgpromote writer p99 ${ms(online.during.p99)}, max ${ms(online.during.max)} (goal: p99 under 100 ms, max under the lock timeout ${ms(lockTimeoutMs)}) ${met ? 'met' : 'MISSED'}`);
      await withClient(server.url(), (admin) => admin.query(`DROP DATABASE ${dev}`));
    }
  } finally {
    await server.stop();
  }
  load.push(loadavg()[0]!);
  console.log([
    `${cpus().length} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, Postgres ${postgresVersion}, `
      + `${new Date().toISOString().slice(0, 16)}Z, load average ${load.map((value) => value.toFixed(1)).join(' → ')}; `
      + `orders: ${rows} rows, ${prodSize} with its primary key; writer: ${writers} connections, inserts and updates by primary key in turn`,
    '',
    '| change | naive: apply | naive: writer p99 / max | naive: longest lock wait | pgpromote: apply | pgpromote: writer p99 / max | pgpromote: longest lock wait | p99 naive ÷ pgpromote | max naive ÷ pgpromote | goal |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...lines,
    '',
    ...notes,
    '',
    ...goals.map((goal) => `- ${goal}`),
  ].join('\n'));
}

const writerArgument = process.argv.indexOf(WRITER);
if (writerArgument < 0) await main();
else await runWriter(JSON.parse(process.argv[writerArgument + 1]!) as WriterSettings);
