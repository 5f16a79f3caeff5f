// The local branch provider and the trial, on the run's real Postgres server.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createDatabase, databaseUrl, dropDatabase, sql } from './support.ts';
import { connect, withClient } from '../activities/db.ts';
import { createLocalBranchProvider } from '../activities/branches/local.ts';
import { BRANCH_PREFIX, trialBranchName, type BranchKind, type BranchMeta } from '../activities/branches/provider.ts';
import { localPostgresMissing, startLocalPostgres } from '../scripts/postgres.ts';
import { planUrls } from '../activities/schema/plan.ts';
import type { Plan } from '../activities/schema/model.ts';
import { trialPlan } from '../activities/trial/trial.ts';
import { readCatalogObjects } from '../activities/convergence/catalog.ts';
import { proofOf } from '../activities/convergence/diff.ts';
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

const meta = (kind: BranchKind, promotionId = 'promote-test', runId = 'run-1', namespace = 'default'): BranchMeta => ({ promotionId, runId, kind, namespace });
const exists = async (database: string) => (await sql(`SELECT 1 FROM pg_database WHERE datname = '${database}'`)).rowCount === 1;
const commentOn = async (database: string) =>
  (await sql(`SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = '${database}'`)).rows[0]?.c ?? null;

describe('local branch provider', () => {
  it('creates a copy of prod with its data and who made it, idempotently for the same run, and deletes it', async () => {
    const prod = await prodDatabase();
    const provider = createLocalBranchProvider(prod.url);
    const name = branchName();
    const branch = await provider.create(name, meta('trial'));
    branches.push(branch.id);
    expect(await provider.create(name, meta('trial'))).toEqual(branch);
    expect(await names(branch.id)).toHaveLength(100);
    await sql("UPDATE items SET name = 'changed on the branch'", branch.id);
    expect((await names(prod.name))[0]).toBe('item 1');
    expect((await provider.list()).find((b) => b.id === branch.id)).toEqual({ id: branch.id, name, meta: meta('trial') });
    await provider.delete(branch.id);
    await provider.delete(branch.id); // deleting a missing branch is fine
    expect((await provider.list()).map((b) => b.id)).not.toContain(branch.id);
  });

  it('records who made a branch whose name was shortened with a hash', async () => {
    const prod = await prodDatabase();
    const provider = createLocalBranchProvider(prod.url, { copy: 'template' });
    const promotionId = `promote-${'x'.repeat(70)}-${randomUUID()}`;
    const branch = await provider.create(trialBranchName(promotionId), meta('trial', promotionId));
    branches.push(branch.id);
    expect(Buffer.byteLength(branch.id)).toBeLessThanOrEqual(63);
    expect(branch.id).not.toContain(promotionId);
    expect((await provider.list()).find((b) => b.id === branch.id)?.meta).toEqual(meta('trial', promotionId));
  });

  it('replaces a stale branch of another run of the same promotion, and refuses any other branch of that name', async () => {
    const prod = await prodDatabase();
    const provider = createLocalBranchProvider(prod.url, { copy: 'template' });
    const name = branchName();
    const old = await provider.create(name, meta('trial', 'promote-test', 'run-1'));
    branches.push(old.id);
    await sql("UPDATE items SET name = 'left by run 1'", old.id);
    await provider.create(name, meta('trial', 'promote-test', 'run-2'));
    expect((await names(old.id))[0]).toBe('item 1'); // a fresh copy of prod
    expect((await provider.list()).find((b) => b.id === old.id)?.meta).toEqual(meta('trial', 'promote-test', 'run-2'));

    await expect(provider.create(name, meta('trial', 'promote-other'))).rejects.toThrow(
      `cannot create branch ${name}: it exists already and belongs to another promotion: trial branch of promotion promote-test (run run-2, namespace default)`,
    );
    await expect(provider.create(name, meta('trial', 'promote-test', 'run-3', 'staging'))).rejects.toThrow(/belongs to another promotion/);

    const handMade = branchName();
    await sql(`CREATE DATABASE "${handMade}"`);
    branches.push(handMade);
    await expect(provider.create(handMade, meta('trial'))).rejects.toThrow(/exists already and has no pgpromote metadata/);
    expect(await commentOn(handMade)).toBeNull();
  });

  it('never deletes prod, a database it did not make, or a salvage copy', async () => {
    const prod = await prodDatabase();
    const provider = createLocalBranchProvider(prod.url);
    await expect(provider.delete(prod.name)).rejects.toThrow(`refusing to delete ${prod.name}: it is prod's database, not a branch`);
    const handMade = branchName();
    await sql(`CREATE DATABASE "${handMade}"`);
    branches.push(handMade);
    await expect(provider.delete(handMade)).rejects.toThrow(/it has no pgpromote metadata/);
    const backup = await provider.create(branchName(), meta('backup'));
    const { kept } = await provider.restore(backup, branchName(), meta('reverted'));
    created.push(kept.id);
    await expect(provider.delete(kept.id)).rejects.toThrow(/salvage copy of prod/);
    expect([await exists(prod.name), await exists(handMade), await exists(kept.id)]).toEqual([true, true, true]);
  });

  it('copies with pg_dump | pg_restore by default: prod takes new connections and answers while the copy runs', async () => {
    // Some MB that do not compress to nothing, so the copy takes a while.
    const prod = await prodDatabase(`CREATE TABLE items (id int PRIMARY KEY, name text);
      INSERT INTO items SELECT i, md5(i::text) || md5((i * 7)::text) || md5((i * 13)::text) FROM generate_series(1, 300000) i;`);
    const provider = createLocalBranchProvider(prod.url);
    let copied = false;
    const copy = provider.create(branchName(), meta('trial')).then((branch) => {
      copied = true;
      return branch;
    });
    try {
      // Once pg_dump reads prod, a new session on prod connects and answers, the copy still running.
      while (!(await sql(`SELECT 1 FROM pg_stat_activity WHERE datname = '${prod.name}' AND application_name = 'pg_dump'`)).rowCount) {
        expect(copied).toBe(false);
      }
      expect((await sql('SELECT count(*)::int AS n FROM items', prod.name)).rows).toEqual([{ n: 300000 }]);
      expect(copied).toBe(false);
    } finally {
      branches.push((await copy).id);
    }
    expect((await sql('SELECT count(*)::int AS n FROM items', (await copy).id)).rows).toEqual([{ n: 300000 }]);
  });

  it('copies with pg_dump | pg_restore when TEMPLATE is allowed but prod has other sessions, leaving no scratch database', async () => {
    const prod = await prodDatabase();
    const provider = createLocalBranchProvider(prod.url, { copy: 'template' });
    const app = await connect(prod.url); // a live app holds a session on prod
    try {
      const branch = await provider.create(branchName(), meta('trial'));
      branches.push(branch.id);
      expect(await names(branch.id)).toEqual(await names(prod.name));
      const scratch = await sql("SELECT datname FROM pg_database WHERE datname LIKE '%-partial'");
      expect(scratch.rows).toEqual([]);
      expect((await app.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]); // the app was not disturbed
    } finally {
      await app.end();
    }
  });
});

