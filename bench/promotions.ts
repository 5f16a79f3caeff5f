// Benchmark of many promotions at once on one worker.
//   npx tsx bench/promotions.ts [--promotions 100] [--rows 2000]
// One embedded Postgres holds N prod databases (customers and orders with rows) and N dev databases (the
// next release: a new column and an index); a real Temporal dev server; ONE worker in a process of its own,
// tuned by the same PGPROMOTE_MAX_* settings as `npm run worker`, whose memory is sampled. All N promotions
// start at once (local branches); once all wait for approval, all are approved at once. Each phase's times
// come from each workflow's history: the phase's length, and how much of it activities ran
// (started → completed), waited for a free activity slot (scheduled → started), or neither (the
// orchestration: workflow tasks and the hops between them). Prints a markdown report.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { tsToMs } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { startLocalPostgres, type LocalPostgres } from '../scripts/postgres.ts';
import { startTemporalDevServer } from '../scripts/temporal.ts';
import { connect, withClient } from '../activities/db.ts';
import { PromotionClient, type PromotionStatus } from '../client/client.ts';
import type { PromotionState } from '../workflows/messages.ts';
import { DEFAULTS, loadWorkerTuning, type Config } from '../worker/config.ts';
import { startWorkerProcess, type WorkerProcess } from '../test/worker-process.ts';

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];

const PROD_SCHEMA = `
  CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers (id), status text NOT NULL,
    total numeric(12, 2) NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
  CREATE INDEX orders_customer_id_idx ON orders (customer_id);
`;
const prodRows = (rows: number) => `
  INSERT INTO customers SELECT i, 'user' || i || '@example.com', 'User ' || i FROM generate_series(1, ${Math.max(1, Math.floor(rows / 4))}) i;
  INSERT INTO orders SELECT i, 1 + i % ${Math.max(1, Math.floor(rows / 4))}, (ARRAY['new', 'paid', 'shipped'])[1 + i % 3], i % 500 FROM generate_series(1, ${rows}) i;
  ANALYZE;
`;
// The next release: no question to answer, no data lost; an index build is a `locking` hazard to approve.
const DEV_CHANGES = `
  ALTER TABLE orders ADD COLUMN shipped_at timestamptz;
  CREATE INDEX orders_status_idx ON orders (status);
`;
/** One Postgres plays 2N servers' part: raise its connection limit so that the worker's concurrency is what is measured. */
const MAX_CONNECTIONS = 600;

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number of at least 1`);
  return value;
}

/** Postgres with MAX_CONNECTIONS: started once to set it, then again so that it takes effect. */
async function startPostgres(dataDir: string, logFile: string): Promise<LocalPostgres> {
  const first = await startLocalPostgres({ dataDir, logFile });
  await withClient(first.url(), (admin) => admin.query(`ALTER SYSTEM SET max_connections = ${MAX_CONNECTIONS}`));
  await first.stop();
  return startLocalPostgres({ dataDir, logFile });
}

async function createDatabases(server: LocalPostgres, count: number, rows: number): Promise<void> {
  await withClient(server.url(), async (admin) => {
    const create = (name: string, template?: string) => admin.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`);
    await create('bench_prod');
    await create('bench_dev');
    await withClient(server.url('bench_prod'), (prod) => prod.query(PROD_SCHEMA + prodRows(rows)));
    await withClient(server.url('bench_dev'), (dev) => dev.query(PROD_SCHEMA + DEV_CHANGES));
    for (let i = 0; i < count; i++) {
      await create(`prod_${i}`, 'bench_prod');
      await create(`dev_${i}`, 'bench_dev');
    }
  });
}

