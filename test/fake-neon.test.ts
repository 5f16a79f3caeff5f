// The loopback Neon fake, driven through the real @neondatabase/api-client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiClient, EndpointType } from '@neondatabase/api-client';
import pg from 'pg';
import { startFakeNeon, type FakeNeon, type FakeProject } from '../scripts/fake-neon.ts';
import { serverUrl } from './support.ts';

let fake: FakeNeon;
let api: ReturnType<typeof createApiClient>;
let project: FakeProject;

/** Rows of `SELECT name FROM items` on the database at `url`. */
async function itemNames(url: string): Promise<string[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query('SELECT name FROM items ORDER BY name')).rows.map((r) => r.name);
  } finally {
    await client.end();
  }
}

async function runSql(url: string, text: string): Promise<void> {
  const client = new pg.Client(url);
  await client.connect();
  await client.query(text).finally(() => client.end());
}

/** The HTTP status of a failed client call. */
async function statusOf(call: Promise<unknown>): Promise<number> {
  const err = await call.then(
    () => undefined,
    (e) => e,
  );
  expect(err, 'the call should have failed').toBeDefined();
  return err.response?.status;
}

async function untilFinished(operationIds: string[]) {
  for (const id of operationIds) {
    for (;;) {
      const { data } = await api.getProjectOperation(project.projectId, id);
      if (data.operation.status !== 'running') {
        expect(data.operation.status).toBe('finished');
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

async function createBranch(name: string) {
  const { data } = await api.createProjectBranch(project.projectId, {
    branch: { parent_id: project.branchId, name },
    endpoints: [{ type: EndpointType.ReadWrite }],
  });
  await untilFinished(data.operations.map((o) => o.id));
  return data;
}

const uriOf = async (branchId: string) =>
  (await api.getConnectionUri({ projectId: project.projectId, branch_id: branchId, database_name: project.databaseName, role_name: project.roleName })).data
    .uri;

beforeAll(async () => {
  fake = await startFakeNeon({ postgresUrl: serverUrl(), operationDelayMs: 100, inUseWaitMs: 300 });
  api = createApiClient({ apiKey: fake.apiKey, baseURL: fake.baseURL });
  project = await fake.createProject({ schema: "CREATE TABLE items (name text); INSERT INTO items VALUES ('prod-row')" });
});

afterAll(async () => {
  await fake?.stop();
});

describe('fake Neon API', () => {
  it('makes the prod branch a real database holding the given schema', async () => {
    expect(await itemNames(project.connectionUri)).toEqual(['prod-row']);
    expect(await uriOf(project.branchId)).toBe(project.connectionUri);
    const { data } = await api.getProjectBranch(project.projectId, project.branchId);
    expect(data.branch).toMatchObject({ id: project.branchId, name: 'main', default: true, current_state: 'ready' });
  });

  it('creates a branch that copies prod, runs operations, lists, and deletes it', async () => {
    const { data } = await api.createProjectBranch(project.projectId, {
      branch: { parent_id: project.branchId, name: 'feature-a' },
      endpoints: [{ type: EndpointType.ReadWrite }],
    });
    expect(data.branch).toMatchObject({ name: 'feature-a', parent_id: project.branchId, current_state: 'init' });
    expect(data.endpoints).toHaveLength(1);
    expect(data.operations.map((o) => [o.action, o.status])).toEqual([
      ['create_timeline', 'running'],
      ['start_compute', 'running'],
    ]);
    await untilFinished(data.operations.map((o) => o.id));
    expect((await api.getProjectBranch(project.projectId, data.branch.id)).data.branch.current_state).toBe('ready');

    const url = await uriOf(data.branch.id);
    expect(url).toBe(data.connection_uris?.[0].connection_uri);
    expect(url).not.toBe(project.connectionUri);
    expect(await itemNames(url)).toEqual(['prod-row']);
    // A copy, not a view: writes to the branch stay there.
    await runSql(url, "INSERT INTO items VALUES ('branch-row')");
    expect(await itemNames(project.connectionUri)).toEqual(['prod-row']);

    const listed = (await api.listProjectBranches({ projectId: project.projectId, search: 'feature' })).data.branches;
    expect(listed.map((b) => b.name)).toEqual(['feature-a']);

    const deleted = await api.deleteProjectBranch({ projectId: project.projectId, branchId: data.branch.id });
    expect(deleted.status).toBe(200);
    await untilFinished(deleted.data.operations.map((o) => o.id));
    expect(await statusOf(api.getProjectBranch(project.projectId, data.branch.id))).toBe(404);
    expect((await api.deleteProjectBranch({ projectId: project.projectId, branchId: data.branch.id })).status).toBe(204);
    expect(await fake.databasesOnServer(project.projectId)).toHaveLength(1);
    await expect(itemNames(url)).rejects.toThrow(/does not exist/);
  });

  it('keeps the annotations a branch was created with, and returns them on get and list', async () => {
    const { data } = await api.createProjectBranch(project.projectId, {
      branch: { parent_id: project.branchId, name: 'annotated' },
      annotation_value: { 'made-by': 'test', kind: 'trial' },
    });
    await untilFinished(data.operations.map((o) => o.id));
    const got = (await api.getProjectBranch(project.projectId, data.branch.id)).data.annotation;
    expect(got).toMatchObject({ object: { type: 'console/branch', id: data.branch.id }, value: { 'made-by': 'test', kind: 'trial' } });
    const listed = (await api.listProjectBranches({ projectId: project.projectId })).data;
    expect(listed.annotations).toEqual({ [data.branch.id]: got });
    await api.deleteProjectBranch({ projectId: project.projectId, branchId: data.branch.id });
  });

  it('answers 423 while a branch has running operations', async () => {
    const { data } = await api.createProjectBranch(project.projectId, { branch: { parent_id: project.branchId, name: 'busy' } });
    expect(await statusOf(api.deleteProjectBranch({ projectId: project.projectId, branchId: data.branch.id }))).toBe(423);
    await untilFinished(data.operations.map((o) => o.id));
    expect((await api.deleteProjectBranch({ projectId: project.projectId, branchId: data.branch.id })).status).toBe(200);
  });

  it('answers 423 while the parent database has other sessions, and succeeds once they leave', async () => {
    const session = new pg.Client(project.connectionUri);
    await session.connect();
    try {
      expect(await statusOf(createBranch('while-busy'))).toBe(423);
    } finally {
      await session.end();
    }
    const data = await createBranch('while-busy');
    expect(await itemNames(await uriOf(data.branch.id))).toEqual(['prod-row']);
    await api.deleteProjectBranch({ projectId: project.projectId, branchId: data.branch.id });
  });

  it('restores prod from a branch in place, keeping the old state under another name', async () => {
    const source = await createBranch('source');
    await runSql(await uriOf(source.branch.id), "INSERT INTO items VALUES ('from-source')");
    const { data } = await api.restoreProjectBranch(project.projectId, project.branchId, {
      source_branch_id: source.branch.id,
      preserve_under_name: 'prod-before',
    });
    expect(data.branch.id).toBe(project.branchId);
    await untilFinished(data.operations.map((o) => o.id));

    expect(await uriOf(project.branchId)).toBe(project.connectionUri);
    expect(await itemNames(project.connectionUri)).toEqual(['from-source', 'prod-row']);
    const kept = (await api.listProjectBranches({ projectId: project.projectId, search: 'prod-before' })).data.branches;
    expect(kept).toHaveLength(1);
    // The kept branch has no compute: read its data from the server directly.
    const keptDb = (await fake.databasesOnServer(project.projectId)).find((d) => d.endsWith(kept[0].id.slice(3)))!;
    const keptUrl = new URL(project.connectionUri);
    keptUrl.pathname = `/${keptDb}`;
    expect(await itemNames(keptUrl.toString())).toEqual(['prod-row']);

    // Back to how it was, for the other tests.
    await untilFinished(
      (await api.restoreProjectBranch(project.projectId, project.branchId, { source_branch_id: kept[0].id })).data.operations.map((o) => o.id),
    );
    expect(await itemNames(project.connectionUri)).toEqual(['prod-row']);
  });

  it('rejects a bad API key with 401 and unknown ids with 404', async () => {
    const stranger = createApiClient({ apiKey: 'wrong-key', baseURL: fake.baseURL });
    expect(await statusOf(stranger.getProjectBranch(project.projectId, project.branchId))).toBe(401);
    expect(await statusOf(api.getProjectBranch('no-such-project', project.branchId))).toBe(404);
    expect(await statusOf(api.getProjectBranch(project.projectId, 'br-no-such-branch'))).toBe(404);
    expect(await statusOf(api.getProjectOperation(project.projectId, '00000000-0000-4000-8000-000000000000'))).toBe(404);
    expect(await statusOf(api.listProjectBranches({ projectId: 'no-such-project' }))).toBe(404);
  });

  it('injects HTTP faults for the next requests to one operation only', async () => {
    fake.faults.failNext('listProjectBranches', 429);
    fake.faults.failNext('listProjectBranches', 503, 2);
    const list = () => api.listProjectBranches({ projectId: project.projectId });
    expect((await api.getProjectBranch(project.projectId, project.branchId)).status).toBe(200);
    expect(await statusOf(list())).toBe(429);
    expect(await statusOf(list())).toBe(503);
    expect(await statusOf(list())).toBe(503);
    expect((await list()).status).toBe(200);
  });

  it('injects operations that end failed', async () => {
    fake.faults.failNextOperations(1, 'failed');
    const { data } = await api.createProjectBranch(project.projectId, { branch: { parent_id: project.branchId, name: 'doomed' } });
    await new Promise((r) => setTimeout(r, 150));
    const { operation } = (await api.getProjectOperation(project.projectId, data.operations[0].id)).data;
    expect(operation).toMatchObject({ status: 'failed', failures_count: 1 });
    expect(operation.error).toMatch(/failed/);
    expect((await api.getProjectBranch(project.projectId, data.branch.id)).data.branch.current_state).toBe('init');
    await api.deleteProjectBranch({ projectId: project.projectId, branchId: data.branch.id });
  });

  it('checks requests against the OpenAPI document and records violations', async () => {
    const before = fake.validationErrors.length;
    // A misspelt field, a missing required field, a bad path parameter, a path the API lacks.
    const misspelt = api.createProjectBranch(project.projectId, { branch: { parent_id: project.branchId, nmae: 'x' } } as never);
    expect(await statusOf(misspelt)).toBe(400);
    expect(await statusOf(api.restoreProjectBranch(project.projectId, project.branchId, {} as never))).toBe(400);
    expect(await statusOf(api.getProjectOperation(project.projectId, 'not-a-uuid'))).toBe(400);
    expect(await statusOf(api.request({ path: '/no/such/path', method: 'GET' }))).toBe(404);
    const found = fake.validationErrors.splice(before);
    expect(found).toHaveLength(4);
    expect(found[0]).toMatch(/createProjectBranch request.*nmae/);
    expect(found[1]).toMatch(/restoreProjectBranch request.*source_branch_id/);
    expect(found[2]).toMatch(/getProjectOperation path.*operation_id.*uuid/);
    expect(found[3]).toMatch(/no such operation/);
  });

  it('recorded every request and saw no OpenAPI violations', () => {
    expect(fake.requests.length).toBeGreaterThan(30);
    expect(fake.requests.filter((r) => r.operationId === 'createProjectBranch').map((r) => r.status)).toContain(201);
    expect(fake.validationErrors).toEqual([]);
  });
});
