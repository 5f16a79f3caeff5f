// The preview: the demo's app (release 2) started on the trial branch before approval, and stopped
// whatever happens. Real worker, Temporal dev server, Postgres and app processes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { databasePairs, sql } from './support.ts';
import { startWorker, type TestWorker } from './worker.ts';
import { startWorkerProcess, type WorkerProcess } from './worker-process.ts';
import { PromotionClient } from '../client/client.ts';
import { randomUUID } from 'node:crypto';
import { PROD_DATA, RELEASE_1, RELEASE_2_CHANGES, RENAMES, DEMO_PREVIEW } from '../scripts/demo-app.ts';
import type { PreviewTarget } from '../activities/preview/provider.ts';


let worker: TestWorker;
const pairs = databasePairs();
const demoDatabases = () => pairs.pair(RELEASE_1 + PROD_DATA, RELEASE_1 + RELEASE_2_CHANGES);

beforeAll(async () => {
  worker = await startWorker();
});
afterAll(async () => {
  await worker?.stop();
  await pairs.dropAll();
});

async function deployDemo(preview: PreviewTarget) {
  const { prod, dev } = await demoDatabases();
  const id = await worker.client.deploy({ dev: dev.url, prod: prod.url, renames: RENAMES, preview });
  return { id, prod };
}

/** The process group leader of a command preview, from its id (`command:<host>:<pid>:<start>:<port>`). */
const processGroupOf = (previewId: string) => Number(previewId.split(':')[2]);
function groupRuns(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}
/** Whether any process runs exactly this command line. */
function running(argv: string[]): boolean {
  return readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).some((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8') === `${argv.join('\0')}\0`;
    } catch {
      return false;
    }
  });
}
const answers = (url: string) => fetch(url, { signal: AbortSignal.timeout(2_000) }).then(() => true, () => false);

describe('command preview', () => {
  it('runs the app on the trial branch (its data, not prod\'s) until approval, then stops it', async () => {
    const { id, prod } = await deployDemo(DEMO_PREVIEW);
    const waiting = await worker.client.waitForStage(id, ['awaiting-approval', 'finished']);
    expect(waiting.stage).toBe('awaiting-approval');
    const { url, id: previewId } = waiting.preview!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    // prod changes after the branch was made: the preview does not see it.
    await sql("UPDATE users SET name = 'Changed on prod' WHERE id = 1", prod.name);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const page = await (await fetch(url)).text();
    expect(page).toContain('<td>User 1</td>'); // users.display_name: release 2's column, on the branch
    expect(page).not.toContain('Changed on prod');
    expect(page).toMatch(/<th>priority<\/th>/);
    expect(groupRuns(processGroupOf(previewId))).toBe(true);

    await worker.client.approve(id, { by: 'alice' });
    expect((await worker.client.result(id)).outcome).toBe('applied');
    expect(await answers(url)).toBe(false);
    expect(groupRuns(processGroupOf(previewId))).toBe(false);
  });

  it('is stopped when the promotion is rejected, and when it is cancelled', async () => {
    const rejected = await deployDemo(DEMO_PREVIEW);
    const cancelled = await deployDemo(DEMO_PREVIEW);
    const [first, second] = await Promise.all([
      worker.client.waitForStage(rejected.id, ['awaiting-approval', 'finished']),
      worker.client.waitForStage(cancelled.id, ['awaiting-approval', 'finished']),
    ]);
    expect([first.stage, second.stage]).toEqual(['awaiting-approval', 'awaiting-approval']);
    await worker.client.reject(rejected.id, { by: 'alice' });
    await worker.client.cancel(cancelled.id, { by: 'bob' });
    expect((await worker.client.result(rejected.id)).outcome).toBe('rejected');
    expect((await worker.client.result(cancelled.id)).outcome).toBe('cancelled');
    for (const { preview } of [first, second]) {
      expect(await answers(preview!.url)).toBe(false);
      expect(groupRuns(processGroupOf(preview!.id))).toBe(false);
    }
  });

  it('keeps track of the app when the worker that started it is killed: a new worker stops it', async () => {
    const config = { ...worker.config, taskQueue: `preview-${randomUUID()}` };
    let process1: WorkerProcess | undefined = await startWorkerProcess(config);
    const client = await PromotionClient.connect(config);
    try {
      const { prod, dev } = await demoDatabases();
      const id = await client.deploy({ dev: dev.url, prod: prod.url, renames: RENAMES, preview: DEMO_PREVIEW });
      const { preview } = await client.waitForStage(id, ['awaiting-approval', 'finished']);
      await process1.stop(); // SIGKILL: no clean-up of its own
      process1 = undefined;
      expect(await answers(preview!.url)).toBe(true); // the app lives on, in its own process group
      process1 = await startWorkerProcess(config);
      await client.reject(id, { by: 'alice' });
      expect((await client.result(id)).outcome).toBe('rejected');
      expect(await answers(preview!.url)).toBe(false);
      expect(groupRuns(processGroupOf(preview!.id))).toBe(false);
    } finally {
      await client.close();
      await process1?.stop();
    }
  });

  it('fails the promotion before approval with the log tail of an app that exits', async () => {
    const { id } = await deployDemo({ provider: 'command', command: "echo 'starting'; echo 'cannot reach the payments API' >&2; exit 3" });
    await expect(worker.client.result(id)).rejects.toThrow(
      /the preview \(`echo 'starting'.*` with DATABASE_URL on the trial branch, PORT=\d+\) exited with code 3; its last lines:\nstarting\ncannot reach the payments API/,
    );
    const state = await worker.client.status(id);
    expect(state).toMatchObject({ outcome: 'failed', stage: 'finished', approvals: [] });
    expect((await sql(`SELECT 1 FROM pg_database WHERE datname = '${state.branch!.name}'`)).rowCount).toBe(0);
  });

  it('fails the promotion when the app never answers its health path, and stops it', async () => {
    const seconds = String(600 + Math.floor(Math.random() * 10_000)); // marks this test's process
    const { id } = await deployDemo({ provider: 'command', command: `echo "listening soon" && exec sleep ${seconds}`, health: '/ready', timeout: '2 seconds' });
    await expect(worker.client.result(id)).rejects.toThrow(/\) did not answer 2xx on \/ready within 2 seconds; its last lines:\nlistening soon/);
    expect(running(['sleep', seconds])).toBe(false);
  });
});
