// The Neon branch provider, through the real @neondatabase/api-client, against the loopback fake.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApiClient } from '@neondatabase/api-client';
import pg from 'pg';
import { NeonBranchProvider, type NeonProviderOptions } from '../activities/branches/neon.ts';
import { BRANCH_PREFIX, type BranchKind, type BranchMeta, type BranchProvider } from '../activities/branches/provider.ts';
import { startFakeNeon, type FakeNeon, type FakeProject } from '../scripts/fake-neon.ts';
import { serverUrl } from './support.ts';

let fake: FakeNeon;
let project: FakeProject;
let counter = 0;
const fresh = () => `${BRANCH_PREFIX}t${++counter}`;
const meta = (kind: BranchKind, promotionId = 'promote-neon', runId = 'run-1'): BranchMeta => ({ promotionId, runId, kind, namespace: 'default' });
const FAST = { baseDelayMs: 20, maxDelayMs: 200, pollIntervalMs: 10, operationTimeoutMs: 5_000 };

function provider(options: Partial<NeonProviderOptions> = {}, target: Partial<FakeProject> = {}): BranchProvider {
  const { projectId, branchId, databaseName, roleName } = { ...project, ...target };
  return new NeonBranchProvider({ projectId, branchId, databaseName, roleName }, { apiKey: fake.apiKey, baseURL: fake.baseURL, ...FAST, ...options });
}

async function query(url: string, text: string): Promise<string[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query(text)).rows.map((r) => r.name);
  } finally {
    await client.end();
  }
}
const rows = (url: string) => query(url, 'SELECT name FROM items ORDER BY name');

/** Requests the fake answered for one API operation, with their statuses. */
const answered = (operationId: string) => fake.requests.filter((r) => r.operationId === operationId);

beforeAll(async () => {
  fake = await startFakeNeon({ postgresUrl: serverUrl(), operationDelayMs: 30, inUseWaitMs: 100 });
  project = await fake.createProject({ schema: "CREATE TABLE items (name text); INSERT INTO items VALUES ('prod-row')" });
});

afterEach(async () => {
  // Every test leaves prod alone and no branch behind; and the fake saw only well-formed traffic.
  expect(fake.validationErrors).toEqual([]);
  for (const b of await provider().list()) await provider().delete(b.id);
  expect(await fake.databasesOnServer(project.projectId)).toHaveLength(1);
});

afterAll(async () => {
  await fake?.stop();
});

