// End to end: a real worker, the real Temporal dev server and real Postgres databases.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createDatabase, dropDatabase, sql, databaseUrl } from './support.ts';
import { startWorker, type TestWorker } from './worker.ts';
import { approveSignal, statusQuery } from '../workflows/messages.ts';
import { Worker } from '@temporalio/worker';
import { workflowsPath } from '../worker/worker.ts';
import { withClient } from '../activities/db.ts';
import { readCatalogObjects } from '../activities/convergence/catalog.ts';
import { proofOf } from '../activities/convergence/diff.ts';

const APP = `
  CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE projects (id serial PRIMARY KEY, owner_id int NOT NULL REFERENCES users(id), name text NOT NULL);
`;
const DATA = `
  INSERT INTO users (email) SELECT 'user' || i || '@example.com' FROM generate_series(1, 50) i;
  INSERT INTO projects (owner_id, name) SELECT 1 + i % 50, 'project ' || i FROM generate_series(1, 120) i;
`;

let worker: TestWorker;
const created: string[] = [];

beforeAll(async () => {
  worker = await startWorker();
});
afterAll(async () => {
  await worker?.stop();
  for (const name of created) await dropDatabase(name);
});

async function databases(devChange: string) {
  const prod = await createDatabase('prod', APP + DATA);
  const dev = await createDatabase('dev', APP + devChange);
  created.push(prod.name, dev.name);
  return { prod, dev };
}

const columns = async (database: string, table: string) =>
  (await sql(`SELECT column_name FROM information_schema.columns WHERE table_name = '${table}' ORDER BY ordinal_position`, database)).rows.map(
    (row) => row.column_name,
  );
const count = async (database: string, table: string) => Number((await sql(`SELECT count(*) AS n FROM ${table}`, database)).rows[0].n);
const branchExists = async (id: string) => (await sql(`SELECT 1 FROM pg_database WHERE datname = '${id}'`)).rowCount === 1;

