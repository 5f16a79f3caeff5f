// One promotion per prod at a time: a real worker, the real Temporal dev server and real Postgres.
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createDatabase, dropDatabase } from './support.ts';
import { startWorker, type TestWorker } from './worker.ts';
import { prodIdentity, prodLockId } from '../activities/prod-identity.ts';
import { lockStateQuery, prodLock } from '../workflows/prod-lock.ts';
import type { DeployOptions } from '../client/client.ts';

const SCHEMA = 'CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);';
const DEV_CHANGE = 'ALTER TABLE users ADD COLUMN nickname text;';

let worker: TestWorker;
beforeAll(async () => {
  worker = await startWorker();
});
afterAll(() => worker?.stop());

/** Dropped when the test ends (WITH FORCE: a promotion left queued may still hold a connection). */
const dropAfterTest = (name: string) => onTestFinished(() => dropDatabase(name));

async function databases() {
  const prod = await createDatabase('prod', SCHEMA);
  const dev = await createDatabase('dev', SCHEMA + DEV_CHANGE);
  dropAfterTest(prod.name);
  dropAfterTest(dev.name);
  return { prod, dev };
}

/** Starts a promotion of `dev` to `prod` (template copies: fast, fine for tests). */
const deploy = (target: { prod: { url: string }; dev: { url: string } }, options: Partial<DeployOptions> = {}) =>
  worker.client.deploy({ dev: target.dev.url, prod: target.prod.url, branch: { provider: 'local', copy: 'template' }, ...options });

/** The first promotion holds prod's lock while it waits for approval. */
async function holding(target: { prod: { url: string }; dev: { url: string } }) {
  const id = await deploy(target);
  const state = await worker.client.waitForStage(id, ['awaiting-approval', 'finished']);
  expect(state.stage).toBe('awaiting-approval');
  return { id, branch: state.branch!.id };
}

/** Waits until `id` is queued behind `holder`. */
async function queuedBehind(id: string, holder: string) {
  const state = await worker.client.waitForStage(id, ['queued', 'finished']);
  expect(state).toMatchObject({ stage: 'queued', queuedBehind: holder });
  return state;
}

/** Rejects, and waits for the promotion's clean-up to end. */
async function reject(id: string) {
  await worker.client.reject(id, { by: 'alice' });
  expect(await worker.client.result(id)).toMatchObject({ outcome: 'rejected' });
}

