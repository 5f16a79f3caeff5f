// Faults a promotion must survive with prod intact and an outcome that says what prod holds: a
// worker frozen or killed at any point, the Temporal server restarted, database connections cut.
// Workers run as processes of their own so that they can be stopped as an operating system would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDatabase, dropDatabase, sql } from './support.ts';
import { startWorkerProcess, type WorkerProcess } from './worker-process.ts';
import { startTcpProxy } from './tcp-proxy.ts';
import { PromotionClient } from '../client/client.ts';
import { DEFAULTS, type Config } from '../worker/config.ts';
import { startTemporalDevServer } from '../scripts/temporal.ts';
import { freePort } from '../scripts/ports.ts';
import type { Stage } from '../workflows/messages.ts';

// Checking a row costs 20 ms, so that adding the constraint to 200 rows takes seconds: long enough
// to freeze, kill or cut a worker in the middle of it.
const APP = `
  CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL);
  CREATE FUNCTION slow_positive(i int) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.02); RETURN i > 0; END $$;
`;
const DATA = 'INSERT INTO items SELECT i, i FROM generate_series(1, 200) i;';
const CHANGE = 'ALTER TABLE items ADD CONSTRAINT qty_positive CHECK (slow_positive(qty));';

const created: string[] = [];
const workers: WorkerProcess[] = [];
afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop()));
  for (const name of created) await dropDatabase(name);
});

function testConfig(address = inject('temporalAddress')): Config {
  return { ...DEFAULTS, address, taskQueue: `faults-${randomUUID()}`, secretKeys: [randomUUID()] };
}

async function startWorker(config: Config): Promise<WorkerProcess> {
  const worker = await startWorkerProcess(config);
  workers.push(worker);
  return worker;
}

