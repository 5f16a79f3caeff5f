// A promotion people talk to: questions answered while it runs, and approvals under a policy. Real worker,
// Temporal dev server and Postgres; the CLI where people use it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databasePairs, sql } from './support.ts';
import { pgpromote as runCli, workerEnv } from './cli-process.ts';
import { startWorker, type TestWorker } from './worker.ts';
import { answerSignal, statusQuery } from '../workflows/messages.ts';

const APP = `
  CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, nickname text);
  CREATE TABLE notes (id serial PRIMARY KEY, body text);
`;
const DATA = `INSERT INTO users (name, nickname) SELECT 'user ' || i, 'nick ' || i FROM generate_series(1, 30) i;`;
// dev renamed users.name to full_name, dropped nickname and notes, and added a handle column and a memos table:
// each missing object has a new one it may have been renamed to.
const DEV = `
  CREATE TABLE users (id serial PRIMARY KEY, full_name text NOT NULL, handle text);
  CREATE TABLE memos (id serial PRIMARY KEY, body text);
`;

let worker: TestWorker;
const pairs = databasePairs();
const databases = (prodSchema = APP + DATA, devSchema = DEV) => pairs.pair(prodSchema, devSchema);

beforeAll(async () => {
  worker = await startWorker();
});
afterAll(async () => {
  await worker?.stop();
  await pairs.dropAll();
});

const columns = async (database: string, table: string) =>
  (await sql(`SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '${table}' ORDER BY ordinal_position`, database)).rows.map(
    (row) => row.column_name,
  );

/** The CLI as a user runs it, on this file's worker. */
const pgpromote = async (args: string[]) => {
  const { code, stdout, stderr } = await runCli(args, workerEnv(worker));
  return { status: code, stdout, stderr };
};

