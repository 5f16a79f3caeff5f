// The `pgpromote` command and the setup script as a user runs them: real processes, real exit codes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { createDatabase, databasePairs, dropDatabase } from './support.ts';
import { startWorker, type TestWorker } from './worker.ts';
import { freePort } from '../scripts/ports.ts';
import { pgpromote, run, workerEnv } from './cli-process.ts';

describe('pgpromote CLI', () => {
  const databases: string[] = [];
  let prod: string;
  let dev: string;
  beforeAll(async () => {
    const p = await createDatabase('prod', 'CREATE TABLE users (id int PRIMARY KEY, name text); INSERT INTO users VALUES (1, \'a\'), (2, NULL);');
    const d = await createDatabase('dev', 'CREATE TABLE users (id int PRIMARY KEY, full_name text, email text);');
    databases.push(p.name, d.name);
    [prod, dev] = [p.url, d.url];
  });
  afterAll(async () => {
    for (const name of databases) await dropDatabase(name);
  });

  it('says that a promotion id is unknown', async () => {
    const result = await pgpromote(['approve', 'no-such-promotion', '--as', 'alice']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('pgpromote: no promotion with id no-such-promotion in namespace default: check the id (`pgpromote deploy` prints it)\n');
  });

  it('says when a database cannot be reached, without printing its password', async () => {
    const url = `postgres://app:hunter2@127.0.0.1:${await freePort()}/prod`;
    const result = await pgpromote(['plan', '--from', url, '--to', dev]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^pgpromote: cannot reach Postgres at postgres:\/\/app@127\.0\.0\.1:\d+\/prod \(ECONNREFUSED\): is the server running/);
    expect(result.stderr).not.toContain('hunter2');
  });

  it('says when a database does not exist', async () => {
    const url = new URL(dev);
    url.pathname = '/no_such_database';
    const result = await pgpromote(['plan', '--from', url.toString(), '--to', dev]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('database "no_such_database" does not exist');
    expect(result.stderr).toContain('create it, or fix the database name in the URL');
  });

  it('rejects something that is not a Postgres URL', async () => {
    const result = await pgpromote(['plan', '--from', 'mysql://x@y/z', '--to', dev]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('not a Postgres connection URL');
  });

  it('prints a plan as exactly one JSON document, with the rename answered', async () => {
    const result = await pgpromote(['plan', '--from', prod, '--to', dev, '--rename', 'users.name=users.full_name', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout);
    expect(plan.statements.map((s: { sql: string }) => s.sql)).toEqual([
      'ALTER TABLE "users" RENAME COLUMN "name" TO "full_name";',
      'ALTER TABLE "users" ADD COLUMN "email" text;',
    ]);
    expect(plan.questions).toEqual([
      { id: 'column:public.users.name', kind: 'column', object: 'public.users.name', candidates: ['public.users.full_name', 'public.users.email'], answer: 'public.users.full_name' },
    ]);
  });

  it('plans online with --online: how each statement runs, the lock it takes and its timeouts, in text and JSON', async () => {
    const [p, d] = [await createDatabase('prod', 'CREATE TABLE t (a int)'), await createDatabase('dev', 'CREATE TABLE t (a int); CREATE INDEX t_a ON t (a)')];
    databases.push(p.name, d.name);
    const json = await pgpromote(['plan', '--from', p.url, '--to', d.url, '--online', '--json']);
    expect(json.code).toBe(0);
    const plan = JSON.parse(json.stdout);
    expect(plan.statements).toEqual([expect.objectContaining({
      sql: 'CREATE INDEX CONCURRENTLY "t_a" ON "t" USING btree ("a");', transactional: false, mode: 'no-transaction', lock: 'SHARE UPDATE EXCLUSIVE', lockTimeoutMs: 2000, statementTimeoutMs: 900_000,
    })]);
    expect(plan.lockBudgetMs).toBe(300_000);
    const text = await pgpromote(['plan', '--from', p.url, '--to', d.url, '--online-threshold', '1GB']);
    expect(text.stdout).toContain('1. CREATE INDEX "t_a" ON "t" USING btree ("a");\n   (in the main transaction · SHARE lock · lock timeout 2 s · statement timeout 15 min)\n');
    expect(text.stdout).toContain('lock-retry budget: 5 min');
    expect(await pgpromote(['plan', '--from', p.url, '--to', d.url, '--online-threshold', 'big'])).toMatchObject({ code: 2, stderr: expect.stringContaining('give a size in bytes') });
    expect(await pgpromote(['plan', '--from', p.url, '--to', d.url, '--online', '--online-threshold', '0'])).toMatchObject({ code: 2, stderr: expect.stringContaining('exclude each other') });
  });

  it('refuses a rename that matches nothing, saying what to check', async () => {
    const result = await pgpromote(['plan', '--from', prod, '--to', dev, '--rename', 'users.nope=users.full_name']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--rename users.nope=users.full_name');
  });

  it('refuses to start a promotion without the shared secret', async () => {
    const result = await pgpromote(['deploy', '--dev', dev, '--prod', prod], { PGPROMOTE_SECRET_KEY: '' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('PGPROMOTE_SECRET_KEY is not set');
  });

  it('checks every input before it starts anything, and lists all that is wrong', async () => {
    const id = `cli-invalid-${randomUUID().slice(0, 8)}`;
    const result = await pgpromote(
      ['deploy', '--dev', dev, '--prod', prod, '--id', id, '--revert-window', 'one hour', '--approval-timeout', 'soon', '--rename', 'users.name', '--schema', ''],
      { PGPROMOTE_SECRET_KEY: 'k' },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      [
        'pgpromote: nothing was started:',
        '  - approval timeout "soon" (--approval-timeout) is not a duration: write it like "30 minutes", "1 hour" or "7 days"',
        '  - revert window "one hour" (--revert-window) is not a duration: write it like "30 minutes", "1 hour" or "7 days"',
        '  - schemas [""] (--schema) must be schema names, none empty, e.g. --schema public --schema billing',
        '  - --rename "users.name" is not old=new: name the object as prod has it and as dev has it, e.g. users.name=users.full_name',
        '',
      ].join('\n'),
    );
    expect((await pgpromote(['status', id])).stderr).toContain(`no promotion with id ${id}`);
  });

  it('refuses promotion ids that cannot name a workflow and its branches', async () => {
    const long = await pgpromote(['deploy', '--dev', dev, '--prod', prod, '--id', 'x'.repeat(45)], { PGPROMOTE_SECRET_KEY: 'k' });
    expect(long.code).toBe(1);
    expect(long.stderr).toContain('is 45 characters long: use at most 44');
    const odd = await pgpromote(['deploy', '--dev', dev, '--prod', prod, '--id', 'a";drop'], { PGPROMOTE_SECRET_KEY: 'k' });
    expect(odd.code).toBe(1);
    expect(odd.stderr).toContain('may hold only letters, digits, "-" and "_"');
  });

  it('refuses an empty approver or plan hash at once, as a usage error (exit 2)', async () => {
    const noPlan = await pgpromote(['approve', 'any-promotion', '--as', 'alice', '--plan', '']);
    expect(noPlan.code).toBe(2);
    expect(noPlan.stderr).toMatch(/^pgpromote: --plan is empty: give the plan hash you reviewed/);
    for (const command of ['answer', 'approve', 'reject', 'revert', 'cancel']) {
      const nobody = await pgpromote([command, 'any-promotion', '--as', ' ']);
      expect(nobody.code).toBe(2);
      expect(nobody.stderr).toBe('pgpromote: --as is empty: say who decides, e.g. --as alice\n');
    }
  });

  it('says that no worker polls the task queue instead of waiting for one', async () => {
    const taskQueue = `nobody-${randomUUID()}`;
    const noWorker = `no worker is polling task queue ${taskQueue} in namespace default: start one (npm run worker) with the same TEMPORAL_ADDRESS/PGPROMOTE_TASK_QUEUE\n`;
    const deploy = await pgpromote(['deploy', '--dev', dev, '--prod', prod], { PGPROMOTE_SECRET_KEY: 'k', PGPROMOTE_TASK_QUEUE: taskQueue });
    expect(deploy.code).toBe(1);
    expect(deploy.stderr).toBe(`pgpromote: ${noWorker}`);

    // A promotion started where no worker polls, as from another client, then terminated from the UI.
    const connection = await Connection.connect({ address: inject('temporalAddress') });
    try {
      const id = `cli-orphan-${randomUUID().slice(0, 8)}`;
      const handle = await new Client({ connection }).workflow.start('promote', {
        taskQueue,
        workflowId: id,
        args: [{ devLabel: 'postgres://app@dev-host:5432/dev', prodLabel: 'postgres://app@prod-host:5432/prod' }],
      });
      for (const args of [['status', id], ['approve', id, '--as', 'alice'], ['reject', id, '--as', 'bob'], ['revert', id, '--as', 'carol']]) {
        const result = await pgpromote(args);
        expect(result.code).toBe(1);
        expect(result.stderr).toBe(`pgpromote: ${noWorker}`);
      }
      await handle.terminate('stopped by the operator');
      const status = await pgpromote(['status', id]);
      expect(status.stderr).toBe('');
      expect(status.code).toBe(0);
      expect(status.stdout).toContain(`${id}: terminated\n  prod postgres://app@prod-host:5432/prod\n`);
      expect(status.stdout).toContain('reason: stopped by the operator');
      const approve = await pgpromote(['approve', id, '--as', 'alice']);
      expect(approve.stderr).toBe(`pgpromote: promotion ${id} refused "approve": it has ended (terminated)\n`);
    } finally {
      await connection.close();
    }
  });

  it('ends quietly when the reader of its output goes away (| head -1)', async () => {
    // Enough output to fill the pipe after head has gone: a plan of 600 new tables.
    const tables = Array.from({ length: 600 }, (_, i) => `CREATE TABLE t${i} (id int PRIMARY KEY, a text, b text);`).join('\n');
    const big = await createDatabase('dev_big', tables);
    databases.push(big.name);
    const result = await run('sh', ['-c', `(node bin/pgpromote.mjs plan --from '${prod}' --to '${big.url}' --json; echo "pgpromote exited $?" >&2) | head -1`], {
      TEMPORAL_ADDRESS: inject('temporalAddress'),
    });
    expect(result.stdout).toBe('{\n');
    expect(result.stderr).toBe('pgpromote exited 0\n');
  });

  it('says when the Temporal server cannot be reached', async () => {
    const result = await pgpromote(['status', 'x'], { TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot reach the Temporal server at 127\.0\.0\.1:\d+ .*set TEMPORAL_ADDRESS/);
  });
});

describe('pgpromote CLI with a worker', () => {
  const databases = databasePairs();
  let worker: TestWorker;
  beforeAll(async () => {
    // The worker has been given a new key; the CLI below still seals with the old one.
    worker = await startWorker({ secretKeys: ['new-key', 'old-key'] });
  });
  afterAll(async () => {
    await worker?.stop();
    await databases.dropAll();
  });
  const pair = async (prodSql: string, devSql: string) => {
    const { prod, dev } = await databases.pair(prodSql, devSql);
    return { prod: prod.url, dev: dev.url };
  };

  it('exits non-zero with the reason when the promotion it waited for failed', async () => {
    const { prod, dev } = await pair(
      "CREATE TABLE users (id int PRIMARY KEY, name text); INSERT INTO users VALUES (1, NULL);",
      'CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);',
    );
    const result = await pgpromote(['deploy', '--dev', dev, '--prod', prod], workerEnv(worker, ['old-key']));
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/: finished \(failed\)\n/);
    expect(result.stderr).toMatch(/^pgpromote: promotion promote-prod_\w+-[0-9a-f]{8} failed: statement 1 of 1 failed: column "name" of relation "users" contains null values/);
  });

  it('answers for a finished promotion without a worker, and from its record for a running one whose worker is gone', async () => {
    const { prod, dev } = await pair('CREATE TABLE users (id int PRIMARY KEY);', 'CREATE TABLE users (id int PRIMARY KEY);');
    const finished = await pgpromote(['deploy', '--dev', dev, '--prod', prod, '--id', `cli-done-${randomUUID().slice(0, 8)}`], workerEnv(worker, ['old-key']));
    expect(finished.stderr).toBe('');
    expect(finished.code).toBe(0);
    const doneId = /promotion (\S+) started/.exec(finished.stdout)![1]!;

    const waiting = await pair('CREATE TABLE users (id int PRIMARY KEY);', 'CREATE TABLE users (id int PRIMARY KEY, email text);');
    const waitingId = `cli-waiting-${randomUUID().slice(0, 8)}`;
    expect((await pgpromote(['deploy', '--dev', waiting.dev, '--prod', waiting.prod, '--id', waitingId], workerEnv(worker, ['old-key']))).code).toBe(0);

    const { taskQueue, secretKeys } = worker.config;
    await worker.stop(); // Temporal still lists it among the task queue's pollers for minutes
    try {
      const done = await pgpromote(['status', doneId]);
      expect(done.stderr).toBe('');
      expect(done.stdout).toContain(`${doneId}: finished (up-to-date)\n`);
      // Its worker still shows among the pollers but does not answer: the state it last recorded does.
      const stuck = await pgpromote(['status', waitingId]);
      expect(stuck.stderr).toBe('');
      expect(stuck.code).toBe(0);
      expect(stuck.stdout).toContain(`${waitingId}: awaiting-approval\n`);
      expect(stuck.stdout).toMatch(/the last state it recorded, at \S+: no worker answered/);
    } finally {
      worker = await startWorker({ taskQueue, secretKeys });
    }
    // The workflow decides: a refusal prints its reason (naming the plan it waits on) and exits 1.
    const stale = await pgpromote(['approve', waitingId, '--as', 'alice', '--plan', 'f'.repeat(64)], workerEnv(worker));
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(new RegExp(`^pgpromote: promotion ${waitingId} refused "approve": the promotion waits on plan [0-9a-f]{64}, not "f{64}"`));
    const rejected = await pgpromote(['reject', waitingId, '--as', 'bob'], workerEnv(worker));
    expect(rejected.stdout).toBe(`rejected ${waitingId}\n`);
    expect(rejected.code).toBe(0);
    const again = await pgpromote(['cancel', waitingId, '--as', 'carol'], workerEnv(worker));
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/refused "cancel": (the promotion can no longer be cancelled|it has ended)/);
  }, 300_000);
});

describe('setup', () => {
  it('explains how to get the Temporal CLI when TEMPORAL_CLI points nowhere', async () => {
    const result = await run(process.execPath, ['--import', 'tsx', 'scripts/setup.ts'], { TEMPORAL_CLI: '/nonexistent/temporal' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('TEMPORAL_CLI=/nonexistent/temporal is not an executable file');
    expect(result.stderr).toContain('npm run setup');
  });

  it('uses TEMPORAL_CLI when it names an executable', async () => {
    const result = await run(process.execPath, ['--import', 'tsx', '-e', "import('./scripts/temporal.ts').then(m => console.log(m.findTemporalCli()))"], {
      TEMPORAL_CLI: '/bin/true',
    });
    expect(result.stdout.trim()).toBe('/bin/true');
  });
});
