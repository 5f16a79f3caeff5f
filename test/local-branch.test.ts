// The local branch provider and the trial, on the run's real Postgres server.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createDatabase, dropDatabase, sql } from './support.ts';
import { connect, withClient } from '../activities/db.ts';
import { createLocalBranchProvider } from '../activities/branches/local.ts';
import { BRANCH_PREFIX } from '../activities/branches/provider.ts';
import { planUrls, type Plan } from '../activities/schema/plan.ts';
import { trialPlan } from '../activities/trial/trial.ts';
import { DEFAULT_LIMITS } from '../activities/production/execute.ts';
import { randomUUID } from 'node:crypto';

const PROD = "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 100) i;";
const created: string[] = [];
const branches: string[] = [];

afterEach(async () => {
  for (const name of branches.splice(0)) await dropDatabase(name);
});
afterAll(async () => {
  for (const name of created) await dropDatabase(name);
});

async function prodDatabase(schema = PROD) {
  const prod = await createDatabase('prod', schema);
  created.push(prod.name);
  return prod;
}
const branchName = () => `${BRANCH_PREFIX}test-${randomUUID().slice(0, 8)}`;
const names = async (database: string) => (await sql('SELECT name FROM items ORDER BY id', database)).rows.map((r) => r.name);

describe('local branch provider', () => {
  it('creates a copy of prod with its data, idempotently, and deletes it', async () => {
    const prod = await prodDatabase();
    const provider = createLocalBranchProvider(prod.url);
    const name = branchName();
    const branch = await provider.create(name);
    branches.push(branch.id);
    expect(await provider.create(name)).toEqual(branch);
    expect(await names(branch.id)).toHaveLength(100);
    await sql("UPDATE items SET name = 'changed on the branch'", branch.id);
    expect((await names(prod.name))[0]).toBe('item 1');
    expect((await provider.list()).map((b) => b.id)).toContain(branch.id);
    await provider.delete(branch.id);
    await provider.delete(branch.id); // deleting a missing branch is fine
    expect((await provider.list()).map((b) => b.id)).not.toContain(branch.id);
  });

  it('copies with pg_dump | pg_restore while prod has other sessions, leaving no scratch database', async () => {
    const prod = await prodDatabase();
    const provider = createLocalBranchProvider(prod.url);
    const app = await connect(prod.url); // a live app holds a session on prod
    try {
      const branch = await provider.create(branchName());
      branches.push(branch.id);
      expect(await names(branch.id)).toEqual(await names(prod.name));
      const scratch = await sql("SELECT datname FROM pg_database WHERE datname LIKE '%-partial'");
      expect(scratch.rows).toEqual([]);
      expect((await app.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]); // the app was not disturbed
    } finally {
      await app.end();
    }
  });

  it('restores prod from a branch and keeps the old prod under another name', async () => {
    const prod = await prodDatabase();
    const provider = createLocalBranchProvider(prod.url);
    const backup = await provider.create(branchName());
    await sql("UPDATE items SET name = 'broken'", prod.name);
    const keepAs = branchName();
    const kept = await provider.restore(backup, keepAs);
    branches.push(kept.id);
    expect(await provider.restore(backup, keepAs)).toEqual(kept); // a retried restore changes nothing
    expect((await names(prod.name))[0]).toBe('item 1');
    expect((await names(kept.id))[0]).toBe('broken');
  });
});