describe('questions answered while the promotion runs', () => {
  it('waits for answers, plans again with them (new questions included), then trials and applies the answered plan', async () => {
    const { prod, dev } = await databases();
    const { client } = worker;
    const id = await client.deploy({ dev: dev.url, prod: prod.url });

    const asking = await client.waitForStage(id, ['awaiting-answers', 'finished']);
    expect(asking.stage).toBe('awaiting-answers');
    expect(asking.plan!.questions.map(({ object, answer }) => ({ object, answer }))).toEqual([
      { object: 'public.users.name', answer: undefined },
      { object: 'public.users.nickname', answer: undefined },
      { object: 'public.notes', answer: undefined },
    ]);
    expect(asking.branch).toBeUndefined(); // nothing is branched or trialled before the answers

    // Not yet: approval, and answers that do not fit.
    await expect(client.approve(id, { by: 'alice', planHash: asking.plan!.planHash })).rejects.toThrow(/refused "approve": the plan has open questions/);
    await expect(client.answer(id, { by: 'alice', renames: ['users.name=users.nope'] })).rejects.toThrow(
      /refused "answer": --rename users.name=users.nope: no open question is about an object named users.name with a candidate named users.nope/,
    );
    await expect(client.answer(id, { by: 'alice', answers: { 'column:public.users.name': 'public.memos' } })).rejects.toThrow(
      /refused "answer": answer column:public.users.name="public.memos": choose one of (public\.users\.(full_name|handle), ){2}drop/,
    );
    await expect(client.answer(id, { by: 'alice', answers: { 'column:public.nope': 'drop' } })).rejects.toThrow(/refused "answer": answer for unknown question column:public.nope/);
    await expect(client.answer(id, { by: ' ' })).rejects.toThrow(/--as is empty/);
    expect((await client.status(id)).answered).toEqual([]);

    // Through the CLI: exit 0 when accepted, 1 with the reason when refused.
    const accepted = await pgpromote(['answer', id, '--as', 'alice', '--rename', 'users.name=users.full_name', '--drop', 'notes']);
    expect(accepted.stderr).toBe('');
    expect(accepted.status).toBe(0);
    expect(accepted.stdout).toContain(`answered; ${id} plans again with 2 new answer(s)`);

    // The nickname question is still open: the promotion asks again.
    const again = await client.waitForStage(id, ['awaiting-answers', 'awaiting-approval', 'finished']);
    expect(again.stage).toBe('awaiting-answers');
    expect(again.answered).toEqual([expect.objectContaining({ by: 'alice', answers: { 'column:public.users.name': 'public.users.full_name', 'table:public.notes': 'drop' } })]);
    expect(again.plan!.questions.filter((question) => !question.answer).map((question) => question.object)).toEqual(['public.users.nickname']);
    expect(again.plan!.planHash).not.toBe(asking.plan!.planHash);

    const refused = await pgpromote(['answer', id, '--as', 'bob', '--drop', 'users.name']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('refused "answer": --drop "users.name": no open question is about an object of that name; the open questions are public.users.nickname');

    // A raw signal (the Temporal UI) answers the same way.
    await client.temporal.workflow.getHandle(id).signal(answerSignal, { by: 'bob', renames: ['users.nickname=users.handle'] });
    const ready = await client.waitForStage(id, ['awaiting-approval', 'finished']);
    expect(ready.stage).toBe('awaiting-approval');
    expect(ready.plan!.questions.every((question) => question.answer)).toBe(true);
    const kinds = ready.plan!.statements.map((statement) => statement.kind);
    expect(kinds).toContain('alter_table_rename_column');
    expect(kinds).toContain('drop_table');
    expect(kinds).not.toContain('alter_table_drop_column'); // every column was renamed: no column is dropped

    await client.approve(id, { by: 'carol', acceptDataLoss: true }); // notes is dropped: data loss, accepted
    expect((await client.result(id)).outcome).toBe('applied');
    expect(await columns(prod.name, 'users')).toEqual(['id', 'full_name', 'handle']);
    expect((await sql('SELECT full_name, handle FROM users WHERE id = 1', prod.name)).rows).toEqual([{ full_name: 'user 1', handle: 'nick 1' }]);
    expect(await columns(prod.name, 'notes')).toEqual([]);
  });

  it('takes answers given at deploy time, by rename and by drop, without waiting', async () => {
    const { prod, dev } = await databases();
    const { client } = worker;
    const id = await client.deploy({ dev: dev.url, prod: prod.url, renames: ['users.name=users.full_name', 'users.nickname=users.handle'], drops: ['notes'] });
    const ready = await client.waitForStage(id, ['awaiting-answers', 'awaiting-approval', 'finished']);
    expect(ready.stage).toBe('awaiting-approval');
    expect(ready.answered).toEqual([]);
    expect(ready.plan!.questions.map((question) => question.answer).sort()).toEqual(['drop', 'public.users.full_name', 'public.users.handle']);
    await client.reject(id, { by: 'alice' });
    expect((await client.result(id)).outcome).toBe('rejected');
  });

  it('ends expired when nobody answers, and rejected when rejected while it asks: prod untouched either way', async () => {
    const { client } = worker;
    const first = await databases();
    const expiring = await client.deploy({ dev: first.dev.url, prod: first.prod.url, approvalTimeout: '2 seconds' });
    const second = await databases();
    const rejected = await client.deploy({ dev: second.dev.url, prod: second.prod.url });
    await client.waitForStage(rejected, ['awaiting-answers']);
    await client.reject(rejected, { by: 'alice', comment: 'not this one' });
    expect(await client.result(rejected)).toMatchObject({ outcome: 'rejected', rejection: { by: 'alice' } });
    expect(await client.result(expiring)).toMatchObject({ outcome: 'expired', stage: 'finished' });
    for (const { prod } of [first, second]) expect(await columns(prod.name, 'users')).toEqual(['id', 'name', 'nickname']);
  });
});

describe('approval policy', () => {
  const change = { prodSchema: APP + DATA, devSchema: `${APP} ALTER TABLE notes ADD COLUMN color text;` };

  it('counts distinct allowed approvers, never the one who started it, and applies at the count', async () => {
    const { prod, dev } = await databases(change.prodSchema, change.devSchema);
    const { client } = worker;
    const id = await client.deploy({ dev: dev.url, prod: prod.url, startedBy: 'dave', policy: { approvers: ['alice', 'bob', 'dave'], approvals: 2, noSelfApproval: true } });
    const waiting = await client.waitForStage(id, ['awaiting-approval', 'finished']);
    expect(waiting).toMatchObject({ stage: 'awaiting-approval', startedBy: 'dave', policy: { approvers: ['alice', 'bob', 'dave'], approvals: 2, noSelfApproval: true } });

    await expect(client.approve(id, { by: 'mallory' })).rejects.toThrow('mallory may not approve this promotion: its policy allows only alice, bob, dave');
    await expect(client.approve(id, { by: 'dave' })).rejects.toThrow("dave started this promotion and its policy forbids approving one's own promotion");
    const once = await client.approve(id, { by: 'alice' });
    expect(once).toMatchObject({ stage: 'awaiting-approval', approvals: [expect.objectContaining({ by: 'alice' })] });
    await expect(client.approve(id, { by: 'alice' })).rejects.toThrow('alice has already approved this plan; it needs 2 distinct approvers (1 so far: alice)');

    const second = await pgpromote(['approve', id, '--as', 'bob']);
    expect(second.status).toBe(0);
    const done = await client.result(id);
    expect(done.outcome).toBe('applied');
    expect(done.approvals.map((approval) => approval.by)).toEqual(['alice', 'bob']);
    expect(await columns(prod.name, 'notes')).toEqual(['id', 'body', 'color']);
  });

  it('refuses at deploy a policy nobody could satisfy, saying why', async () => {
    const { prod, dev } = await databases(change.prodSchema, change.devSchema);
    const result = await pgpromote(['deploy', '--dev', dev.url, '--prod', prod.url, '--as', 'dave', '--approvers', 'dave', '--approvals', '2', '--no-self-approval', '--no-wait']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('--approvals 2 needs that many distinct approvers, but --approvers names only 1');
    expect(result.stderr).toContain('--no-self-approval forbids dave to approve, and --approvers names nobody else');
    const zero = await pgpromote(['deploy', '--dev', dev.url, '--prod', prod.url, '--approvals', '0', '--no-wait']);
    expect(zero.status).toBe(1);
    expect(zero.stderr).toContain('approvals 0 (--approvals) must be a whole number from 1 to 20');
  });

  it('shows the policy and the approvals in status, and records a refused approve signal under ignored', async () => {
    const { prod, dev } = await databases(change.prodSchema, change.devSchema);
    const { client } = worker;
    const id = await client.deploy({ dev: dev.url, prod: prod.url, startedBy: 'dave', policy: { noSelfApproval: true } });
    const waiting = await client.waitForStage(id, ['awaiting-approval']);
    const handle = client.temporal.workflow.getHandle(id);
    await handle.signal('approve', { by: 'dave', planHash: waiting.plan!.planHash });
    const state = await handle.query(statusQuery);
    expect(state.ignored).toEqual([expect.objectContaining({ by: 'dave', reason: expect.stringContaining('forbids approving one\'s own promotion') })]);
    const text = await pgpromote(['status', id]);
    expect(text.stdout).toContain('policy: 1 distinct approver(s), not dave');
    await client.cancel(id, { by: 'dave' });
    expect((await client.result(id)).outcome).toBe('cancelled');
  });
});
