// The workflow's timed paths on Temporal's time-skipping test server (installed by
// `npm run setup -- --test-server`, see scripts/test-server.ts), with a real worker, real activities
// and the run's real Postgres: realistic timeouts (a 7-day approval timeout, a 1-hour revert window)
// pass in no time while `result()` is awaited. Decisions go through the workflow's messages
// (workflows/messages.ts), as the CLI sends them.
//
// To hold a promotion in a stage while a message arrives, the test blocks the stage's real work in
// Postgres: a lock on a prod table (the planner's measures and pg_dump wait for it), or a column
// default that waits until the test creates a role (the trial's rewrite of the table waits for it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { columnsOf as columns, createDatabase, dropDatabase, serverUrl, sql } from './support.ts';
import { branchesOf, startTimeSkippingStack, waitForStage, type Promotion, type TimeSkippingStack } from './time-skipping-stack.ts';
import {
  approveSignal, approveUpdate, cancelUpdate, rejectUpdate, revertUpdate, statusQuery,
  type Approval, type Decision, type PromotionState, type Stage,
} from '../workflows/messages.ts';

// `archive` is left out of the branching case's plan, but pg_dump copies it (and waits for its lock).
const APP = `
  CREATE SCHEMA archive;
  CREATE TABLE archive.entries (id int);
  CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL UNIQUE);
  CREATE TABLE projects (id serial PRIMARY KEY, owner_id int NOT NULL REFERENCES users(id), name text NOT NULL);
`;
const DATA = `
  INSERT INTO users (email) SELECT 'user' || i || '@example.com' FROM generate_series(1, 20) i;
  INSERT INTO projects (owner_id, name) SELECT 1 + i % 20, 'project ' || i FROM generate_series(1, 40) i;
`;
const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;

let stack: TimeSkippingStack;
const created: string[] = [];

beforeAll(async () => {
  stack = await startTimeSkippingStack('test-time-skipping.log');
});
afterAll(async () => {
  await stack?.stop();
  for (const name of created) await dropDatabase(name);
});

/** prod with the app and its rows, dev with the app changed by `devChange`; dropped after the file. */
async function databases(devChange: string) {
  const [prod, dev] = await Promise.all([createDatabase('prod', APP + DATA), createDatabase('dev', APP + devChange)]);
  created.push(prod.name, dev.name);
  return { prod, dev };
}

/** Sends `message` as an update; returns the workflow's reason when it refused it. */
async function refusal<A>(promotion: Promotion, update: UpdateDefinition<PromotionState, [A]>, message: A): Promise<string> {
  try {
    await promotion.executeUpdate(update, { args: [message] });
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError) return error.cause?.message ?? error.message;
    throw error;
  }
  throw new Error(`the update ${update.name} was accepted`);
}

/** Holds one of prod's tables until released: whatever reads it (the planner, pg_dump) waits. */
async function lockTable(prodUrl: string, table: 'projects' | 'archive.entries'): Promise<{ release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: prodUrl });
  await client.connect();
  await client.query('BEGIN');
  await client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  return {
    async release() {
      await client.query('ROLLBACK');
      await client.end();
    },
  };
}

/** Dev's change for a trial that waits: a new column whose default waits until the role `gate` exists. */
function gatedColumn(gate: string): string {
  return `
    CREATE FUNCTION gate_${gate}() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
      WHILE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${gate}') LOOP PERFORM pg_sleep(0.05); END LOOP;
      RETURN 1;
    END $$;
    ALTER TABLE users ADD COLUMN gated int DEFAULT gate_${gate}();
  `;
}
const gateName = () => `gate_${randomUUID().slice(0, 8)}`;
const openGate = (gate: string) => sql(`CREATE ROLE ${gate}`);
const removeGate = (gate: string) => sql(`DROP ROLE IF EXISTS ${gate}`);

/** Awaits the promotion's result, while the server skips time: its clock must have moved about `ms`. The
 * workflow's timer started a moment before the clock is first read here (by ~0.1 s under load, as CI saw),
 * so a minute of slack is allowed: what matters is that days passed on the server, not on the test's clock. */
