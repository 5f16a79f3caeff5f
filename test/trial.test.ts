// The trial's report: each statement with the hazards measured on the branch's data just before it ran,
// also for statements rewritten to run online, whose SQL is not what a plan made without them has.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createDatabase, dropDatabase, sql } from './support.ts';
import { withClient } from '../activities/db.ts';
import { planUrls } from '../activities/schema/plan.ts';
import { trialPlan } from '../activities/trial/trial.ts';
import { createLocalBranchProvider } from '../activities/branches/local.ts';
import { BRANCH_PREFIX } from '../activities/branches/provider.ts';

const databases: string[] = [];
afterAll(async () => {
  for (const name of databases) await dropDatabase(name);
});

// `items` holds more than 64 MiB (rows of 1800 bytes stay uncompressed), so its ACCESS EXCLUSIVE locks are hazards.
const PROD = `CREATE TABLE owners (id int PRIMARY KEY);
  CREATE TABLE items (id int PRIMARY KEY, owner_id int, note text, pad text);
  INSERT INTO items SELECT g, NULL, 'note ' || g, repeat('x', 1800) FROM generate_series(1, 40000) g;`;
const DEV = `CREATE TABLE owners (id int PRIMARY KEY);
  CREATE TABLE items (id int PRIMARY KEY, owner_id int REFERENCES owners (id), pad text);`;

describe('the trial report', () => {
  let prod: { name: string; url: string };
  let dev: { name: string; url: string };
  beforeAll(async () => {
    [prod, dev] = await Promise.all([createDatabase('trial_prod', PROD), createDatabase('trial_dev', DEV)]);
    databases.push(prod.name, dev.name);
  });

  // A trial plans again on the branch to measure its data, where the same table may be changed online
  // or not by size; its statements must still find their hazards.
  it.each([
    ['changed online', { online: 'always' as const }, true],
    ['left blocking on a big table', { onlineThresholdBytes: 2 ** 30 }, false],
  ])('carries the hazards measured on the branch, for a plan whose big table is %s', async (_, options, online) => {
    const plan = await planUrls(prod.url, dev.url, options);
    const addKey = plan.statements.find((statement) => statement.kind === 'create_reference')!;
    expect(addKey.sql.endsWith(' NOT VALID')).toBe(online);
    expect(addKey.hazards).toEqual([expect.objectContaining({ kind: 'locking', object: 'public.items' })]);
    const dropNote = plan.statements.find((statement) => statement.kind === 'alter_table_drop_column')!;
    expect(dropNote.hazards).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'data-loss', object: 'public.items.note', rows: 40000 })]));

    const branch = await createLocalBranchProvider(prod.url, { copy: 'template' }).create(`${BRANCH_PREFIX}trial-${randomUUID().slice(0, 8)}`, {
      promotionId: 'promote-trial', runId: 'run-1', kind: 'trial', namespace: 'default',
    });
    databases.push(branch.id);
    // The branch's data moved on since the plan was made: the report measures it, not prod at planning.
    await sql("INSERT INTO items VALUES (40001, NULL, 'one more', '')", branch.id);
    const report = await withClient(branch.url, (b) => withClient(dev.url, (d) => trialPlan(b, d, plan)));

    expect(report.statements.map((statement) => statement.sql)).toEqual(plan.statements.map((statement) => statement.sql));
    const reported = (sql: string) => report.statements.find((statement) => statement.sql === sql)!;
    expect(reported(addKey.sql).hazards).toEqual([expect.objectContaining({ kind: 'locking', object: 'public.items' })]);
    expect(reported(dropNote.sql).hazards).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'data-loss', object: 'public.items.note', rows: 40001 })]));
  });
});
