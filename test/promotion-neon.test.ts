// A whole promotion whose branch is a Neon branch: the real API client against the loopback fake
// Neon API, backed by the run's real Postgres.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startFakeNeon, type FakeNeon, type FakeProject } from '../scripts/fake-neon.ts';
import { createDatabase, dropDatabase, serverUrl } from './support.ts';
import { startWorker, type TestWorker } from './worker.ts';
import { withClient } from '../activities/db.ts';
import { readCatalogObjects } from '../activities/convergence/catalog.ts';
import { proofOf } from '../activities/convergence/diff.ts';

const SCHEMA = "CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL); INSERT INTO items (name) VALUES ('a'), ('b'), ('c');";

let fake: FakeNeon;
let project: FakeProject;
let worker: TestWorker;
let dev: { name: string; url: string };

beforeAll(async () => {
  fake = await startFakeNeon({ postgresUrl: serverUrl(), operationDelayMs: 30 });
  project = await fake.createProject({ schema: SCHEMA });
  dev = await createDatabase('dev', SCHEMA.split(';')[0] + '; ALTER TABLE items ADD COLUMN price numeric(10, 2) NOT NULL DEFAULT 0;');
  worker = await startWorker({ neonApiKey: fake.apiKey, neonApiUrl: fake.baseURL });
});
afterAll(async () => {
  await worker?.stop();
  await fake?.stop();
  if (dev) await dropDatabase(dev.name);
});

async function prodRows(): Promise<{ name: string; price: string }[]> {
  const client = new pg.Client(project.connectionUri);
  await client.connect();
  try {
    return (await client.query('SELECT name, price FROM items ORDER BY id')).rows;
  } finally {
    await client.end();
  }
}

describe('promotion on a Neon branch', () => {
  it('trials on a Neon branch, applies to prod after approval, and deletes the branch', async () => {
    const { client } = worker;
    const id = await client.deploy({
      dev: dev.url,
      prod: project.connectionUri,
      branch: { provider: 'neon', projectId: project.projectId, branchId: project.branchId, databaseName: project.databaseName, roleName: project.roleName },
    });
    const waiting = await client.waitForStage(id, ['awaiting-approval', 'finished']);
    expect(waiting).toMatchObject({ stage: 'awaiting-approval', trial: { catalog: proofOf(await withClient(dev.url, (client) => readCatalogObjects(client, ['public']))) } });
    expect(await fake.databasesOnServer(project.projectId)).toHaveLength(2); // prod and the trial branch
    expect(fake.requests.some((r) => r.operationId === 'createProjectBranch' && r.status === 201)).toBe(true);

    await client.approve(id, { by: 'alice' });
    expect((await client.result(id)).outcome).toBe('applied');
    expect(await prodRows()).toEqual([
      { name: 'a', price: '0.00' },
      { name: 'b', price: '0.00' },
      { name: 'c', price: '0.00' },
    ]);
    expect(await fake.databasesOnServer(project.projectId)).toHaveLength(1);
    expect(fake.validationErrors).toEqual([]);
  });

  it('reverts on Neon: prod is restored from its backup branch, its state kept under another name', async () => {
    const other = await fake.createProject({ schema: SCHEMA });
    const { client } = worker;
    const id = await client.deploy({
      dev: dev.url,
      prod: other.connectionUri,
      branch: { provider: 'neon', projectId: other.projectId, branchId: other.branchId, databaseName: other.databaseName, roleName: other.roleName },
      revertWindow: '10 minutes',
    });
    await client.waitForStage(id, ['awaiting-approval']);
    await client.approve(id, { by: 'alice' });
    await client.waitForStage(id, ['revert-window']);
    const columns = async () => {
      const connection = new pg.Client(other.connectionUri);
      await connection.connect();
      try {
        return (await connection.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'items' ORDER BY ordinal_position")).rows.map((r) => r.column_name);
      } finally {
        await connection.end();
      }
    };
    expect(await columns()).toEqual(['id', 'name', 'price']);
    const done = await client.revert(id, { by: 'bob' });
    expect(done.outcome).toBe('reverted');
    expect(await columns()).toEqual(['id', 'name']);
    expect(fake.requests.some((r) => r.operationId === 'restoreProjectBranch' && r.status < 300)).toBe(true);
    // prod and the kept pre-revert state remain; the trial and backup branches are gone.
    expect(await fake.databasesOnServer(other.projectId)).toHaveLength(2);
    expect(fake.validationErrors).toEqual([]);
  });

  it('fails clearly when the worker has no Neon API key, leaving prod alone', async () => {
    const other = await fake.createProject({ schema: SCHEMA });
    const keyless = await startWorker();
    try {
      const id = await keyless.client.deploy({
        dev: dev.url,
        prod: other.connectionUri,
        branch: { provider: 'neon', projectId: other.projectId, branchId: other.branchId, databaseName: other.databaseName, roleName: other.roleName },
      });
      await expect(keyless.client.result(id)).rejects.toThrow(/there is no NEON_API_KEY/);
      expect(await fake.databasesOnServer(other.projectId)).toHaveLength(1);
    } finally {
      await keyless.stop();
    }
  });
});