async function resultAfterSkipping(promotion: Promotion, ms: number): Promise<PromotionState> {
  const before = await stack.env.currentTimeMs();
  const done = await promotion.result();
  expect(await stack.env.currentTimeMs()).toBeGreaterThanOrEqual(before + ms - 60_000);
  return done;
}

/** After a cancel, activities the workflow stopped waiting for may still be running: wait for them to end. */
async function activitiesDone(): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (stack.worker.getStatus().numInFlightActivities > 0) {
    if (Date.now() > deadline) throw new Error('activities still running after 120 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('timed paths on the time-skipping server', () => {
  it('expires after a 7-day approval timeout: no decision, trial branch deleted, prod untouched', async () => {
    const { prod, dev } = await databases('ALTER TABLE projects ADD COLUMN color text;');
    const promotion = await stack.start({ dev: dev.url, prod: prod.url, approvalTimeout: '7 days' });
    const waiting = await waitForStage(promotion, ['awaiting-approval']);
    expect(waiting.stage).toBe('awaiting-approval');
    expect(await branchesOf(serverUrl(), promotion.workflowId)).toEqual([waiting.branch!.id]);
    const done = await resultAfterSkipping(promotion, 7 * DAY_MS);
    expect(done).toMatchObject({ outcome: 'expired', stage: 'finished', approvals: [] });
    expect(await branchesOf(serverUrl(), promotion.workflowId)).toEqual([]);
    expect(await columns(prod.name, 'projects')).toEqual(['id', 'owner_id', 'name']);
  });

  it('expires when nobody answers its questions within the approval timeout: nothing branched, prod untouched', async () => {
    const { prod, dev } = await databases('ALTER TABLE projects RENAME COLUMN name TO title;');
    const promotion = await stack.start({ dev: dev.url, prod: prod.url, approvalTimeout: '3 days' });
    const asking = await waitForStage(promotion, ['awaiting-answers']);
    expect(asking.plan!.questions).toEqual([expect.objectContaining({ object: 'public.projects.name', candidates: ['public.projects.title'] })]);
    const done = await resultAfterSkipping(promotion, 3 * DAY_MS);
    expect(done).toMatchObject({ outcome: 'expired', stage: 'finished', answered: [] });
    expect(done.branch).toBeUndefined();
    expect(await columns(prod.name, 'projects')).toEqual(['id', 'owner_id', 'name']);
  });

  it('keeps the apply when its 1-hour revert window passes, and deletes the backup', async () => {
    const { prod, dev } = await databases('ALTER TABLE users ADD COLUMN phone text;');
    const promotion = await stack.start({ dev: dev.url, prod: prod.url, approvalTimeout: '7 days', revertWindow: '1 hour' });
    const waiting = await waitForStage(promotion, ['awaiting-approval']);
    await promotion.executeUpdate(approveUpdate, { args: [{ by: 'alice', planHash: waiting.plan!.planHash }] });
    const applied = await waitForStage(promotion, ['revert-window']);
    expect(applied).toMatchObject({ stage: 'revert-window', outcome: 'applied' });
    expect(await branchesOf(serverUrl(), promotion.workflowId)).toEqual([applied.backup!.id]); // the trial branch went after the apply
    const done = await resultAfterSkipping(promotion, HOUR_MS);
    expect(done).toMatchObject({ outcome: 'applied', stage: 'finished', approvals: [{ by: 'alice' }] });
    expect(done.revert).toBeUndefined();
    expect(await branchesOf(serverUrl(), promotion.workflowId)).toEqual([]);
    expect(await columns(prod.name, 'users')).toEqual(['id', 'email', 'phone']);
  });

  it('refuses every update it cannot take, with its reason, and changes nothing', async () => {
    // Dropping a column loses data: an approval must say it accepts that.
    const { prod, dev } = await databases('ALTER TABLE projects DROP COLUMN name;');
    const promotion = await stack.start({ dev: dev.url, prod: prod.url, approvalTimeout: '7 days', revertWindow: '1 hour' });
    const waiting = await waitForStage(promotion, ['awaiting-approval']);
    const planHash = waiting.plan!.planHash;
    const approval: Approval = { by: 'alice', planHash, acceptDataLoss: true };

    expect(await refusal(promotion, approveUpdate, { ...approval, planHash: 'f'.repeat(64) })).toBe(
      `the promotion waits on plan ${planHash}, not "${'f'.repeat(64)}": review that plan, then approve it by its hash`,
    );
    expect(await refusal(promotion, approveUpdate, { by: 'alice', planHash })).toMatch(
      /^the plan loses data \(.*public\.projects\.name.*\): approve with acceptDataLoss: true/,
    );
    for (const [update, message] of [
      [approveUpdate, { ...approval, by: '' }],
      [approveUpdate, { ...approval, by: '  ' }],
      [rejectUpdate, { by: '' }],
      [cancelUpdate, { by: '' }],
    ] as [UpdateDefinition<PromotionState, [Decision]>, Decision][]) {
      expect(await refusal(promotion, update, message)).toBe('say who decides: `by` must be a name, e.g. {"by": "alice"}');
    }
    expect(await refusal(promotion, revertUpdate, { by: 'bob' })).toMatch(/^the promotion cannot be reverted now \(it is awaiting-approval\)/);
    // A refused signal (as from the Temporal UI) is recorded with the same reason.
    await promotion.signal(approveSignal, { by: 'mallory', planHash: 'f'.repeat(64) });
    const unchanged = await promotion.query(statusQuery);
    expect(unchanged).toMatchObject({ stage: 'awaiting-approval', approvals: [], ignored: [{ by: 'mallory', reason: expect.stringContaining(`waits on plan ${planHash}`) }] });
    expect(unchanged.rejection).toBeUndefined();
    expect(unchanged.cancellation).toBeUndefined();

    await promotion.executeUpdate(approveUpdate, { args: [approval] });
    await waitForStage(promotion, ['revert-window']);
    expect(await refusal(promotion, approveUpdate, { ...approval, by: 'bob' })).toBe('the promotion is not waiting for approval (it is revert-window, applied)');
    expect(await refusal(promotion, rejectUpdate, { by: 'carol' })).toBe(
      'the promotion can no longer be rejected (it is revert-window, applied, approved by alice)',
    );
    expect(await refusal(promotion, cancelUpdate, { by: 'carol' })).toBe('the promotion can no longer be cancelled (it is revert-window, applied)');
    expect(await refusal(promotion, revertUpdate, { by: '' })).toBe('say who decides: `by` must be a name, e.g. {"by": "alice"}');
    expect(await promotion.query(statusQuery)).toMatchObject({ stage: 'revert-window', outcome: 'applied', approvals: [{ by: 'alice' }] });
    expect(await columns(prod.name, 'projects')).toEqual(['id', 'owner_id']);

    expect(await promotion.result()).toMatchObject({ outcome: 'applied', stage: 'finished' });
    expect(await branchesOf(serverUrl(), promotion.workflowId)).toEqual([]);
  });

  it('is rejected during its trial: outcome rejected, prod untouched, trial branch deleted', async () => {
    const gate = gateName();
    try {
      const { prod, dev } = await databases(gatedColumn(gate));
      const promotion = await stack.start({ dev: dev.url, prod: prod.url, approvalTimeout: '7 days' });
      expect((await waitForStage(promotion, ['trial'])).stage).toBe('trial');
      const rejected = await promotion.executeUpdate(rejectUpdate, { args: [{ by: 'bob', comment: 'not this one' }] });
      expect(rejected).toMatchObject({ stage: 'trial', rejection: { by: 'bob', comment: 'not this one' } });
      await openGate(gate);
      const done = await promotion.result();
      expect(done).toMatchObject({ outcome: 'rejected', stage: 'finished' });
      expect(done.apply).toBeUndefined();
      expect(await branchesOf(serverUrl(), promotion.workflowId)).toEqual([]);
      expect(await columns(prod.name, 'users')).toEqual(['id', 'email']);
    } finally {
      await removeGate(gate);
    }
  });
});