async function databases() {
  const prod = await createDatabase('prod', APP + DATA);
  const dev = await createDatabase('dev', APP + CHANGE);
  created.push(prod.name, dev.name);
  return { prod, dev };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 240_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The application_name of a session of the promotion's `role` on a database named like `database`, running `query`. */
async function sessionRunning(database: string, role: 'apply' | 'trial', query: string): Promise<string | undefined> {
  const { rows } = await sql(
    `SELECT application_name FROM pg_stat_activity WHERE datname LIKE '${database}' AND application_name LIKE 'pgpromote:${role}:%'
       AND state = 'active' AND query LIKE '%${query}%'`,
  );
  return rows[0]?.application_name;
}

/** What prod holds afterwards: the constraint (how many times), its rows, and the ledger. */
async function prodState(database: string) {
  const constraints = await sql("SELECT count(*)::int AS n FROM pg_constraint WHERE conname = 'qty_positive'", database);
  const items = await sql('SELECT count(*)::int AS n FROM items', database);
  const ledger = await sql('SELECT state FROM _pgpromote.applied_plans', database).catch(() => ({ rows: [] }));
  return { constraints: constraints.rows[0].n, items: items.rows[0].n, ledger: ledger.rows.map((row) => row.state) };
}
const APPLIED = { constraints: 1, items: 200, ledger: ['applied'] };

/** Runs a query on prod's table every 50 ms from an app's own connection; reports the slowest. */
function appQueries(url: string) {
  let stopped = false;
  let slowest = { ms: 0, endedAt: 0 };
  const running = (async () => {
    const { connect } = await import('../activities/db.ts');
    const app = await connect(url, 'app');
    try {
      while (!stopped) {
        const started = Date.now();
        await app.query('SELECT count(*) FROM items');
        const ms = Date.now() - started;
        if (ms > slowest.ms) slowest = { ms, endedAt: Date.now() };
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await app.end();
    }
  })();
  return {
    async stop() {
      stopped = true;
      await running;
      return slowest;
    },
  };
}

// Each case waits out at least one heartbeat timeout of a given-up activity.
describe('faults', { timeout: 600_000 }, () => {
  let client: PromotionClient;
  let config: Config;
  beforeAll(async () => {
    config = testConfig();
    client = await PromotionClient.connect(config);
  });
  afterAll(async () => {
    await client?.close();
  });

  /** Starts a promotion and approves it once it waits for approval; returns its id. */
  async function deployAndApprove(prodUrl: string, devUrl: string, options: { revertWindow?: string; id?: string } = {}): Promise<string> {
    const id = await client.deploy({ dev: devUrl, prod: prodUrl, ...options });
    await client.waitForStage(id, ['awaiting-approval']);
    await client.approve(id, { by: 'alice' });
    return id;
  }

  it('a worker frozen in the middle of the apply never commits after it wakes; the server frees prod first, and the next attempt applies once', async () => {
    const { prod, dev } = await databases();
    const frozen = await startWorker(config);
    const app = appQueries(prod.url);
    const id = await deployAndApprove(prod.url, dev.url);
    const firstAttempt = await waitFor('the apply statement', () => sessionRunning(prod.name, 'apply', 'ADD CONSTRAINT'));
    frozen.signal('SIGSTOP');
    await startWorker(config);
    // The next attempt starts only once Temporal gave the frozen one up (its heartbeat timeout).
    const nextAttempt = await waitFor('a newer apply attempt', async () => {
      const { rows } = await sql(`SELECT 1 FROM pg_stat_activity WHERE datname = '${prod.name}' AND application_name LIKE 'pgpromote:apply:%' AND application_name <> '${firstAttempt}'`);
      return rows.length ? Date.now() : undefined;
    });
    expect((await client.result(id)).outcome).toBe('applied');
    frozen.signal('SIGCONT');
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // time to try whatever it was doing
    const slowest = await app.stop();
    // App queries waited behind the frozen attempt's lock only until the server ended its idle
    // transaction, not until Temporal gave the attempt up.
    expect(slowest.endedAt).toBeLessThan(nextAttempt);
    expect(await prodState(prod.name)).toEqual(APPLIED);
    expect((await sql('SELECT attempt FROM _pgpromote.applied_plans', prod.name)).rows[0].attempt).toBeGreaterThan(1);
  });

  it.each<[string, (database: string) => Promise<unknown>]>([
    ['in the middle of the apply statement', (database) => sessionRunning(database, 'apply', 'ADD CONSTRAINT')],
    // Whether the worker reported the apply before it died is up to chance; the outcome must not be.
    ['right after the apply committed', async (database) => ((await prodState(database)).ledger[0] === 'applied' ? true : undefined)],
  ])('a worker killed %s: the next attempt finishes, the promotion reports applied, and prod has the plan once', async (moment, reached) => {
    const { prod, dev } = await databases();
    const killed = await startWorker(config);
    const id = await deployAndApprove(prod.url, dev.url);
    await waitFor(moment, () => reached(prod.name));
    killed.signal('SIGKILL');
    await startWorker(config);
    expect((await client.result(id)).outcome).toBe('applied');
    expect(await prodState(prod.name)).toEqual(APPLIED);
  });

  it('a worker killed while it deletes the trial branch (right after the apply): the next worker finishes the clean-up promptly', async () => {
    const { prod, dev } = await databases();
    const killed = await startWorker(config);
    const id = await client.deploy({ dev: dev.url, prod: prod.url });
    await client.waitForStage(id, ['awaiting-approval']);
    const branch = (await client.status(id)).branch!.id; // a local branch's id is its database's name
    // Commenting on the branch's database (with the comment it has) holds a lock that DROP DATABASE waits for.
    const { connect } = await import('../activities/db.ts');
    const holder = await connect(inject('postgresUrl'), 'test:holder');
    try {
      await holder.query('BEGIN');
      const { rows } = await holder.query("SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1", [branch]);
      await holder.query(`COMMENT ON DATABASE "${branch}" IS ${holder.escapeLiteral(rows[0].comment)}`);
      await client.approve(id, { by: 'alice' });
      await waitFor('the branch deletion', async () => {
        const { rows: waiting } = await sql(`SELECT 1 FROM pg_stat_activity WHERE query LIKE 'DROP DATABASE "${branch}"%' AND wait_event_type = 'Lock'`);
        return waiting.length ? true : undefined;
      });
      killed.signal('SIGKILL');
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    await startWorker(config);
    // Temporal notices the dead worker by the activity's heartbeat timeout, well inside this test's time.
    const done = await client.result(id);
    expect(done.outcome).toBe('applied');
    expect(done.leftBehind).toBeUndefined();
    expect(await prodState(prod.name)).toEqual(APPLIED);
    expect((await sql(`SELECT 1 FROM pg_database WHERE datname = '${branch}'`)).rows).toEqual([]);
  }, 240_000); // well under the deletion's 10-minute start-to-close timeout, which alone would notice the dead worker

  it('a worker killed in each stage: every next worker carries the promotion on, and prod gets the plan once', async () => {
    const { prod, dev } = await databases();
    let current = await startWorker(config);
    const id = await client.deploy({ dev: dev.url, prod: prod.url, revertWindow: '2 seconds' });
    const order: Stage[] = ['planning', 'branching', 'trial', 'awaiting-approval', 'backing-up', 'applying', 'revert-window', 'finished'];
    const killedIn: Stage[] = [];
    for (const target of ['planning', 'branching', 'trial', 'backing-up', 'applying'] as Stage[]) {
      const reached = await waitFor(`stage ${target}`, async () => {
        const { stage } = await client.status(id);
        if (stage === 'awaiting-approval' && target !== 'planning' && target !== 'branching' && target !== 'trial') {
          await client.approve(id, { by: 'alice' }).catch(() => {});
          return undefined;
        }
        return order.indexOf(stage) >= order.indexOf(target) ? stage : undefined;
      });
      if (reached === 'revert-window' || reached === 'finished') break;
      current.signal('SIGKILL');
      killedIn.push(reached);
      current = await startWorker(config);
    }
    const done = await client.result(id);
    expect(done.outcome).toBe('applied');
    expect(killedIn.length).toBeGreaterThanOrEqual(3);
    expect(await prodState(prod.name)).toEqual(APPLIED);
    const left = await sql(`SELECT datname FROM pg_database WHERE datname LIKE 'pgpromote-${id}%'`);
    expect(left.rows).toEqual([]);
  });

  it('database connections cut in the middle of the trial and of the apply: the attempts after them finish, once', async () => {
    const { prod, dev } = await databases();
    const server = new URL(prod.url);
    const proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port) });
    const through = (url: string) => Object.assign(new URL(url), { port: String(proxy.port) }).toString();
    try {
      await startWorker(config);
      const id = await client.deploy({ dev: through(dev.url), prod: through(prod.url) });
      await waitFor('the trial statement', () => sessionRunning('pgpromote-%', 'trial', 'ADD CONSTRAINT'));
      expect(proxy.cut()).toBeGreaterThan(0);
      const waiting = await client.waitForStage(id, ['awaiting-approval', 'finished']);
      expect(waiting.stage).toBe('awaiting-approval');
      await client.approve(id, { by: 'alice' });
      await waitFor('the apply statement', () => sessionRunning(prod.name, 'apply', 'ADD CONSTRAINT'));
      expect(proxy.cut()).toBeGreaterThan(0);
      expect((await client.result(id)).outcome).toBe('applied');
      expect(await prodState(prod.name)).toEqual(APPLIED);
    } finally {
      await proxy.close();
    }
  });

  it('a revert while someone is connected to the backup ends that session and puts prod back', async () => {
    const { prod, dev } = await databases();
    await startWorker(config);
    const id = await deployAndApprove(prod.url, dev.url, { revertWindow: '10 minutes' });
    const applied = await client.waitForStage(id, ['revert-window', 'finished']);
    expect(applied.stage).toBe('revert-window');
    const backupUrl = Object.assign(new URL(prod.url), { pathname: `/${applied.backup!.id}` }).toString();
    const { connect } = await import('../activities/db.ts');
    const onBackup = await connect(backupUrl, 'someone');
    try {
      const reverted = await client.revert(id, { by: 'bob' });
      expect(reverted.outcome).toBe('reverted');
      await expect(onBackup.query('SELECT 1')).rejects.toThrow();
    } finally {
      await onBackup.end().catch(() => {});
    }
    expect(await prodState(prod.name)).toMatchObject({ constraints: 0, items: 200 });
  });

  it('a revert whose backup is gone fails before touching prod: prod stays as the promotion left it', async () => {
    const { prod, dev } = await databases();
    await startWorker(config);
    const id = await deployAndApprove(prod.url, dev.url, { revertWindow: '10 minutes' });
    const applied = await client.waitForStage(id, ['revert-window', 'finished']);
    await dropDatabase(applied.backup!.id);
    await expect(client.revert(id, { by: 'bob' })).rejects.toThrow(/the revert failed; prod stays as the promotion left it/);
    const after = await client.status(id);
    expect(after).toMatchObject({ stage: 'finished', outcome: 'applied' });
    expect(await prodState(prod.name)).toEqual(APPLIED);
  });

  it('a revert that fails with its backup still there keeps the backup for another try', async () => {
    const { prod, dev } = await databases();
    await startWorker(config);
    const id = await deployAndApprove(prod.url, dev.url, { revertWindow: '10 minutes' });
    const applied = await client.waitForStage(id, ['revert-window', 'finished']);
    // Someone else's database holds the name the revert keeps prod's state under: it refuses to touch prod.
    const squatter = `pgpromote-${id}-reverted`;
    await sql(`CREATE DATABASE "${squatter}"`);
    created.push(squatter);
    await expect(client.revert(id, { by: 'bob' })).rejects.toThrow(/the revert failed; prod stays as the promotion left it, and its backup .* is kept/);
    expect((await sql(`SELECT 1 FROM pg_database WHERE datname = '${applied.backup!.id}'`)).rowCount).toBe(1);
    created.push(applied.backup!.id);
    expect(await prodState(prod.name)).toEqual(APPLIED);
  });

  it('a promotion id used again starts a new promotion that applies its plan, even the same plan as before', async () => {
    const { prod, dev } = await databases();
    await startWorker(config);
    const id = `reused-${randomUUID().slice(0, 8)}`;
    for (const round of [1, 2]) {
      await deployAndApprove(prod.url, dev.url, { id });
      const done = await client.result(id);
      expect(done).toMatchObject({ outcome: 'applied', apply: { alreadyApplied: false } });
      expect((await prodState(prod.name)).constraints).toBe(1);
      if (round === 1) await sql('ALTER TABLE items DROP CONSTRAINT qty_positive', prod.name); // as a later promotion might
    }
    expect((await sql('SELECT count(DISTINCT run_id)::int AS n FROM _pgpromote.applied_plans', prod.name)).rows[0].n).toBe(2);
  });
});

describe('the Temporal server restarted', { timeout: 600_000 }, () => {
  it('while a promotion waits for approval and while it applies: it carries on and applies once', async () => {
    const state = mkdtempSync(path.join(tmpdir(), 'pgpromote-temporal-'));
    const port = await freePort();
    const options = { port, dbFile: path.join(state, 'temporal.db'), logFile: path.join(state, 'temporal.log') };
    let server = await startTemporalDevServer(options);
    const config = testConfig(server.address);
    const client = await PromotionClient.connect(config);
    try {
      const { prod, dev } = await databases();
      await startWorker(config);
      const id = await client.deploy({ dev: dev.url, prod: prod.url });
      await client.waitForStage(id, ['awaiting-approval']);
      await server.stop();
      server = await startTemporalDevServer(options);
      await client.approve(id, { by: 'alice' });
      await waitFor('the apply statement', () => sessionRunning(prod.name, 'apply', 'ADD CONSTRAINT'));
      await server.stop();
      server = await startTemporalDevServer(options);
      expect((await client.result(id)).outcome).toBe('applied');
      expect(await prodState(prod.name)).toEqual(APPLIED);
    } finally {
      await client.close();
      await server.stop();
      rmSync(state, { recursive: true, force: true });
    }
  });
});
