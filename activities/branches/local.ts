// Local branches: a copy of prod as another database on the same server, for the embedded default
// and for teams on plain Postgres. `CREATE DATABASE ... TEMPLATE prod` is a fast file-level copy but
// needs prod to have no other sessions; when it has some (a live app), pg_dump | pg_restore copies
// it instead, into a scratch name that becomes the branch only once complete.
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import type pg from 'pg';
import { withClient, ident, DatabaseConfigError } from '../db.ts';
import { BRANCH_PREFIX, type Branch, type BranchProvider, type BranchRef } from './provider.ts';

const MAX_NAME = 63; // Postgres identifiers
const PARTIAL = '-partial';

function databaseName(name: string): string {
  if (name.length <= MAX_NAME) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, MAX_NAME - 9)}-${hash}`;
}

export function createLocalBranchProvider(prodUrl: string): BranchProvider {
  const prodDatabase = decodeURIComponent(new URL(prodUrl).pathname.slice(1));
  const urlOf = (database: string) => {
    const url = new URL(prodUrl);
    url.pathname = `/${encodeURIComponent(database)}`;
    return url.toString();
  };
  // Database-level DDL runs from the server's maintenance database.
  const onServer = <T>(use: (client: pg.Client) => Promise<T>) => withClient(urlOf('postgres'), use);
  const exists = async (client: pg.Client, name: string) =>
    (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  const otherSessions = async (client: pg.Client, database: string) =>
    (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database])).rows[0]!.n;

  async function copyWithDump(client: pg.Client, database: string) {
    const scratch = databaseName(`${database.slice(0, MAX_NAME - PARTIAL.length)}${PARTIAL}`);
    await client.query(`DROP DATABASE IF EXISTS ${ident(scratch)} WITH (FORCE)`); // left by an interrupted copy
    await client.query(`CREATE DATABASE ${ident(scratch)} TEMPLATE template0`);
    try {
      await pipeDump(prodUrl, urlOf(scratch));
      await client.query(`ALTER DATABASE ${ident(scratch)} RENAME TO ${ident(database)}`);
    } catch (error) {
      await client.query(`DROP DATABASE IF EXISTS ${ident(scratch)} WITH (FORCE)`).catch(() => {});
      throw error;
    }
  }

  return {
    async create(name) {
      const database = databaseName(name);
      await onServer(async (client) => {
        if (await exists(client, database)) return;
        if (await otherSessions(client, prodDatabase)) await copyWithDump(client, database);
        else await client.query(`CREATE DATABASE ${ident(database)} TEMPLATE ${ident(prodDatabase)}`);
      });
      return { id: database, name, url: urlOf(database) } satisfies Branch;
    },

    async delete(id) {
      await onServer((client) => client.query(`DROP DATABASE IF EXISTS ${ident(id)} WITH (FORCE)`));
    },

    async list() {
      return onServer(async (client) => {
        const { rows } = await client.query<{ datname: string }>(
          'SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname',
          [BRANCH_PREFIX],
        );
        return rows.map(({ datname }): BranchRef => ({ id: datname, name: datname }));
      });
    },

    async restore(source, keepAs) {
      const kept = databaseName(keepAs);
      await onServer(async (client) => {
        // Two renames; a retry after either one carries on from where the last attempt stopped.
        try {
          if (!(await exists(client, kept))) {
            // As on Neon, a restore ends prod's sessions: no new ones while the databases swap names.
            await client.query(`ALTER DATABASE ${ident(prodDatabase)} WITH ALLOW_CONNECTIONS false`);
            await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [prodDatabase]);
            await client.query(`ALTER DATABASE ${ident(prodDatabase)} RENAME TO ${ident(kept)}`);
          }
          if (!(await exists(client, prodDatabase))) {
            if (!(await exists(client, source.id))) throw new DatabaseConfigError(`cannot restore prod: its backup ${source.name} is gone (prod's last state is kept as ${kept})`);
            await client.query(`ALTER DATABASE ${ident(source.id)} RENAME TO ${ident(prodDatabase)}`);
          }
        } finally {
          for (const database of [prodDatabase, kept]) {
            if (await exists(client, database)) await client.query(`ALTER DATABASE ${ident(database)} WITH ALLOW_CONNECTIONS true`);
          }
        }
      });
      return { id: kept, name: keepAs };
    },
  };
}

/** pg_dump (custom format) piped into pg_restore; the password travels in the environment, not argv. */
function pipeDump(fromUrl: string, toUrl: string): Promise<void> {
  const env = (url: string) => {
    const parsed = new URL(url);
    const password = decodeURIComponent(parsed.password);
    parsed.password = '';
    return { url: parsed.toString(), env: { ...process.env, PGPASSWORD: password } };
  };
  const from = env(fromUrl);
  const to = env(toUrl);
  return new Promise((resolve, reject) => {
    const errors: string[] = [];
    const dump = spawn('pg_dump', ['--format=custom', '--dbname', from.url], { env: from.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const restore = spawn('pg_restore', ['--exit-on-error', '--dbname', to.url], { env: to.env, stdio: ['pipe', 'ignore', 'pipe'] });
    dump.stdout.pipe(restore.stdin);
    for (const child of [dump, restore]) {
      child.stderr.on('data', (chunk) => errors.push(String(chunk)));
      child.on('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'ENOENT'
            ? new DatabaseConfigError('prod has open sessions, so the local branch is copied with pg_dump | pg_restore, which are not on PATH: install the Postgres client tools of prod\'s major version')
            : error,
        ),
      );
    }
    let exited = 0;
    const done = () => {
      if (++exited < 2) return;
      if (dump.exitCode === 0 && restore.exitCode === 0) resolve();
      else reject(new DatabaseConfigError(`copying prod with pg_dump | pg_restore failed: ${errors.join('').trim() || `exit ${dump.exitCode}/${restore.exitCode}`}`));
    };
    dump.on('close', done);
    restore.on('close', done);
  });
}