describe('local revert (restore)', () => {
  async function backedUp() {
    const prod = await prodDatabase();
    const provider = createLocalBranchProvider(prod.url, { copy: 'template' });
    const backup = await provider.create(branchName(), meta('backup'));
    branches.push(backup.id);
    await sql("UPDATE items SET name = 'after the apply'", prod.name);
    const keepAs = branchName();
    return { prod, provider, backup, keepAs };
  }

  it('puts the backup in place of prod, keeps the old prod as a salvage copy, and a retry changes nothing', async () => {
    const { prod, provider, backup, keepAs } = await backedUp();
    const restored = await provider.restore(backup, keepAs, meta('reverted'));
    created.push(restored.kept.id);
    expect(restored).toEqual({ prod: { id: prod.name, name: prod.name }, kept: { id: keepAs, name: keepAs } });
    expect(await provider.restore(backup, keepAs, meta('reverted'))).toEqual(restored);
    expect((await names(prod.name))[0]).toBe('item 1');
    expect((await names(keepAs))[0]).toBe('after the apply');
    expect(await exists(backup.id)).toBe(false);
    expect(await commentOn(prod.name)).toBeNull(); // prod no longer says it is a backup
    expect((await provider.list()).find((b) => b.id === keepAs)?.meta).toEqual(meta('reverted'));
  });

  it('fails before touching prod when the backup is gone, or is not this promotion\'s backup', async () => {
    const { prod, provider, backup, keepAs } = await backedUp();
    await expect(provider.restore(backup, keepAs, meta('reverted', 'promote-other'))).rejects.toThrow(
      /is not a backup made by promotion promote-other \(it is backup branch of promotion promote-test.*prod was not touched/,
    );
    await provider.delete(backup.id);
    await expect(provider.restore(backup, keepAs, meta('reverted'))).rejects.toThrow(`cannot revert: the backup ${backup.name} is gone; prod was not touched`);
    expect((await names(prod.name))[0]).toBe('after the apply');
    expect(await exists(keepAs)).toBe(false);
  });

  it('fails cleanly when a session on the backup will not end: prod stays under its name with its data', async () => {
    // pgpromote runs as a role that may create databases but cannot end a superuser's session.
    const role = `promoter_${randomUUID().slice(0, 8)}`;
    await sql(`CREATE ROLE ${role} LOGIN CREATEDB PASSWORD 'pw'`);
    const prod = await createDatabase('prod');
    created.push(prod.name);
    await sql(`ALTER DATABASE "${prod.name}" OWNER TO ${role}`);
    const asRole = new URL(prod.url);
    [asRole.username, asRole.password] = [role, 'pw'];
    await withClient(asRole.toString(), (client) => client.query(PROD));
    const provider = createLocalBranchProvider(asRole.toString(), { copy: 'template' });
    const backup = await provider.create(branchName(), meta('backup'));
    branches.push(backup.id);
    await sql("UPDATE items SET name = 'after the apply'", prod.name);
    const admin = await connect(databaseUrl(backup.id)); // a superuser looking at the backup
    const keepAs = branchName();
    try {
      await expect(provider.restore(backup, keepAs, meta('reverted'))).rejects.toThrow(
        new RegExp(`the backup ${backup.id} has sessions that pgpromote could not end: \\w+ \\(pgpromote\\)`),
      );
      expect((await admin.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      await admin.end();
    }
    expect((await names(prod.name))[0]).toBe('after the apply');
    expect(await exists(keepAs)).toBe(false);
    const allowed = await sql(`SELECT datname, datallowconn FROM pg_database WHERE datname IN ('${prod.name}', '${backup.id}') ORDER BY datname = '${prod.name}'`);
    expect(allowed.rows.map((r) => r.datallowconn)).toEqual([true, true]);
    // Once the session is gone the revert goes through, and prod keeps its owner.
    await provider.restore(backup, keepAs, meta('reverted'));
    created.push(keepAs);
    expect((await names(prod.name))[0]).toBe('item 1');
    expect((await sql(`SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = '${prod.name}'`)).rows).toEqual([{ owner: role }]);
  });

  it('carries on after a crash between the two renames: prod missing, its kept copy and the backup there', async () => {
    const { prod, provider, backup, keepAs } = await backedUp();
    await sql(`ALTER DATABASE "${prod.name}" RENAME TO "${keepAs}"`); // the first rename, then the worker died
    created.push(keepAs);
    const restored = await provider.restore(backup, keepAs, meta('reverted'));
    expect(restored.prod.id).toBe(prod.name);
    expect((await names(prod.name))[0]).toBe('item 1');
    expect((await names(keepAs))[0]).toBe('after the apply');
    expect(await exists(backup.id)).toBe(false);
  });

  it('finishes after a crash right after the swap: prod in place but still recorded as the backup', async () => {
    const { prod, provider, backup, keepAs } = await backedUp();
    await sql(`ALTER DATABASE "${prod.name}" RENAME TO "${keepAs}"`);
    await sql(`ALTER DATABASE "${backup.id}" RENAME TO "${prod.name}"`);
    created.push(keepAs);
    await provider.restore(backup, keepAs, meta('reverted'));
    expect((await names(prod.name))[0]).toBe('item 1');
    expect(await commentOn(prod.name)).toBeNull();
    expect((await provider.list()).find((b) => b.id === keepAs)?.meta).toEqual(meta('reverted'));
  });

  it('puts prod\'s name back when, after that crash, the backup has gone too', async () => {
    const { prod, provider, backup, keepAs } = await backedUp();
    await sql(`ALTER DATABASE "${prod.name}" RENAME TO "${keepAs}"`);
    await provider.delete(backup.id);
    await expect(provider.restore(backup, keepAs, meta('reverted'))).rejects.toThrow(`revert failed, prod is back as it was: the backup ${backup.name} is gone`);
    expect((await names(prod.name))[0]).toBe('after the apply');
    expect(await exists(keepAs)).toBe(false);
  });
});

describe('local copy and the machine\'s pg_dump', () => {
  const missing = localPostgresMissing(17);
  it.skipIf(missing)('explains that a newer server needs matching client tools, or a TEMPLATE copy', async () => {
    const server = await startLocalPostgres({ major: 17 });
    try {
      await withClient(server.url(), (client) => client.query('CREATE DATABASE prod'));
      const provider = createLocalBranchProvider(server.url('prod'));
      await expect(provider.create(branchName(), meta('trial'))).rejects.toThrow(
        /prod runs Postgres 17 but pg_dump here is version 15, which cannot copy a newer server: install the Postgres 17 client tools .*or use the branch target's TEMPLATE copy \(--local-copy template\)/,
      );
      const branch = await createLocalBranchProvider(server.url('prod'), { copy: 'template' }).create(branchName(), meta('trial'));
      expect(branch.url).toContain(encodeURIComponent(branch.id));
    } finally {
      await server.stop();
    }
  });
});

describe('trial', () => {
  async function setup(devSchema: string) {
    const prod = await prodDatabase();
    const dev = await createDatabase('dev', devSchema);
    created.push(dev.name);
    const plan = await planUrls(prod.url, dev.url);
    const branch = await createLocalBranchProvider(prod.url, { copy: 'template' }).create(branchName(), meta('trial'));
    branches.push(branch.id);
    return { prod, dev, plan, branch };
  }
  const trial = (branchUrl: string, devUrl: string, plan: Plan) =>
    withClient(branchUrl, (b) => withClient(devUrl, (d) => trialPlan(b, d, plan)));

  it('applies the plan to the branch, timing each statement, and proves the branch matches dev', async () => {
    const { prod, dev, plan, branch } = await setup('CREATE TABLE items (id int PRIMARY KEY, name text, price int NOT NULL DEFAULT 1); CREATE INDEX items_name ON items (name);');
    const report = await trial(branch.url, dev.url, plan);
    const devCatalog = await withClient(dev.url, (client) => readCatalogObjects(client, ['public']));
    expect(report.catalog).toEqual(proofOf(devCatalog));
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
    const branch = await createLocalBranchProvider(prod.url, { copy: 'template' }).create(branchName(), meta('trial'));
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
    const branch = await createLocalBranchProvider(prod.url, { copy: 'template' }).create(branchName(), meta('trial'));
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
    const branch = await createLocalBranchProvider(prod.url, { copy: 'template' }).create(branchName(), meta('trial'));
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