describe('promotion', () => {
  it('applies an approved plan: prod gets the new table and column and keeps every row', async () => {
    const { prod, dev } = await databases(`
      CREATE TABLE comments (id serial PRIMARY KEY, project_id int NOT NULL REFERENCES projects(id), body text NOT NULL);
      ALTER TABLE projects ADD COLUMN archived boolean NOT NULL DEFAULT false;
    `);
    const { client } = worker;
    const id = await client.deploy({ dev: dev.url, prod: prod.url });
    const waiting = await client.waitForStage(id, ['awaiting-approval', 'finished']);
    expect(waiting.stage).toBe('awaiting-approval');
    expect(waiting.plan!.statements.map((s) => s.kind).sort()).toEqual(['alter_table_add_column', 'create_reference', 'create_table']);
    expect(waiting.trial!.catalog).toEqual(proofOf(await withClient(dev.url, (client) => readCatalogObjects(client, ['public']))));
    expect(await branchExists(waiting.branch!.id)).toBe(true);
    // Cleaning up leftovers spares the branch of a promotion that is still running.
    const cleanup = spawnSync(process.execPath, ['bin/pgpromote.mjs', 'branches', '--prod', prod.url, '--delete-stale'], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8',
      env: { ...process.env, TEMPORAL_ADDRESS: worker.config.address },
    });
    expect(cleanup.stdout).toMatch(new RegExp(`^${waiting.branch!.id}\tskipped: trial branch of promotion ${id} \\(run [\\w-]+, namespace default\\), which is still running$`, 'm'));
    expect(await branchExists(waiting.branch!.id)).toBe(true);

    await client.approve(id, { by: 'alice', comment: 'ship it' });
    const done = await client.result(id);
    expect(done).toMatchObject({ outcome: 'applied', stage: 'finished', approvals: [{ by: 'alice', comment: 'ship it' }] });
    expect(done.apply!.statements).toHaveLength(3);
    expect(await columns(prod.name, 'comments')).toEqual(['id', 'project_id', 'body']);
    expect(await columns(prod.name, 'projects')).toEqual(['id', 'owner_id', 'name', 'archived']);
    expect([await count(prod.name, 'users'), await count(prod.name, 'projects')]).toEqual([50, 120]);
    expect(await branchExists(waiting.branch!.id)).toBe(false);
    const ledger = await sql('SELECT plan_hash, promotion_id FROM _pgpromote.applied_plans', prod.name);
    expect(ledger.rows).toEqual([{ plan_hash: waiting.plan!.planHash, promotion_id: id }]);
    // The workflow is deterministic: its recorded history replays on the current code.
    const history = await client.temporal.workflow.getHandle(id).fetchHistory();
    await expect(Worker.runReplayHistory({ workflowsPath }, history, id)).resolves.toBeUndefined();
  });

  it('leaves prod untouched and deletes the branch when the plan is rejected', async () => {
    const { prod, dev } = await databases('ALTER TABLE users ADD COLUMN nickname text;');
    const { client } = worker;
    const id = await client.deploy({ dev: dev.url, prod: prod.url });
    const waiting = await client.waitForStage(id, ['awaiting-approval', 'finished']);
    await client.reject(id, { by: 'bob', comment: 'not today' });
    const done = await client.result(id);
    expect(done).toMatchObject({ outcome: 'rejected', rejection: { by: 'bob', comment: 'not today' } });
    expect(done.apply).toBeUndefined();
    expect(await columns(prod.name, 'users')).toEqual(['id', 'email', 'created_at']);
    expect(await branchExists(waiting.branch!.id)).toBe(false);
    await expect(client.approve(id, { by: 'bob' })).rejects.toThrow(`promotion ${id} refused "approve": it has ended (finished, rejected)`);
  });

  it('fails with the reason when a statement fails on the branch, before anyone can approve it', async () => {
    // A NOT NULL column without a default cannot be added to a table that has rows.
    const { prod, dev } = await databases('ALTER TABLE users ADD COLUMN plan text NOT NULL;');
    const { client } = worker;
    const id = await client.deploy({ dev: dev.url, prod: prod.url });
    await expect(client.result(id)).rejects.toThrow(/statement 1 of 1 failed: column "plan" of relation "users" contains null values/);
    const state = await client.status(id);
    expect(state).toMatchObject({ outcome: 'failed', stage: 'finished' });
    expect(state.plan!.statements[0]!.hazards).toEqual([
      expect.objectContaining({ kind: 'will-fail', object: 'public.users.plan', rows: 50 }),
    ]);
    expect(await columns(prod.name, 'users')).toEqual(['id', 'email', 'created_at']);
    expect(await branchExists(state.branch!.id)).toBe(false);
  });

  it('counts an approval only for the plan under review', async () => {
    const { prod, dev } = await databases('CREATE INDEX users_created_at ON users (created_at);');
    const { client } = worker;
    const id = await client.deploy({ dev: dev.url, prod: prod.url });
    const waiting = await client.waitForStage(id, ['awaiting-approval', 'finished']);
    await expect(client.approve(id, { by: 'mallory', planHash: 'f'.repeat(64) })).rejects.toThrow(/waits on plan/);
    // A raw signal (as from the Temporal UI) for another plan is recorded and ignored.
    const handle = client.temporal.workflow.getHandle(id);
    await handle.signal(approveSignal, { by: 'mallory', planHash: 'f'.repeat(64) });
    const state = await handle.query(statusQuery);
    expect(state.stage).toBe('awaiting-approval');
    expect(state.ignored).toEqual([expect.objectContaining({ by: 'mallory', reason: expect.stringContaining(`waits on plan ${waiting.plan!.planHash}`) })]);
    await client.approve(id, { by: 'alice', planHash: waiting.plan!.planHash });
    expect((await client.result(id)).outcome).toBe('applied');
  });

  it('asks for acceptDataLoss before it applies a plan that loses data', async () => {
    const { prod, dev } = await databases('ALTER TABLE projects DROP COLUMN name;');
    const { client } = worker;
    const id = await client.deploy({ dev: dev.url, prod: prod.url });
    await client.waitForStage(id, ['awaiting-approval']);
    await expect(client.approve(id, { by: 'alice' })).rejects.toThrow(/refused "approve": the plan loses data \(.*public\.projects\.name.*\): approve with acceptDataLoss: true/);
    expect((await client.status(id)).stage).toBe('awaiting-approval');
    await client.approve(id, { by: 'alice', acceptDataLoss: true });
    expect((await client.result(id)).outcome).toBe('applied');
    expect(await columns(prod.name, 'projects')).toEqual(['id', 'owner_id']);
  });

  it('is cancelled while it waits for approval: branch deleted, prod untouched, outcome cancelled', async () => {
    const { prod, dev } = await databases('ALTER TABLE projects ADD COLUMN color text;');
    const { client } = worker;
    const id = await client.deploy({ dev: dev.url, prod: prod.url });
    const waiting = await client.waitForStage(id, ['awaiting-approval']);
    await client.cancel(id, { by: 'carol', comment: 'wrong dev' });
    const done = await client.result(id);
    expect(done).toMatchObject({ outcome: 'cancelled', stage: 'finished', cancellation: { by: 'carol', comment: 'wrong dev' } });
    expect(await columns(prod.name, 'projects')).toEqual(['id', 'owner_id', 'name']);
    expect(await branchExists(waiting.branch!.id)).toBe(false);
  });

  it('survives a worker restart while it waits for approval', async () => {
    const { prod, dev } = await databases('ALTER TABLE projects ADD COLUMN color text;');
    const id = await worker.client.deploy({ dev: dev.url, prod: prod.url });
    await worker.client.waitForStage(id, ['awaiting-approval']);
    const { taskQueue, secretKeys } = worker.config;
    await worker.stop(); // the process that planned and trialled is gone
    worker = await startWorker({ taskQueue, secretKeys });
    await worker.client.approve(id, { by: 'alice' });
    expect((await worker.client.result(id)).outcome).toBe('applied');
    expect(await columns(prod.name, 'projects')).toEqual(['id', 'owner_id', 'name', 'color']);
  });

  it('reverts within the revert window: prod goes back to its backup, and its state at the revert is kept', async () => {
    const { prod, dev } = await databases('ALTER TABLE users ADD COLUMN phone text;');
    const { client } = worker;
    const id = await client.deploy({ dev: dev.url, prod: prod.url, revertWindow: '10 minutes' });
    await client.waitForStage(id, ['awaiting-approval']);
    await expect(client.revert(id, { by: 'bob' })).rejects.toThrow(/cannot be reverted now \(it is awaiting-approval\)/);
    await client.approve(id, { by: 'alice' });
    const applied = await client.waitForStage(id, ['revert-window', 'finished']);
    expect(applied).toMatchObject({ stage: 'revert-window', outcome: 'applied' });
    // Too late to reject or cancel: the workflow says so, and nothing changes.
    await expect(client.reject(id, { by: 'carol' })).rejects.toThrow(`promotion ${id} refused "reject": the promotion can no longer be rejected (it is revert-window, applied, approved by alice)`);
    await expect(client.cancel(id, { by: 'carol' })).rejects.toThrow(/refused "cancel": the promotion can no longer be cancelled \(it is revert-window, applied\)/);
    expect(await columns(prod.name, 'users')).toEqual(['id', 'email', 'created_at', 'phone']);
    expect(await branchExists(applied.branch!.id)).toBe(false); // the trial branch goes right after the apply
    await sql("UPDATE users SET phone = '555' WHERE id = 1", prod.name); // a write after the apply
    const done = await client.revert(id, { by: 'bob', comment: 'app broke' });
    expect(done).toMatchObject({ outcome: 'reverted', stage: 'finished', revert: { by: 'bob', comment: 'app broke' } });
    expect(await columns(prod.name, 'users')).toEqual(['id', 'email', 'created_at']);
    expect(await count(prod.name, 'users')).toBe(50);
    const kept = done.revert!.keptAs!;
    created.push(kept);
    expect((await sql('SELECT phone FROM users WHERE id = 1', kept)).rows).toEqual([{ phone: '555' }]);
    expect(await branchExists(done.backup!.id)).toBe(false);
  });

  it('keeps the apply when the revert window passes, and deletes the backup', async () => {
    const { prod, dev } = await databases('ALTER TABLE users ADD COLUMN phone text;');
    const { client } = worker;
    const id = await client.deploy({ dev: dev.url, prod: prod.url, revertWindow: '1 second' });
    await client.waitForStage(id, ['awaiting-approval']);
    await client.approve(id, { by: 'alice' });
    const done = await client.result(id);
    expect(done).toMatchObject({ outcome: 'applied', stage: 'finished' });
    expect(done.revert).toBeUndefined();
    expect(await columns(prod.name, 'users')).toEqual(['id', 'email', 'created_at', 'phone']);
    expect(await branchExists(done.backup!.id)).toBe(false);
  });

  it('finishes at once when prod already matches dev', async () => {
    const { prod, dev } = await databases('');
    const id = await worker.client.deploy({ dev: dev.url, prod: prod.url });
    const done = await worker.client.result(id);
    expect(done).toMatchObject({ outcome: 'up-to-date', stage: 'finished' });
    expect(done.branch).toBeUndefined();
  });

  it('keeps passwords out of workflow history and the UI', async () => {
    const role = `promoter_${randomUUID().slice(0, 8)}`;
    const password = `pw-${randomUUID()}`;
    await sql(`CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${password}'`);
    const prod = await createDatabase('prod', APP + DATA);
    const dev = await createDatabase('dev', APP + 'ALTER TABLE users ADD COLUMN bio text;');
    created.push(prod.name, dev.name);
    const withRole = (name: string) => {
      const url = new URL(databaseUrl(name));
      url.username = role;
      url.password = password;
      return url.toString();
    };
    const { client } = worker;
    const id = await client.deploy({ dev: withRole(dev.name), prod: withRole(prod.name) });
    await client.waitForStage(id, ['awaiting-approval']);
    await client.approve(id, { by: 'alice' });
    expect((await client.result(id)).outcome).toBe('applied');
    // Payloads are base64 JSON in the history: decode every one, as the UI does.
    const history = await client.temporal.workflow.getHandle(id).fetchHistory();
    const payloads: string[] = [];
    JSON.stringify(history, (key, value) => {
      if (key === 'data' && typeof value === 'string') payloads.push(Buffer.from(value, 'base64').toString('utf8'));
      return value;
    });
    const text = payloads.join('\n');
    expect(text).toContain(`${role}@`); // labels name the user, so a leaked URL would show up here
    expect(text).not.toContain(password);
    expect(JSON.stringify(history)).not.toContain(password);
  });
});