describe('NeonBranchProvider', () => {
  it('creates a branch holding prod data and who made it (as Neon annotations), lists it, and deletes it', async () => {
    const neon = provider();
    const name = fresh();
    const branch = await neon.create(name, meta('trial'));
    expect(branch.name).toBe(name);
    expect(branch.id).toMatch(/^br-/);
    expect(branch.url).not.toBe(project.connectionUri);
    expect(await rows(branch.url)).toEqual(['prod-row']);
    // The branch is a copy: writes there leave prod as it was.
    await query(branch.url, "INSERT INTO items VALUES ('branch-row')");
    expect(await rows(project.connectionUri)).toEqual(['prod-row']);
    expect(await neon.list()).toEqual([{ id: branch.id, name, meta: meta('trial') }]);
    const api = createApiClient({ apiKey: fake.apiKey, baseURL: fake.baseURL });
    expect((await api.getProjectBranch(project.projectId, branch.id)).data.annotation.value).toMatchObject({ 'pgpromote-kind': 'trial', 'pgpromote-run-id': 'run-1' });

    await neon.delete(branch.id);
    expect(await neon.list()).toEqual([]);
    await expect(rows(branch.url)).rejects.toThrow(/does not exist/);
  });

  it('reuses a branch of that name made by the same run, replaces one of an ended run, and refuses the rest', async () => {
    const neon = provider();
    const name = fresh();
    const posts = answered('createProjectBranch').length;
    const first = await neon.create(name, meta('trial'));
    const second = await neon.create(name, meta('trial'));
    expect(second).toEqual(first);
    expect(answered('createProjectBranch').length - posts).toBe(1);
    const replaced = await neon.create(name, meta('trial', 'promote-neon', 'run-2'));
    expect(replaced.id).not.toBe(first.id);
    expect(await neon.list()).toEqual([{ id: replaced.id, name, meta: meta('trial', 'promote-neon', 'run-2') }]);
    await expect(neon.create(name, meta('trial', 'promote-other'))).rejects.toThrow(/exists already and belongs to another promotion: trial branch of promotion promote-neon/);
    const api = createApiClient({ apiKey: fake.apiKey, baseURL: fake.baseURL });
    const handMade = fresh();
    await api.createProjectBranch(project.projectId, { branch: { parent_id: project.branchId, name: handMade } });
    await expect(neon.create(handMade, meta('trial'))).rejects.toThrow(/exists already and has no pgpromote metadata/);
  });

  it('refuses to delete prod\'s branch', async () => {
    await expect(provider().delete(project.branchId)).rejects.toThrow(`refusing to delete branch ${project.branchId}: it is prod's branch`);
    expect(answered('deleteProjectBranch').filter((r) => r.path.includes(project.branchId))).toEqual([]);
  });

  it('treats deleting a missing branch as done, whether the API answers 204 or 404', async () => {
    const neon = provider();
    const branch = await neon.create(fresh(), meta('trial'));
    await neon.delete(branch.id);
    await neon.delete(branch.id);
    expect(answered('deleteProjectBranch').at(-1)?.status).toBe(204);
    fake.faults.failNext('deleteProjectBranch', 404);
    await neon.delete(branch.id);
    expect(answered('deleteProjectBranch').at(-1)?.status).toBe(404);
  });

  it('lists only the branches this tool made', async () => {
    const neon = provider();
    const ours = await neon.create(fresh(), meta('trial'));
    const api = createApiClient({ apiKey: fake.apiKey, baseURL: fake.baseURL });
    const { data } = await api.createProjectBranch(project.projectId, { branch: { parent_id: project.branchId, name: `someone-else-${BRANCH_PREFIX}x` } });
    try {
      expect(await neon.list()).toEqual([{ id: ours.id, name: ours.name, meta: meta('trial') }]);
    } finally {
      await provider().delete(data.branch.id);
    }
  });

  it('restores prod from a branch and keeps the old prod state as a branch', async () => {
    const neon = provider();
    const source = await neon.create(fresh(), meta('trial'));
    await query(source.url, "INSERT INTO items VALUES ('promoted')");
    const keepAs = fresh();
    const { prod, kept } = await neon.restore(source, keepAs, meta('reverted'));
    expect(prod).toEqual({ id: project.branchId, name: 'main' });
    expect(kept.name).toBe(keepAs);
    expect(kept.id).not.toBe(project.branchId);
    // Prod keeps its id and URL and now holds what the source held.
    expect(await rows(project.connectionUri)).toEqual(['prod-row', 'promoted']);
    // A retried restore (say after a lost response) finds the kept branch and does not restore again.
    const restores = answered('restoreProjectBranch').length;
    expect((await neon.restore(source, keepAs, meta('reverted'))).kept).toEqual(kept);
    expect(answered('restoreProjectBranch').length).toBe(restores);

    // Undo, so prod is as the other tests expect; this also proves the kept branch holds the old state.
    const back = await neon.restore(kept, fresh(), meta('reverted'));
    expect(await rows(project.connectionUri)).toEqual(['prod-row']);
    expect((await neon.list()).map((b) => b.id).sort()).toEqual([source.id, kept.id, back.kept.id].sort());
  });

  it('checks that the backup exists before it restores, leaving prod as it was', async () => {
    const neon = provider();
    const source = await neon.create(fresh(), meta('backup'));
    await neon.delete(source.id);
    const restores = answered('restoreProjectBranch').length;
    await expect(neon.restore(source, fresh(), meta('reverted'))).rejects.toThrow(`cannot revert: the backup branch "${source.name}" (${source.id}) is gone; prod was not touched`);
    expect(answered('restoreProjectBranch').length).toBe(restores);
    expect(await rows(project.connectionUri)).toEqual(['prod-row']);
  });

  it('retries 423 (locked) until the branch can be made', async () => {
    // A session on prod blocks the copy; the fake answers 423 until it leaves.
    const session = new pg.Client(project.connectionUri);
    await session.connect();
    const created = provider({ baseDelayMs: 100 }).create(fresh(), meta('trial'));
    await new Promise((r) => setTimeout(r, 300));
    await session.end();
    expect(await rows((await created).url)).toEqual(['prod-row']);
    expect(answered('createProjectBranch').map((r) => r.status)).toContain(423);
  });

  it('backs off exponentially on 429', async () => {
    fake.faults.failNext('listProjectBranches', 429, 3);
    const before = fake.requests.length;
    expect(await provider({ baseDelayMs: 40 }).list()).toEqual([]);
    const tries = fake.requests.slice(before).filter((r) => r.operationId === 'listProjectBranches');
    expect(tries.map((r) => r.status)).toEqual([429, 429, 429, 200]);
    const gaps = tries.slice(1).map((r, i) => r.at - tries[i].at);
    // 40, 80, 160 ms at least (jitter only adds); a millisecond of timer slack.
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(40 * 2 ** i - 1));
  });

  it('retries 500 and 503, then succeeds', async () => {
    fake.faults.failNext('createProjectBranch', 500, 2);
    fake.faults.failNext('getConnectionURI', 503);
    const branch = await provider().create(fresh(), meta('trial'));
    expect(await rows(branch.url)).toEqual(['prod-row']);
    expect(answered('createProjectBranch').slice(-3).map((r) => r.status)).toEqual([500, 500, 201]);
  });

  it('gives up on a persistent 500 with a clear error', async () => {
    fake.faults.failNext('listProjectBranches', 500, 3);
    await expect(provider({ attempts: 3 }).list()).rejects.toThrow('Neon API answered HTTP 500 after 3 tries while listing branches: injected fault: 500');
  });

  it('turns a failed operation into a clear error and deletes the half-made branch', async () => {
    const neon = provider();
    fake.faults.failNextOperations(1, 'failed');
    const name = fresh();
    await expect(neon.create(name, meta('trial'))).rejects.toThrow(
      new RegExp(`Neon operation create_timeline \\(.+\\) ended "failed" while creating branch "${name}": fake-neon: operation create_timeline failed`),
    );
    expect(await neon.list()).toEqual([]);
    expect(answered('deleteProjectBranch').at(-1)?.status).toBe(200);
  });

  it('explains a bad API key and wrong ids', async () => {
    await expect(provider({ apiKey: 'not-the-key' }).create(fresh(), meta('trial'))).rejects.toThrow(
      /Neon rejected the API key \(HTTP 401\) while creating branch "pgpromote-t\d+": authentication failed/,
    );
    await expect(provider({}, { projectId: 'no-such-project' }).list()).rejects.toThrow(
      'Neon found no such project or branch (HTTP 404) while listing branches: project no-such-project not found. Check projectId and branchId',
    );
    await expect(provider({}, { branchId: 'br-not-prod' }).create(fresh(), meta('trial'))).rejects.toThrow(/HTTP 404\) while creating branch .*branch br-not-prod not found/);
    await expect(provider({}, { projectId: 'no-such-project' }).delete('br-whatever')).rejects.toThrow(/HTTP 404/);
    // A 401 is not retried: one request, not six.
    const before = fake.requests.length;
    await expect(provider({ apiKey: 'not-the-key' }).list()).rejects.toThrow(/HTTP 401/);
    expect(fake.requests.length - before).toBe(1);
  });
});