describe('cancelled in each stage before prod is touched: outcome cancelled, branches deleted, prod untouched', () => {
  const NEW_TABLE = 'CREATE TABLE tags (id serial PRIMARY KEY, label text);';
  type Start = (options?: { excludeSchemas?: string[] }) => Promise<Promotion>;
  type Hold = (prodUrl: string, gate: string, start: Start) => Promise<{ promotion: Promotion; release(): Promise<unknown> }>;
  /** The table is locked before the promotion starts, and stays locked until released. */
  const lockedFromStart = (table: 'projects' | 'archive.entries', options?: { excludeSchemas?: string[] }): Hold => async (prodUrl, _gate, start) => {
    const lock = await lockTable(prodUrl, table);
    return { promotion: await start(options), release: lock.release };
  };
  /** Each stage with a dev change that gets there, and how the test holds the promotion in it until `release`. */
  const stages: { stage: Stage; devChange: (gate: string) => string; hold: Hold }[] = [
    // The planner reads the table: it waits for the lock.
    { stage: 'planning', devChange: () => 'ALTER TABLE projects DROP COLUMN name;', hold: lockedFromStart('projects') },
    // Renamed or dropped? The promotion asks, and waits.
    {
      stage: 'awaiting-answers',
      devChange: () => 'ALTER TABLE projects RENAME COLUMN name TO title;',
      hold: async (_prodUrl, _gate, start) => ({ promotion: await start(), release: async () => {} }),
    },
    // The plan leaves `archive` out, so planning does not wait; pg_dump copies every schema, and waits.
    { stage: 'branching', devChange: () => NEW_TABLE, hold: lockedFromStart('archive.entries', { excludeSchemas: ['archive'] }) },
    {
      stage: 'trial',
      devChange: gatedColumn,
      hold: async (_prodUrl, gate, start) => ({ promotion: await start(), release: () => openGate(gate) }),
    },
    {
      stage: 'awaiting-approval',
      devChange: () => NEW_TABLE,
      hold: async (_prodUrl, _gate, start) => ({ promotion: await start(), release: async () => {} }),
    },
    {
      // Approved while prod is locked: the backup's pg_dump waits for the lock.
      stage: 'backing-up',
      devChange: () => NEW_TABLE,
      hold: async (prodUrl, _gate, start) => {
        const promotion = await start();
        const waiting = await waitForStage(promotion, ['awaiting-approval']);
        const lock = await lockTable(prodUrl, 'projects');
        await promotion.executeUpdate(approveUpdate, { args: [{ by: 'alice', planHash: waiting.plan!.planHash }] });
        return { promotion, release: lock.release };
      },
    },
  ];

  it.each(stages)('$stage', async ({ stage, devChange, hold }) => {
    const gate = gateName();
    let release: () => Promise<unknown> = async () => {};
    try {
      const { prod, dev } = await databases(devChange(gate));
      const start: Start = (options) => stack.start({ dev: dev.url, prod: prod.url, approvalTimeout: '7 days', revertWindow: '1 hour', ...options });
      const held = await hold(prod.url, gate, start);
      const promotion = held.promotion;
      release = held.release;
      expect((await waitForStage(promotion, [stage])).stage).toBe(stage);

      const answer = await promotion.executeUpdate(cancelUpdate, { args: [{ by: 'carol', comment: `stop in ${stage}` }] });
      expect(answer).toMatchObject({ stage, cancellation: { by: 'carol', comment: `stop in ${stage}` } });
      // The stage's work may go on now (the workflow may wait for it to end, or not): it must leave no branch behind.
      await release();
      release = async () => {};
      const done = await promotion.result();
      expect(done).toMatchObject({ outcome: 'cancelled', stage: 'finished', cancellation: { by: 'carol' } });
      expect(done.apply).toBeUndefined();
      await activitiesDone();
      expect(await branchesOf(serverUrl(), promotion.workflowId)).toEqual([]);
      expect(await columns(prod.name, 'projects')).toEqual(['id', 'owner_id', 'name']);
      expect(await columns(prod.name, 'users')).toEqual(['id', 'email']);
      expect((await sql("SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = '_pgpromote'", prod.name)).rows[0].n).toBe(0);
    } finally {
      await release();
      await removeGate(gate);
    }
  });
});