/** `pgpromote deploy` as a user runs it, against the test worker; resolves with its exit code and output. */
async function deployWithCli(target: { prod: { url: string }; dev: { url: string } }, args: string[]) {
  const command = ['bin/pgpromote.mjs', 'deploy', '--dev', target.dev.url, '--prod', target.prod.url, '--local-copy', 'template', ...args];
  const env = { ...process.env, TEMPORAL_ADDRESS: worker.config.address, PGPROMOTE_TASK_QUEUE: worker.config.taskQueue, PGPROMOTE_SECRET_KEYS: worker.config.secretKeys.join(',') };
  return promisify(execFile)(process.execPath, command, { cwd: fileURLToPath(new URL('..', import.meta.url)), env }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

const lockState = (identity: string) => worker.client.temporal.workflow.getHandle(prodLockId(identity)).query(lockStateQuery);

describe('prod identity', () => {
  it('is the same for every way of writing the same local database, without user or password', () => {
    const identity = prodIdentity('postgres://app:secret@DB.Example.com/shop?sslmode=require', { provider: 'local' });
    expect(identity).toBe('postgres://db.example.com:5432/shop');
    expect(prodIdentity('postgresql://other@db.example.com:5432/shop', { provider: 'local', copy: 'template' })).toBe(identity);
    expect(prodIdentity('postgres://app@db.example.com:5433/shop', { provider: 'local' })).not.toBe(identity);
    expect(prodIdentity('postgres:///shop?host=/var/run/postgresql&port=6432', { provider: 'local' })).toBe('postgres:///var/run/postgresql:6432/shop');
  });

  it('is the Neon project and branch for a Neon target, whatever the URL', () => {
    const target = { provider: 'neon', projectId: 'p-1', branchId: 'br-main', databaseName: 'shop', roleName: 'app' } as const;
    expect(prodIdentity('postgres://app:secret@ep-x.neon.tech/shop', target)).toBe('neon:p-1/br-main');
  });

  it('names a lock workflow with a safe id', () => {
    expect(prodLockId('postgres://db.example.com:5432/a "; drop')).toMatch(/^pgpromote-lock-[0-9a-f]{32}$/);
    expect(prodLockId('neon:p-1/br-main')).not.toBe(prodLockId('neon:p-1/br-other'));
  });
});

describe('one promotion per prod at a time', () => {
  it('queues a second promotion of the same prod behind the first, and runs it once the first ends', async () => {
    const target = await databases();
    const { id: first } = await holding(target);
    const second = await deploy(target);
    const queued = await queuedBehind(second, first);
    expect(queued.prodIdentity).toBe(prodIdentity(target.prod.url, { provider: 'local' }));
    expect(queued.plan).toBeUndefined(); // nothing is planned while it waits

    await reject(first);
    const running = await worker.client.waitForStage(second, ['awaiting-approval', 'finished']);
    expect(running.stage).toBe('awaiting-approval');
    expect(running.queuedBehind).toBeUndefined();
    expect(running.plan!.statements).toHaveLength(1);
    await reject(second);
  });

  it('refuses at once with deploy --no-queue, naming the running promotion, and touches nothing', async () => {
    const target = await databases();
    const { id: first } = await holding(target);
    const id = `no-queue-${first.slice(-8)}`;
    const cli = await deployWithCli(target, ['--id', id, '--no-queue']);
    expect(cli.code).toBe(1);
    const identity = prodIdentity(target.prod.url, { provider: 'local' });
    expect(cli.stderr).toContain(`prod ${identity} is being promoted by ${first}, and --no-queue refuses to wait`);

    const refused = await worker.client.status(id);
    expect(refused).toMatchObject({ stage: 'finished', outcome: 'failed' });
    expect(refused.plan).toBeUndefined();
    expect(refused.branch).toBeUndefined();
    // The running promotion keeps the lock, and nobody is left waiting for it.
    expect(await lockState(identity)).toMatchObject({ holder: { promotionId: first }, queue: [] });

    // Without --no-queue, deploy says where the promotion waits, and leaves it waiting.
    const waiting = await deployWithCli(target, ['--id', `queued-${first.slice(-8)}`]);
    expect(waiting.code).toBe(0);
    expect(waiting.stdout).toContain(`queued behind ${first}; it starts by itself once that one ends`);
    await worker.client.temporal.workflow.getHandle(`queued-${first.slice(-8)}`).cancel();
    await reject(first);
  });

  it('does not let a holder that was terminated from outside block the next promotion', async () => {
    const target = await databases();
    const { id: first, branch } = await holding(target);
    dropAfterTest(branch); // no clean-up runs in a terminated workflow
    const second = await deploy(target);
    await queuedBehind(second, first);

    await worker.client.temporal.workflow.getHandle(first).terminate('stuck');
    const running = await worker.client.waitForStage(second, ['awaiting-approval', 'finished']);
    expect(running.stage).toBe('awaiting-approval');
    await reject(second);
  });

  it('does not queue promotions of two different prods', async () => {
    const [one, two] = [await databases(), await databases()];
    const { id: first } = await holding(one);
    const other = await deploy(two);
    // It reaches approval while the first still holds its own prod's lock.
    const state = await worker.client.waitForStage(other, ['awaiting-approval', 'finished']);
    expect(state.stage).toBe('awaiting-approval');
    const stillFirst = await worker.client.status(first);
    expect(stillFirst.stage).toBe('awaiting-approval');
    expect(state.prodIdentity).not.toBe(stillFirst.prodIdentity);
    await reject(first);
    await reject(other);
  });

  it('keeps its holder and queue when it continues as new', async () => {
    // A lock whose history is full after a few events, taken by a promotion of another prod.
    const [other, target] = [await databases(), await databases()];
    const holder = await holding(other);
    const identity = prodIdentity(target.prod.url, { provider: 'local' });
    const { runId } = await worker.client.temporal.workflow.getHandle(holder.id).describe();
    const lock = await worker.client.temporal.workflow.start(prodLock, {
      workflowId: prodLockId(identity),
      taskQueue: worker.config.taskQueue,
      args: [{ prodIdentity: identity, holder: { promotionId: holder.id, runId }, queue: [], historyLimit: 10 }],
    });
    const waiting = await deploy(target);
    await queuedBehind(waiting, holder.id);

    // The holder ends without releasing this lock (it releases its own prod's): the lock finds it closed,
    // and grants the next in its queue, which it can only know from the run it continued from.
    await reject(holder.id);
    expect(await worker.client.waitForStage(waiting, ['awaiting-approval', 'finished'])).toMatchObject({ stage: 'awaiting-approval' });
    expect((await lock.describe()).runId).not.toBe(lock.firstExecutionRunId);
    expect(await lockState(identity)).toMatchObject({ holder: { promotionId: waiting }, queue: [], historyLimit: 10 });
    await reject(waiting);
  });

  /** A promotion holding a prod, and two more queued behind it. */
  async function twoQueuedBehindOne() {
    const target = await databases();
    const { id: first } = await holding(target);
    const second = await deploy(target);
    await queuedBehind(second, first);
    const third = await deploy(target);
    await queuedBehind(third, first);
    return { first, second, third, identity: prodIdentity(target.prod.url, { provider: 'local' }) };
  }

  it('takes a promotion cancelled while queued out of the queue', async () => {
    const { first, second, third, identity } = await twoQueuedBehindOne();
    expect((await lockState(identity)).queue.map((waiting) => waiting.promotionId)).toEqual([second, third]);

    const cancelled = worker.client.temporal.workflow.getHandle(second);
    await cancelled.cancel();
    await cancelled.result().catch(() => {}); // closed (cancelled from outside, its result throws): a query in its finally says `finished` a moment sooner
    expect(await worker.client.status(second)).toMatchObject({ stage: 'finished', outcome: 'cancelled', ended: 'cancelled' });
    expect(await lockState(identity)).toMatchObject({ holder: { promotionId: first }, queue: [{ promotionId: third }] });

    await reject(first);
    expect(await worker.client.waitForStage(third, ['awaiting-approval', 'finished'])).toMatchObject({ stage: 'awaiting-approval' });
    await reject(third);
  });

  it('ends a promotion rejected or cancelled by a message while queued, and takes it out of the queue', async () => {
    const { first, second, third, identity } = await twoQueuedBehindOne();
    await worker.client.reject(second, { by: 'alice', comment: 'not now' });
    await worker.client.cancel(third, { by: 'bob' });
    for (const [id, outcome] of [[second, 'rejected'], [third, 'cancelled']]) {
      const done = await worker.client.result(id!);
      expect(done.outcome).toBe(outcome);
      expect(done.plan).toBeUndefined(); // nothing was planned
    }
    expect(await lockState(identity)).toMatchObject({ holder: { promotionId: first }, queue: [] });
    await reject(first);
  });
});
