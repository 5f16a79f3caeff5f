// What operators see of a promotion, with a real worker, the real Temporal dev server and real
// Postgres: search attributes in the server's visibility store, `list`, `status` with no worker
// answering, the CLI's JSON documents, and the Temporal UI's details.
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { randomUUID } from 'node:crypto';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { msToTs } from '@temporalio/common/lib/time.js';
import { databasePairs, serverUrl } from './support.ts';
import { startWorker, type TestWorker } from './worker.ts';
import { pgpromote, workerEnv } from './cli-process.ts';
import { createWorker } from '../worker/worker.ts';
import { activityDeps, DEFAULTS } from '../worker/config.ts';
import { DATA_LOSS, OUTCOME, PROD, RECORD_BOUNDS, STAGE, code, details, recordOf } from '../workflows/visibility.ts';
import { prodIdentity } from '../activities/prod-identity.ts';
import type { PromotionState } from '../workflows/messages.ts';
import type { Plan, PlannedStatement } from '../activities/schema/model.ts';
import type { Question } from '../activities/schema/questions.ts';

/** Visibility is eventually consistent: asks again until `found` holds, for up to 30 s. */
async function eventually<T>(ask: () => Promise<T>, found: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await ask();
    if (found(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

describe('operators', () => {
  const { pair, dropAll } = databasePairs();
  let worker: TestWorker;
  beforeAll(async () => {
    worker = await startWorker();
  });
  afterAll(async () => {
    await worker?.stop();
    await dropAll();
  });
  /** The search attributes the server's visibility store holds for one promotion. */
  const visible = async (id: string) => {
    for await (const execution of worker.client.temporal.workflow.list({ query: `WorkflowId = '${id}'` })) {
      const attributes = execution.typedSearchAttributes;
      return { stage: attributes.get(STAGE), prod: attributes.get(PROD), outcome: attributes.get(OUTCOME), dataLoss: attributes.get(DATA_LOSS) };
    }
    return undefined;
  };
  const list = async (args: string[]) => {
    const result = await pgpromote(['list', '--json', ...args], workerEnv(worker));
    expect(result.stderr).toBe('');
    return JSON.parse(result.stdout) as { id: string; stage: string; outcome?: string; prod: string }[];
  };

  it('shows a promotion to operators while it waits, with no worker answering, and at its end', async () => {
    const { prod, dev } = await pair('CREATE TABLE users (id int PRIMARY KEY, nickname text); INSERT INTO users VALUES (1, \'al\');', 'CREATE TABLE users (id int PRIMARY KEY);');
    const id = `ops-${randomUUID().slice(0, 8)}`;
    const identity = `postgres://127.0.0.1:${new URL(serverUrl()).port}/${prod.name}`;

    // `deploy --no-wait --json` prints one document, and nothing else.
    const deployed = await pgpromote(['deploy', '--dev', dev.url, '--prod', prod.url, '--id', id, '--no-wait', '--json'], workerEnv(worker));
    expect(deployed.stderr).toBe('');
    expect(deployed.code).toBe(0);
    expect(JSON.parse(deployed.stdout)).toEqual({ id });
    expect(deployed.stdout).toBe(`${JSON.stringify({ id })}\n`);

    // Another prod's promotion, which ends at once: the filters tell them apart.
    const other = await pair('CREATE TABLE t (id int PRIMARY KEY);', 'CREATE TABLE t (id int PRIMARY KEY);');
    const otherId = await worker.client.deploy({ dev: other.dev.url, prod: other.prod.url });
    await worker.client.result(otherId);

    await worker.client.waitForStage(id, ['awaiting-approval']);
    expect(await eventually(() => visible(id), (seen) => seen?.stage === 'awaiting-approval')).toEqual({
      stage: 'awaiting-approval', prod: identity, outcome: undefined, dataLoss: true,
    });
    const waiting = await eventually(() => list(['--stage', 'awaiting-approval', '--prod', prod.url]), (found) => found.length > 0);
    expect(waiting).toEqual([expect.objectContaining({ id, stage: 'awaiting-approval', prod: identity })]);
    expect(waiting[0]).not.toHaveProperty('outcome');
    const finished = await eventually(() => list(['--stage', 'finished']), (found) => found.some((promotion) => promotion.id === otherId));
    expect(finished.map((promotion) => promotion.id)).toContain(otherId);
    expect(finished.map((promotion) => promotion.id)).not.toContain(id);
    expect(finished.find((promotion) => promotion.id === otherId)).toMatchObject({ outcome: 'up-to-date', prod: `postgres://127.0.0.1:${new URL(serverUrl()).port}/${other.prod.name}` });
    // Only a password-free URL is needed, and another prod's promotions are not listed.
    const byProd = await list(['--prod', identity.replace('postgres://', 'postgres://nobody@')]);
    expect(byProd.map((promotion) => promotion.id)).toEqual([id]);
    const table = await pgpromote(['list', '--prod', prod.url], workerEnv(worker));
    expect(table.stdout).toMatch(new RegExp(`^ID +STAGE +OUTCOME +PROD +STARTED\n${id} +awaiting-approval +${identity} +\\S+\n$`));

    // With the worker gone (it still shows among the pollers), status answers from the recorded state.
    const { taskQueue, secretKeys } = worker.config;
    await worker.stop();
    try {
      const status = await pgpromote(['status', id, '--json'], { PGPROMOTE_TASK_QUEUE: taskQueue });
      expect(status.stderr).toBe('');
      expect(status.code).toBe(0);
      const document = JSON.parse(status.stdout);
      expect(document).toMatchObject({
        id, stage: 'awaiting-approval', source: 'recorded', prod: identity, questions: [], policy: { approvals: 1 }, approvals: [],
        plan: { statements: [{ sql: 'ALTER TABLE "users" DROP COLUMN "nickname";', hazards: [{ kind: 'data-loss', rows: 1 }] }] },
      });
      expect(document.plan.planHash).toMatch(/^[0-9a-f]{64}$/);
      expect(Date.parse(document.recordedAt)).not.toBeNaN();
      expect(document).not.toHaveProperty('outcome');
      const text = await pgpromote(['status', id], { PGPROMOTE_TASK_QUEUE: taskQueue });
      expect(text.stdout).toMatch(new RegExp(`^${id}: awaiting-approval\\n(.*\\n){2}  the last state it recorded, at \\S+: no worker answered`));
    } finally {
      worker = await startWorker({ taskQueue, secretKeys });
    }

    // With a worker, the live state answers; at the end the search attributes say how it ended.
    const live = JSON.parse((await pgpromote(['status', id, '--json'], workerEnv(worker))).stdout);
    expect(live).toMatchObject({ id, stage: 'awaiting-approval', source: 'query', prod: identity });
    await worker.client.reject(id, { by: 'bob', comment: 'not today' });
    await worker.client.result(id);
    expect(await eventually(() => visible(id), (seen) => seen?.stage === 'finished')).toEqual({
      stage: 'finished', prod: identity, outcome: 'rejected', dataLoss: true,
    });
    const done = JSON.parse((await pgpromote(['status', id, '--json'], workerEnv(worker))).stdout);
    expect(done).toMatchObject({ stage: 'finished', outcome: 'rejected', source: 'result', rejection: { by: 'bob', comment: 'not today' } });
  }, 300_000);

  it('reports a failed promotion from its record, with the reason', async () => {
    const { prod, dev } = await pair('CREATE TABLE users (id int PRIMARY KEY, name text); INSERT INTO users VALUES (1, NULL);', 'CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);');
    const id = await worker.client.deploy({ dev: dev.url, prod: prod.url });
    await expect(worker.client.result(id)).rejects.toThrow('contains null values');
    const status = await pgpromote(['status', id, '--json'], workerEnv(worker));
    expect(status.code).toBe(0);
    const document = JSON.parse(status.stdout);
    expect(document).toMatchObject({ id, stage: 'finished', outcome: 'failed', source: 'recorded', plan: { statements: [{ kind: 'alter_table_alter_column_set_notnull' }] } });
    expect(document.error).toMatch(/^statement 1 of 1 failed: column "name" of relation "users" contains null values/);
    expect(await eventually(() => visible(id), (seen) => seen?.stage === 'finished')).toMatchObject({ stage: 'finished', outcome: 'failed', dataLoss: false });
  });

  it('refuses an unknown stage as a usage error', async () => {
    const result = await pgpromote(['list', '--stage', 'sleeping']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("argument 'sleeping' is invalid. Allowed choices are queued, planning, awaiting-answers,");
  });

  it('says how to register the search attributes on a namespace that lacks them, before anything runs', async () => {
    const namespace = `bare-${randomUUID().slice(0, 8)}`;
    const connection = await Connection.connect({ address: inject('temporalAddress') });
    try {
      await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
      const registered = () => connection.operatorService.listSearchAttributes({ namespace }).then(() => true, () => false);
      expect(await eventually(registered, Boolean)).toBe(true);
    } finally {
      await connection.close();
    }
    const advice = `namespace ${namespace} lacks pgpromote's search attributes PgpromoteStage (Keyword), PgpromoteProd (Keyword), PgpromoteOutcome (Keyword), PgpromoteDataLoss (Bool), which promotions set for \`pgpromote list\` and \`status\`: register them once with
  temporal operator search-attribute create --namespace ${namespace} --name PgpromoteStage --name PgpromoteProd --name PgpromoteOutcome --type Keyword
  temporal operator search-attribute create --namespace ${namespace} --name PgpromoteDataLoss --type Bool
`;
    const native = await NativeConnection.connect({ address: inject('temporalAddress') });
    try {
      const starting = createWorker({ connection: native, namespace, taskQueue: 'nowhere', deps: activityDeps({ ...DEFAULTS, secretKeys: ['k'] }) });
      await expect(starting).rejects.toThrow(advice);
    } finally {
      await native.close();
    }
    const { prod, dev } = await pair('CREATE TABLE t (id int);', 'CREATE TABLE t (id int);');
    const deploy = await pgpromote(['deploy', '--dev', dev.url, '--prod', prod.url, '--no-wait'], { TEMPORAL_NAMESPACE: namespace, PGPROMOTE_SECRET_KEY: 'k' });
    expect(deploy.code).toBe(1);
    expect(deploy.stderr).toContain(`pgpromote: ${advice}`);
    const listed = await pgpromote(['list'], { TEMPORAL_NAMESPACE: namespace });
    expect(listed.stderr).toContain(advice);
  });
});

describe('what the server keeps of a promotion', () => {
  const state = (overrides: Partial<PromotionState>): PromotionState => ({
    promotionId: 'p1', dev: 'postgres://app@dev:5432/dev', prod: 'postgres://app@db:5432/prod', stage: 'awaiting-approval',
    ignored: [], policy: { approvals: 1 }, answered: [], approvals: [], ...overrides,
  });
  const statement = (sql: string): PlannedStatement => ({ sql, kind: 'create_table', mode: 'main', lockTimeoutMs: 2000, statementTimeoutMs: 60_000, hazards: [] });
  const plan = (statements: PlannedStatement[], questions: Question[] = []): Plan => ({
    schemas: ['public'], fromFingerprint: 'a', toFingerprint: 'b', planHash: 'c'.repeat(64), statements, lockBudgetMs: 60_000, questions, unsupported: [],
  });

  it('names prod without user or password, whatever spelling of the URL', () => {
    const local = { provider: 'local' } as const;
    expect(prodIdentity('postgres://app:secret@DB.example.com/shop', local)).toBe('postgres://db.example.com:5432/shop');
    expect(prodIdentity('postgresql://other@db.example.com:5432/shop?sslmode=require', local)).toBe('postgres://db.example.com:5432/shop');
    // No quote survives: identities are written into visibility queries as they are.
    expect(prodIdentity("postgres://h:6543/it's%20db", local)).toBe('postgres://h:6543/it%27s%20db');
    expect(prodIdentity('postgres://h/db', { provider: 'neon', projectId: 'proud-sun', branchId: "br-'x", databaseName: 'db', roleName: 'r' })).toBe('neon:proud-sun/br-%27x');
  });

  it('records a bounded state: the first statements, their SQL cut, and how many were left out', () => {
    const long = `CREATE TABLE t (${'c int, '.repeat(200)}id int);`;
    const statements = Array.from({ length: RECORD_BOUNDS.statements + 7 }, (_, i) => statement(i === 0 ? long : `CREATE TABLE t${i} (id int);`));
    const record = recordOf(state({ plan: plan(statements) }), '2026-01-01T00:00:00.000Z');
    expect(record.plan!.statements).toHaveLength(RECORD_BOUNDS.statements);
    expect(record.plan!.statements[0]!.sql).toBe(`${long.slice(0, RECORD_BOUNDS.sqlChars)}…`);
    expect(record.plan!.statements[1]!.sql).toBe('CREATE TABLE t1 (id int);');
    expect(record.omitted).toEqual({ plan: 7 });
    expect(recordOf(state({ plan: plan(statements.slice(1, 3)) }), 'now')).not.toHaveProperty('omitted');
    expect(JSON.stringify(record).length).toBeLessThan(40_000);
  });

  it('shows dev\'s names in the UI details only as code, and says how to answer and approve', () => {
    const hostile = 'public.users.`x` [link](http://evil) <img>';
    const markdown = details(state({
      stage: 'awaiting-answers',
      plan: plan([{ ...statement('ALTER TABLE ...'), hazards: [{ kind: 'data-loss', message: `drops column ${hostile}: 3 rows`, object: hostile, rows: 3 }] }], [
        { id: 'column:x', kind: 'column', object: hostile, candidates: ["public.users.it's"] },
      ]),
    }));
    expect(markdown).toContain(`- ${code(hostile)}: renamed to one of ${code("public.users.it's")}?`);
    expect(code(hostile)).toBe('``public.users.`x` [link](http://evil) <img>``');
    expect(code('`x`')).toBe('`` `x` ``');
    expect(markdown).toContain(`rename: ${code(`pgpromote answer p1 --rename 'public.users.\`x\` [link](http://evil) <img>=public.users.it'\\''s'`)}`);
    expect(markdown).toContain(`drop: ${code(`pgpromote answer p1 --drop 'public.users.\`x\` [link](http://evil) <img>'`)}, or signal \`answer\` with ${code(JSON.stringify({ by: 'you', drops: [hostile] }))}`);
    expect(markdown).toContain('- ⚠ data-loss: drops column public.users.\\`x\\` \\[link\\](http://evil) \\<img\\>: 3 rows');
    const approving = details(state({ plan: plan([{ ...statement('DROP TABLE t;'), hazards: [{ kind: 'data-loss', message: 'drops t', object: 't' }] }]) }));
    expect(approving).toContain(`approve: \`pgpromote approve p1 --plan ${'c'.repeat(64)} --accept-data-loss\``);
    expect(approving).toContain(`{"by":"you","planHash":"${'c'.repeat(64)}","acceptDataLoss":true}`);
    expect(approving).toContain('reject: `pgpromote reject p1`');
  });
});
