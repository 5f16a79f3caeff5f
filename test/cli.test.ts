// The `pgpromote` command and the setup script as a user runs them: real processes, real exit codes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createDatabase, dropDatabase } from './support.ts';
import { freePort } from '../scripts/ports.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

function run(command: string, args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
const pgpromote = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ['bin/pgpromote.mjs', ...args], { TEMPORAL_ADDRESS: inject('temporalAddress'), ...env });

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

  it('says that a promotion id is unknown', () => {
    const result = pgpromote(['approve', 'no-such-promotion', '--as', 'alice']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('pgpromote: no promotion with id no-such-promotion in namespace default: check the id (`pgpromote deploy` prints it)\n');
  });

  it('says when a database cannot be reached, without printing its password', async () => {
    const url = `postgres://app:hunter2@127.0.0.1:${await freePort()}/prod`;
    const result = pgpromote(['plan', '--from', url, '--to', dev]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^pgpromote: cannot reach Postgres at postgres:\/\/app@127\.0\.0\.1:\d+\/prod \(ECONNREFUSED\): is the server running/);
    expect(result.stderr).not.toContain('hunter2');
  });

  it('says when a database does not exist', () => {
    const url = new URL(dev);
    url.pathname = '/no_such_database';
    const result = pgpromote(['plan', '--from', url.toString(), '--to', dev]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('database "no_such_database" does not exist');
    expect(result.stderr).toContain('create it, or fix the database name in the URL');
  });

  it('rejects something that is not a Postgres URL', () => {
    const result = pgpromote(['plan', '--from', 'mysql://x@y/z', '--to', dev]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('not a Postgres connection URL');
  });

  it('prints a plan as exactly one JSON document, with the rename answered', () => {
    const result = pgpromote(['plan', '--from', prod, '--to', dev, '--rename', 'users.name=users.full_name', '--json']);
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

  it('refuses a rename that matches nothing, saying what to check', () => {
    const result = pgpromote(['plan', '--from', prod, '--to', dev, '--rename', 'users.nope=users.full_name']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--rename users.nope=users.full_name');
  });

  it('refuses to start a promotion without the shared secret', () => {
    const result = pgpromote(['deploy', '--dev', dev, '--prod', prod], { PGPROMOTE_SECRET_KEY: '' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('PGPROMOTE_SECRET_KEY is not set');
  });

  it('says when the Temporal server cannot be reached', async () => {
    const result = pgpromote(['status', 'x'], { TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot reach the Temporal server at 127\.0\.0\.1:\d+ .*set TEMPORAL_ADDRESS/);
  });
});

describe('setup', () => {
  it('explains how to get the Temporal CLI when TEMPORAL_CLI points nowhere', () => {
    const result = run(process.execPath, ['--import', 'tsx', 'scripts/setup.ts'], { TEMPORAL_CLI: '/nonexistent/temporal' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('TEMPORAL_CLI=/nonexistent/temporal is not an executable file');
    expect(result.stderr).toContain('npm run setup');
  });

  it('uses TEMPORAL_CLI when it names an executable', () => {
    const result = run(process.execPath, ['--import', 'tsx', '-e', "import('./scripts/temporal.ts').then(m => console.log(m.findTemporalCli()))"], {
      TEMPORAL_CLI: '/bin/true',
    });
    expect(result.stdout.trim()).toBe('/bin/true');
  });
});