/** Every second while the benchmark runs: the worker's resident memory, and the Postgres sessions pgpromote holds. */
async function sampleWorker(worker: WorkerProcess, postgresUrl: string) {
  const samples: { at: number; mb: number }[] = [];
  let peakSessions = 0;
  const read = (field: 'VmRSS' | 'VmHWM') => {
    const match = readFileSync(`/proc/${worker.pid}/status`, 'utf8').match(new RegExp(`${field}:\\s+(\\d+) kB`));
    return match ? Number(match[1]) / 1024 : NaN;
  };
  const sessions = await connect(postgresUrl, 'bench');
  const sample = async () => {
    samples.push({ at: Date.now(), mb: read('VmRSS') });
    const { rows } = await sessions.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'pgpromote%'`);
    peakSessions = Math.max(peakSessions, rows[0].n);
  };
  await sample();
  const timer = setInterval(() => void sample().catch(() => {}), 1000);
  return {
    samples,
    peakSessions: () => peakSessions,
    /** Highest sample between two instants. */
    peakBetween: (from: number, to: number) => Math.max(...samples.filter((s) => s.at >= from && s.at <= to).map((s) => s.mb)),
    /** The kernel's own high-water mark, which no sampling interval can miss. */
    peak: () => read('VmHWM'),
    stop: async () => {
      clearInterval(timer);
      await sessions.end();
    },
  };
}

interface PhaseTimes {
  totalMs: number;
  /** Activities running (started → completed). */
  activitiesMs: number;
  /** Activities waiting for a free slot on the worker (scheduled → started). */
  slotWaitMs: number;
  /** The rest: the orchestration's own time, */
  orchestrationMs: number;
  /** of which workflow tasks waiting for the worker (scheduled → started), */
  taskWaitMs: number;
  /** and workflow tasks running (started → completed); what remains is the server's hops between them. */
  taskRunMs: number;
}

type Interval = [number, number];

/** Length of the union of `intervals`, clipped to [from, to]. */
function coveredMs(intervals: Interval[], from: number, to: number): number {
  const clipped = intervals.map(([a, b]): Interval => [Math.max(a, from), Math.min(b, to)]).filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let total = 0;
  let end = -Infinity;
  for (const [a, b] of clipped) {
    if (b <= end) continue;
    total += b - Math.max(a, end);
    end = b;
  }
  return total;
}

/** For activity or workflow tasks: scheduled → started (waiting) and started → closed (running), paired by the scheduled event's id. */
function taskIntervals(events: HistoryEvent[], kind: 'activityTask' | 'workflowTask') {
  const scheduled = new Map<string, number>();
  const started = new Map<string, number>();
  const waiting: Interval[] = [];
  const running: Interval[] = [];
  for (const event of events) {
    const at = tsToMs(event.eventTime);
    if (event[`${kind}ScheduledEventAttributes`]) scheduled.set(String(event.eventId), at);
    const startedOf = event[`${kind}StartedEventAttributes`]?.scheduledEventId;
    if (startedOf) started.set(String(startedOf), at);
    const closed = event[`${kind}CompletedEventAttributes`] ?? event[`${kind}FailedEventAttributes`] ?? event[`${kind}TimedOutEventAttributes`];
    if (closed?.scheduledEventId) {
      const key = String(closed.scheduledEventId);
      const start = started.get(key) ?? at;
      waiting.push([scheduled.get(key)!, start]);
      running.push([start, at]);
    }
  }
  return { waiting, running };
}

/** How [from, to] of one workflow's history splits between activities and orchestration. Overlaps count once, for the first of:
 * activities running, waiting for a slot, workflow tasks waiting, running. */
function phaseTimes(events: HistoryEvent[], from: number, to: number): PhaseTimes {
  const activities = taskIntervals(events, 'activityTask');
  const tasks = taskIntervals(events, 'workflowTask');
  const layers = [activities.running, activities.waiting, tasks.waiting, tasks.running];
  const upTo = layers.map((_, i) => coveredMs(layers.slice(0, i + 1).flat(), from, to));
  const totalMs = to - from;
  return {
    totalMs,
    activitiesMs: upTo[0]!,
    slotWaitMs: upTo[1]! - upTo[0]!,
    orchestrationMs: totalMs - upTo[1]!,
    taskWaitMs: upTo[2]! - upTo[1]!,
    taskRunMs: upTo[3]! - upTo[2]!,
  };
}

const eventTime = (event: HistoryEvent | undefined) => (event ? tsToMs(event.eventTime) : NaN);

/** Start → the workflow task that left it waiting for approval (the last one in its history, as it waits). */
function toApproval(events: HistoryEvent[]): PhaseTimes {
  const lastTask = [...events].reverse().find((event) => event.workflowTaskCompletedEventAttributes);
  return phaseTimes(events, eventTime(events[0]), eventTime(lastTask));
}

/** The accepted approval → the workflow's completion. */
function toFinished(events: HistoryEvent[]): PhaseTimes {
  const accepted = events.find((event) => event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'approve');
  return phaseTimes(events, eventTime(accepted), eventTime(events.at(-1)));
}

/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

const seconds = (ms: number) => (ms / 1000).toFixed(2);

function phaseRow(name: string, reached: number, count: number, times: PhaseTimes[], wallMs: number, peakMb: number): string {
  const p = (pick: (t: PhaseTimes) => number, q: number) => seconds(percentile(times.map(pick), q));
  const overhead = (t: PhaseTimes) => t.totalMs - t.activitiesMs;
  return `| ${name} | ${reached}/${count} | ${seconds(wallMs)} s | ${p((t) => t.totalMs, 50)} / ${p((t) => t.totalMs, 99)} s | `
    + `${p((t) => t.activitiesMs, 50)} s | ${p(overhead, 50)} / ${p(overhead, 99)} s | ${p((t) => t.slotWaitMs, 50)} s | `
    + `${p((t) => t.orchestrationMs, 50)} / ${p((t) => t.orchestrationMs, 99)} s | ${p((t) => t.taskWaitMs, 50)} / ${p((t) => t.taskRunMs, 50)} s | ${Math.round(peakMb)} MB |`;
}

/** The distinct reasons promotions did not get where they should have, with how many each. */
function problems(states: PromotionState[], expected: (state: PromotionState) => boolean): string[] {
  const counts = new Map<string, number>();
  for (const state of states.filter((s) => !expected(s))) {
    const why = `${state.stage}${state.outcome ? ` (${state.outcome})` : ''}${state.error ? `: ${state.error}` : ''}`;
    counts.set(why, (counts.get(why) ?? 0) + 1);
  }
  return [...counts].map(([why, count]) => `- ${count} × ${why}`);
}

async function main() {
  const count = option('--promotions', 100);
  const rows = option('--rows', 2000);
  const tuning = loadWorkerTuning(); // the worker process reads the same environment
  const dir = mkdtempSync(path.join(tmpdir(), 'pgpromote-bench-promotions-'));
  const stops: (() => Promise<unknown>)[] = [async () => rmSync(dir, { recursive: true, force: true })];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((error) => console.error(`while stopping: ${error.message}`));
  };
  try {
    console.error(`starting Postgres, the Temporal dev server, ${count} prod and ${count} dev databases (logs in ${dir})…`);
    const server = await startPostgres(dir, path.join(dir, 'postgres.log'));
    stops.push(() => server.stop());
    const temporal = await startTemporalDevServer({ logFile: path.join(dir, 'temporal.log') });
    stops.push(() => temporal.stop());
    await createDatabases(server, count, rows);

    const config: Config = { ...DEFAULTS, address: temporal.address, taskQueue: 'bench-promotions', secretKeys: [randomBytes(32).toString('hex')] };
    const worker = await startWorkerProcess(config);
    stops.push(() => worker.stop());
    const memory = await sampleWorker(worker, server.url());
    stops.push(() => memory.stop());
    const idleMb = memory.samples[0]!.mb;
    const client = await PromotionClient.connect(config);
    stops.push(() => client.close());

    console.error(`starting ${count} promotions at once…`);
    const ids = Array.from({ length: count }, (_, i) => `bench-${i}`);
    const started = Date.now();
    const loadBefore = loadavg()[0]!;
    await Promise.all(ids.map((id, i) =>
      client.deploy({ id, dev: server.url(`dev_${i}`), prod: server.url(`prod_${i}`), branch: { provider: 'local', copy: 'template' } })));
    // One waiter at a time: status is a query the worker answers, and the benchmark must not be its main load.
    const waiting: PromotionStatus[] = [];
    for (const id of ids) waiting.push(await client.waitForStage(id, ['awaiting-approval']));
    const allWaiting = Date.now();
    const reached = waiting.filter((state) => state.stage === 'awaiting-approval');
    const history = async (id: string) => (await client.temporal.workflow.getHandle(id).fetchHistory()).events ?? [];
    const approvalTimes = await Promise.all(reached.map(async (state) => toApproval(await history(state.promotionId))));

    console.error(`${reached.length} wait for approval; approving them all at once…`);
    const approving = Date.now();
    await Promise.all(reached.map((state) => client.approve(state.promotionId, { by: 'bench', planHash: state.plan!.planHash })));
    const finished = await Promise.all(reached.map((state) => client.result(state.promotionId).catch((error: Error) => ({ ...state, stage: 'finished', outcome: 'failed', error: error.message }) as PromotionStatus)));
    const allFinished = Date.now();
    const applied = finished.filter((state) => state.outcome === 'applied');
    const finishTimes = await Promise.all(applied.map(async (state) => toFinished(await history(state.promotionId))));
    const shipped = await Promise.all(applied.map((state) => withClient(server.url(`prod_${ids.indexOf(state.promotionId)}`), async (prod) =>
      (await prod.query(`SELECT 1 FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'shipped_at'`)).rowCount === 1)));
    await memory.stop();

    const lines = [
      `${count} promotions, ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), Node ${process.versions.node}, ${new Date().toISOString().slice(0, 16)} UTC; `
        + `prod: ${rows} orders and ${Math.floor(rows / 4)} customers each; worker: ${tuning.maxConcurrentActivityTaskExecutions} activities, `
        + `${tuning.maxConcurrentWorkflowTaskExecutions} workflow tasks, ${tuning.maxCachedWorkflows} cached workflows at once; `
        + `machine load average ${loadBefore.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end.`,
      '',
      '| phase | reached | all there after | time per promotion p50 / p99 | activities ran p50 | overhead p50 / p99 | of which waiting for an activity slot p50 | of which orchestration p50 / p99 | of that, workflow tasks waiting / running p50 | worker peak RSS |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      phaseRow('start → awaiting-approval', reached.length, count, approvalTimes, allWaiting - started, memory.peakBetween(started, allWaiting)),
      phaseRow('approved → finished, applied', applied.length, reached.length, finishTimes, allFinished - approving, memory.peakBetween(approving, allFinished)),
      '',
      `Worker RSS: ${Math.round(idleMb)} MB idle, peak ${Math.round(memory.peak())} MB (kernel high-water mark); over time (s: MB): `
        + rssTimeline(memory.samples, started),
      `Postgres sessions held by pgpromote at once: at most ${memory.peakSessions()} (sampled every second).`,
      `prod checked after the run: ${shipped.filter(Boolean).length}/${applied.length} applied prods have the new column.`,
      ...problems(waiting, (s) => s.stage === 'awaiting-approval'),
      ...problems(finished, (s) => s.outcome === 'applied'),
    ];
    console.log(lines.join('\n'));
  } finally {
    await stopAll();
  }
}

/** About 20 samples, evenly spread, in seconds since `from`. */
function rssTimeline(samples: { at: number; mb: number }[], from: number): string {
  const step = Math.max(1, Math.floor(samples.length / 20));
  return samples.filter((_, i) => i % step === 0).map((s) => `${Math.round((s.at - from) / 1000)}: ${Math.round(s.mb)}`).join(', ');
}

await main();
