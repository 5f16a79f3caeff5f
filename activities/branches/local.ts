// Local branches: a copy of prod as another database on the same server (`CREATE DATABASE ...
// TEMPLATE prod`), for the embedded default and for teams on plain Postgres.
import { createHash } from 'node:crypto';
import { withClient, ident, DatabaseConfigError } from '../db.ts';
import { BRANCH_PREFIX, type Branch, type BranchProvider, type BranchRef } from './provider.ts';

const MAX_NAME = 63; // Postgres identifiers

function databaseName(name: string): string {
  if (name.length <= MAX_NAME) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, MAX_NAME - 9)}-${hash}`;
}

export function createLocalBranchProvider(prodUrl: string): BranchProvider {
  const prod = new URL(prodUrl);
  const prodDatabase = decodeURIComponent(prod.pathname.slice(1));
  const urlOf = (database: string) => {
    const url = new URL(prodUrl);
    url.pathname = `/${encodeURIComponent(database)}`;
    return url.toString();
  };
  // Database-level DDL runs from the server's maintenance database.
  const onServer = <T>(use: Parameters<typeof withClient<T>>[1]) => withClient(urlOf('postgres'), use);
  const exists = (name: string) =>
    onServer(async (client) => (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1);

  return {
    async create(name) {
      const database = databaseName(name);
      const branch: Branch = { id: database, name, url: urlOf(database) };
      if (await exists(database)) return branch;
      await onServer(async (client) => {
        const { rows } = await client.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
          [prodDatabase],
        );
        if (rows[0]!.n > 0) {
          throw new DatabaseConfigError(
            `prod (${prodDatabase}) has ${rows[0]!.n} other open sessions; the local branch provider copies it with CREATE DATABASE ... TEMPLATE, which needs none. Stop the app's connections or use a Neon branch target`,
          );
        }
        await client.query(`CREATE DATABASE ${ident(database)} TEMPLATE ${ident(prodDatabase)}`);
      });
      return branch;
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
        await client.query(`ALTER DATABASE ${ident(prodDatabase)} RENAME TO ${ident(kept)}`);
        await client.query(`ALTER DATABASE ${ident(source.id)} RENAME TO ${ident(prodDatabase)}`);
      });
      return { id: kept, name: keepAs };
    },
  };
}
