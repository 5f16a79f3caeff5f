// `pgpromote branches --delete-stale` and the decision behind it, against the run's real Temporal dev
// server (with a second namespace) and real Postgres: only trial and backup branches whose promotion has
// ended are deleted, whatever their names and namespaces.
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { createDatabase, dropDatabase, sql } from './support.ts';
import { createLocalBranchProvider } from '../activities/branches/local.ts';
import {
  BRANCH_PREFIX,
  backupBranchName,
  revertedBranchName,
  trialBranchName,
  type BranchKind,
  type BranchMeta,
  type BranchProvider,
} from '../activities/branches/provider.ts';
import { judgeBranches, temporalRunStatus } from '../activities/branches/stale.ts';
import { requireTemporalCli } from '../scripts/temporal.ts';

const OTHER_NAMESPACE = 'pgpromote-other';
let connection: Connection;
let prod: { name: string; url: string };
let provider: BranchProvider;
/** Each fixture branch, by what it stands for. */
const fixtures: Record<string, { id: string; name: string }> = {};

/** A promotion run in `namespace`: started on a task queue nobody polls, so it stays running until terminated. */
async function run(namespace: string, workflowId: string, ended: boolean) {
  const client = new Client({ connection, namespace });
  const start = () => client.workflow.start('promote', { taskQueue: `nobody-${randomUUID()}`, workflowId, args: [] });
  // A namespace just registered takes a moment to reach the server's cache.
  let handle: Awaited<ReturnType<typeof start>> | undefined;
  for (let tries = 1; !handle; tries++) {
    handle = await start().catch(async (error: Error) => {
      if (tries >= 60 || !/namespace/i.test(error.message)) throw error;
      await sleep(500);
      return undefined;
    });
  }
  if (ended) await handle.terminate('a promotion that ended');
  return { promotionId: workflowId, runId: handle.firstExecutionRunId, namespace };
}

async function branch(label: string, name: (promotionId: string) => string, kind: BranchKind, at: Omit<BranchMeta, 'kind'>) {
  const made = await provider.create(name(at.promotionId), { ...at, kind });
  fixtures[label] = { id: made.id, name: made.name };
}

beforeAll(async () => {
  connection = await Connection.connect({ address: inject('temporalAddress') });
  const registered = spawnSync(requireTemporalCli(), ['operator', 'namespace', 'create', '--namespace', OTHER_NAMESPACE, '--address', inject('temporalAddress')], {
    encoding: 'utf8',
  });
  expect(registered.stderr + registered.stdout).toMatch(/registered|already exists/i);
  prod = await createDatabase('prod', 'CREATE TABLE items (id int PRIMARY KEY)');
  provider = createLocalBranchProvider(prod.url, { copy: 'template' });
  const id = (what: string) => `promote-${what}-${randomUUID().slice(0, 8)}`;
  const longId = `promote-${'long-'.repeat(14)}${randomUUID()}`; // its branch names are shortened with a hash

  await branch('running trial', trialBranchName, 'trial', await run('default', id('running'), false));
  await branch('ended backup', backupBranchName, 'backup', await run('default', id('ended'), true));
  await branch('running trial, hashed name', trialBranchName, 'trial', await run('default', longId, false));
  await branch('running backup, other namespace', backupBranchName, 'backup', await run(OTHER_NAMESPACE, id('elsewhere'), false));
  await branch('ended trial, other namespace', trialBranchName, 'trial', await run(OTHER_NAMESPACE, id('elsewhere-ended'), true));
  await branch('salvage copy', revertedBranchName, 'reverted', await run('default', id('reverted'), true));
  await branch('unknown run', trialBranchName, 'trial', { promotionId: id('never-ran'), runId: randomUUID(), namespace: 'default' });
  const handMade = `${BRANCH_PREFIX}by-hand-${randomUUID().slice(0, 8)}`;
  await sql(`CREATE DATABASE "${handMade}"`);
  fixtures['no metadata'] = { id: handMade, name: handMade };
  // As Neon keeps prod at a restore: named as a salvage copy, without annotations.
  const unannotated = revertedBranchName(id('neon-reverted'));
  await sql(`CREATE DATABASE "${unannotated}"`);
  fixtures['salvage copy without metadata'] = { id: unannotated, name: unannotated };
});

afterAll(async () => {
  for (const { id } of Object.values(fixtures)) await dropDatabase(id);
  if (prod) await dropDatabase(prod.name);
  await connection?.close();
});

const STALE = ['ended backup', 'ended trial, other namespace'];

describe('stale branches', () => {
  it('are only trial and backup branches whose promotion has ended, in the namespace they record', async () => {
    const mine = new Set(Object.values(fixtures).map((f) => f.id));
    const verdicts = (await judgeBranches(await provider.list(), temporalRunStatus(connection))).filter((v) => mine.has(v.branch.id));
    const byLabel = Object.fromEntries(Object.entries(fixtures).map(([label, f]) => [label, verdicts.find((v) => v.branch.id === f.id)!]));
    expect(Object.keys(byLabel).filter((label) => byLabel[label]!.stale).sort()).toEqual(STALE.sort());
    expect(byLabel['ended backup']!.reason).toMatch(/^backup branch of promotion promote-ended-\w+ \(run [\w-]+, namespace default\), which has ended \(TERMINATED\)$/);
    expect(byLabel['running trial, hashed name']!.reason).toMatch(/^trial branch of promotion promote-long-.*, which is still running$/);
    expect(byLabel['running backup, other namespace']!.reason).toMatch(/namespace pgpromote-other\), which is still running$/);
    expect(byLabel['salvage copy']!.reason).toMatch(/^salvage copy of prod, never deleted automatically; drop it by hand once you have what you need/);
    expect(byLabel['no metadata']!.reason).toMatch(/^no pgpromote metadata/);
    expect(byLabel['salvage copy without metadata']!.reason).toBe('salvage copy of prod, never deleted automatically; drop it by hand once you have what you need');
    expect(byLabel['unknown run']!.reason).toMatch(/Temporal at this address does not know the run .*so it is not known to have ended/);
  });

  it('pgpromote branches lists each with its verdict, and --delete-stale deletes exactly the stale ones, saying why for each', async () => {
    const pgpromote = (...extra: string[]) => {
      const result = spawnSync(process.execPath, ['bin/pgpromote.mjs', 'branches', '--prod', prod.url, ...extra], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        encoding: 'utf8',
        env: { ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress') },
        timeout: 60_000,
      });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      return result.stdout;
    };
    const line = (stdout: string, label: string) => stdout.split('\n').find((l) => l.startsWith(`${fixtures[label]!.id}\t`));

    const listed = pgpromote();
    for (const label of Object.keys(fixtures)) expect(line(listed, label)).toMatch(STALE.includes(label) ? /\tstale: / : /\tkept: /);
    const exists = async (id: string) => (await sql(`SELECT 1 FROM pg_database WHERE datname = '${id}'`)).rowCount === 1;
    for (const { id } of Object.values(fixtures)) expect(await exists(id)).toBe(true);

    const cleaned = pgpromote('--delete-stale');
    for (const [label, { id }] of Object.entries(fixtures)) {
      const deleted = STALE.includes(label);
      expect(line(cleaned, label)).toMatch(deleted ? /\tdeleted: .*which has ended \(TERMINATED\)$/ : /\tskipped: /);
      expect(await exists(id)).toBe(!deleted);
    }
    expect(line(cleaned, 'salvage copy')).toMatch(/\tskipped: salvage copy of prod, never deleted automatically; drop it by hand once you have what you need/);
  });
});