describe('trial', () => {
  async function setup(devSchema: string) {
    const prod = await prodDatabase();
    const dev = await createDatabase('dev', devSchema);
    created.push(dev.name);
    const plan = await planUrls(prod.url, dev.url);
    const branch = await createLocalBranchProvider(prod.url).create(branchName());
    branches.push(branch.id);
    return { prod, dev, plan, branch };
  }
  const trial = (branchUrl: string, devUrl: string, plan: Plan) =>
    withClient(branchUrl, (b) => withClient(devUrl, (d) => trialPlan(b, d, plan, { limits: DEFAULT_LIMITS })));

  it('applies the plan to the branch, timing each statement, and proves the branch matches dev', async () => {
    const { prod, dev, plan, branch } = await setup('CREATE TABLE items (id int PRIMARY KEY, name text, price int NOT NULL DEFAULT 1); CREATE INDEX items_name ON items (name);');
    const report = await trial(branch.url, dev.url, plan);
    expect(report.converged).toBe(true);
    expect(report.statements.map((s) => s.sql)).toEqual(plan.statements.map((s) => s.sql));
    expect(report.statements.every((s) => s.ms >= 0)).toBe(true);
    expect((await sql('SELECT sum(price)::int AS n FROM items', branch.id)).rows[0].n).toBe(100);
    expect((await sql("SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'items'", prod.name)).rows[0].n).toBe(2);
  });

  it('carries the answers to its questions: a rename keeps the column\'s data', async () => {
    const prod = await prodDatabase();
    const dev = await createDatabase('dev', 'CREATE TABLE items (id int PRIMARY KEY, title text);');
    created.push(dev.name);
    const plan = await planUrls(prod.url, dev.url, { renames: ['items.name=items.title'] });
    const branch = await createLocalBranchProvider(prod.url).create(branchName());
    branches.push(branch.id);
    const report = await trial(branch.url, dev.url, plan);
    expect(report.statements.map((s) => s.sql)).toEqual(['ALTER TABLE "items" RENAME COLUMN "name" TO "title";']);
    expect((await sql('SELECT title FROM items WHERE id = 1', branch.id)).rows).toEqual([{ title: 'item 1' }]);
  });

  it('reports, per statement, the rows it loses as measured on the branch', async () => {
    const prod = await prodDatabase(PROD + "UPDATE items SET name = NULL WHERE id <= 30; CREATE TABLE old (id int); INSERT INTO old SELECT generate_series(1, 7);");
    const dev = await createDatabase('dev', 'CREATE TABLE items (id int PRIMARY KEY);');
    created.push(dev.name);
    const plan = await planUrls(prod.url, dev.url);
    const branch = await createLocalBranchProvider(prod.url).create(branchName());
    branches.push(branch.id);
    const report = await trial(branch.url, dev.url, plan);
    const lost = report.statements.flatMap((s) => s.hazards).filter((h) => h.kind === 'data-loss');
    expect(lost.map(({ object, rows }) => ({ object, rows }))).toEqual(
      expect.arrayContaining([{ object: 'public.old', rows: 7 }, { object: 'public.items.name', rows: 70 }]),
    );
    expect(lost).toHaveLength(2);
  });

  it('refuses a branch that is not the prod the plan starts from', async () => {
    const { prod, dev, plan } = await setup('CREATE TABLE items (id int PRIMARY KEY, name text, price int);');
    await sql('ALTER TABLE items ADD COLUMN sneaky int', prod.name);
    const branch = await createLocalBranchProvider(prod.url).create(branchName());
    branches.push(branch.id);
    await expect(trial(branch.url, dev.url, plan)).rejects.toThrow(/prod changed after the plan was made/);
  });

  it('fails with what is still missing when the plan leaves a difference, and rolls the branch back', async () => {
    const { dev, plan, branch } = await setup('CREATE TABLE items (id int PRIMARY KEY, name text, price int); CREATE TABLE tags (id int);');
    const incomplete = { ...plan, statements: plan.statements.filter((s) => s.kind !== 'create_table') };
    await expect(trial(branch.url, dev.url, incomplete)).rejects.toThrow(/still differs from dev; still needed:\n {2}CREATE TABLE "tags"/);
    expect((await sql("SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'items'", branch.id)).rows[0].n).toBe(2);
  });

  it('fails part-way without touching prod, and the branch can still be deleted', async () => {
    const { prod, dev, plan, branch } = await setup('CREATE TABLE items (id int PRIMARY KEY, name text, code text NOT NULL); CREATE TABLE tags (id int);');
    await expect(trial(branch.url, dev.url, plan)).rejects.toThrow(/column "code" of relation "items" contains null values/);
    expect((await sql("SELECT to_regclass('tags') AS t", prod.name)).rows[0].t).toBeNull();
    expect((await sql("SELECT to_regclass('tags') AS t", branch.id)).rows[0].t).toBeNull();
    await createLocalBranchProvider(prod.url).delete(branch.id);
    expect((await sql(`SELECT count(*)::int AS n FROM pg_database WHERE datname = '${branch.id}'`)).rows[0].n).toBe(0);
  });

  it('refuses a plan made before dev changed', async () => {
    const { dev, plan, branch } = await setup('CREATE TABLE items (id int PRIMARY KEY, name text, price int);');
    await sql('ALTER TABLE items ADD COLUMN later int', dev.name);
    await expect(trial(branch.url, dev.url, plan)).rejects.toThrow(/dev changed after the plan was made/);
  });
});

