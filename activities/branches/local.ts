// Local branches: a copy of prod as another database on the same server, for the embedded default
// and for teams on plain Postgres. Who made a branch is a JSON comment on its database.
// Copies are made with pg_dump | pg_restore, which reads prod like any client and never holds up its
// connections. `CREATE DATABASE ... TEMPLATE prod` is a faster file-level copy, but new connections to
// prod wait until it ends: only when the target allows it (`copy: 'template'`), and only while prod has
// no other sessions (it cannot start otherwise).
// Either way the copy goes to a scratch database that becomes the branch only once complete and
// recorded, so a branch that exists under its name always carries its metadata.
import { createHash } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type pg from 'pg';
import { withClient, DatabaseConfigError } from '../db.ts';
import { ident, literal } from '../quote.ts';
import { describeMeta, existingBranchAction, readMeta } from './meta.ts';
import {
  BRANCH_PREFIX,
  type Branch,
  type BranchKind,
  type BranchMeta,
  type BranchProvider,
  type ListedBranch,
  type LocalCopy,
} from './provider.ts';

const MAX_NAME = 63; // Postgres identifiers
/** Bounds on the revert's maintenance session: a lock or a statement waits this long at most. */
const LOCK_TIMEOUT = '5s';
const STATEMENT_TIMEOUT = '60s';
/** How long ending one session on a database about to be renamed may take. */
const TERMINATE_WAIT_MS = 5_000;

function databaseName(name: string): string {
  if (name.length <= MAX_NAME) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, MAX_NAME - 9)}-${hash}`;
}

export interface LocalProviderOptions {
  copy?: LocalCopy;
}

export function createLocalBranchProvider(prodUrl: string, { copy = 'dump' }: LocalProviderOptions = {}): BranchProvider {
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
  const sessionsOn = async (client: pg.Client, database: string) =>
    (await client.query<{ pid: number; who: string }>(
      "SELECT pid, format('%s (%s)', usename, coalesce(nullif(application_name, ''), 'no application name')) AS who FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
      [database],
    )).rows;
  const metaOf = async (client: pg.Client, database: string) => {
    const { rows } = await client.query<{ comment: string | null }>("SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1", [database]);
    return parseComment(rows[0]?.comment);
  };
  const record = (client: pg.Client, database: string, meta: BranchMeta | null) =>
    client.query(`COMMENT ON DATABASE ${ident(database)} IS ${meta ? literal(JSON.stringify({ pgpromote: meta })) : 'NULL'}`);
  const allowConnections = (client: pg.Client, database: string, allow: boolean) =>
    client.query(`ALTER DATABASE ${ident(database)} WITH ALLOW_CONNECTIONS ${allow}`);
  const rename = (client: pg.Client, from: string, to: string) => client.query(`ALTER DATABASE ${ident(from)} RENAME TO ${ident(to)}`);

  /** No new sessions on `database`, and its current ones ended; throws (retryably) naming those that would not end. */
  async function take(client: pg.Client, database: string, what: string) {
    await allowConnections(client, database, false);
    for (const { pid } of await sessionsOn(client, database)) {
      // Refused when our role may not end that session (e.g. a superuser's): it shows up as left below.
      await client.query('SELECT pg_terminate_backend($1::int, $2::bigint)', [pid, TERMINATE_WAIT_MS]).catch(() => {});
    }
    const left = await sessionsOn(client, database);
    if (left.length) {
      throw new Error(`${what} ${database} has sessions that pgpromote could not end: ${left.map((s) => s.who).join(', ')}; end them (or let a superuser run the revert)`);
    }
  }

  async function copyInto(client: pg.Client, scratch: string) {
    if (copy === 'template' && (await sessionsOn(client, prodDatabase)).length === 0) {
      const copied = await client.query(`CREATE DATABASE ${ident(scratch)} TEMPLATE ${ident(prodDatabase)}`).then(
        () => true,
        (error: { code?: string }) => {
          if (error.code === '55006') return false; // a session arrived on prod meanwhile
          throw error;
        },
      );
      if (copied) return;
    }
    await checkDumpVersion(client);
    await client.query(`CREATE DATABASE ${ident(scratch)} TEMPLATE template0`);
    await pipeDump(prodUrl, urlOf(scratch));
  }

  return {
    async create(name, meta) {
      const database = databaseName(name);
      await onServer(async (client) => {
        if (await exists(client, database)) {
          if (existingBranchAction(name, await metaOf(client, database), meta) === 'reuse') return;
          await client.query(`DROP DATABASE ${ident(database)} WITH (FORCE)`); // a stale branch of an ended run
        }
        const scratch = databaseName(`${name}-partial`);
        await client.query(`DROP DATABASE IF EXISTS ${ident(scratch)} WITH (FORCE)`); // left by an interrupted copy
        try {
          await copyInto(client, scratch);
          await record(client, scratch, meta);
          await rename(client, scratch, database);
        } catch (error) {
          await client.query(`DROP DATABASE IF EXISTS ${ident(scratch)} WITH (FORCE)`).catch(() => {});
          throw error;
        }
      });
      return { id: database, name, url: urlOf(database) } satisfies Branch;
    },

    async delete(id) {
      if (id === prodDatabase) throw new DatabaseConfigError(`refusing to delete ${id}: it is prod's database, not a branch`);
      await onServer(async (client) => {
        if (!(await exists(client, id))) return;
        const meta = await metaOf(client, id);
        if (!meta) throw new DatabaseConfigError(`refusing to delete database ${id}: it has no pgpromote metadata, so it is not a branch pgpromote made; drop it by hand if you know it is not needed`);
        if (meta.kind === 'reverted') throw new DatabaseConfigError(`refusing to delete ${id}: it is a salvage copy of prod (${describeMeta(meta)}); drop it by hand once you have what you need`);
        await client.query(`DROP DATABASE ${ident(id)} WITH (FORCE)`);
      });
    },

    async list() {
      return onServer(async (client) => {
        const { rows } = await client.query<{ datname: string; comment: string | null }>(
          "SELECT datname, shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE starts_with(datname, $1) AND datname <> $2 ORDER BY datname",
          [BRANCH_PREFIX, prodDatabase],
        );
        return rows.map(({ datname, comment }): ListedBranch => ({ id: datname, name: datname, meta: parseComment(comment) }));
      });
    },

    // Prod exists under its name before, after, and whenever this fails: it is renamed away only once the
    // backup is known to be able to take its place, and any failure after that puts prod's name back.
    // A retry carries on from any point: prod missing with its kept copy and the backup there finishes the swap.
    async restore(source, keepAs, keptMeta) {
      const kept = databaseName(keepAs);
      return onServer(async (client) => {
        await client.query(`SET lock_timeout = '${LOCK_TIMEOUT}'`);
        await client.query(`SET statement_timeout = '${STATEMENT_TIMEOUT}'`);
        const [prodThere, keptThere] = [await exists(client, prodDatabase), await exists(client, kept)];
        if (!prodThere && !keptThere) {
          throw new DatabaseConfigError(`cannot revert: prod's database ${prodDatabase} does not exist, nor its kept copy ${kept}; check the prod URL`);
        }
        const ours = (meta: BranchMeta | undefined, kind: BranchKind) =>
          meta?.kind === kind && meta.promotionId === keptMeta.promotionId && meta.namespace === keptMeta.namespace;
        if (prodThere && keptThere) {
          // Swapped by an earlier attempt (prod still carrying the backup's record if it stopped right after
          // the swap), unless that name is taken by something else.
          if (!ours(await metaOf(client, kept), 'reverted') && !ours(await metaOf(client, prodDatabase), 'backup')) {
            throw new DatabaseConfigError(`cannot revert: ${kept} exists already and is not this promotion's copy of prod; rename or drop it by hand`);
          }
        } else if (prodThere) {
          if (!(await exists(client, source.id))) {
            throw new DatabaseConfigError(`cannot revert: the backup ${source.name} is gone; prod was not touched`);
          }
          const backup = await metaOf(client, source.id);
          if (!ours(backup, 'backup')) {
            throw new DatabaseConfigError(`cannot revert: ${source.name} is not a backup made by promotion ${keptMeta.promotionId} (it is ${backup ? describeMeta(backup) : 'without pgpromote metadata'}); prod was not touched`);
          }
          await giveProdsOwner(client, source.id);
          try {
            await take(client, source.id, 'the backup');
            await take(client, prodDatabase, 'prod');
            await rename(client, prodDatabase, kept);
          } catch (error) {
            await allowConnections(client, prodDatabase, true).catch(() => {});
            await allowConnections(client, source.id, true).catch(() => {});
            throw error;
          }
        }
        if (!(await exists(client, prodDatabase))) {
          try {
            if (!(await exists(client, source.id))) throw new DatabaseConfigError(`the backup ${source.name} is gone`);
            await take(client, source.id, 'the backup');
            await rename(client, source.id, prodDatabase);
          } catch (error) {
            await allowConnections(client, source.id, true).catch(() => {});
            await putBack(client, kept, error as Error);
          }
        }
        // In this order, so that a retry after a crash here still recognises the swap as done.
        await record(client, kept, keptMeta);
        await record(client, prodDatabase, null); // it carried the backup's metadata
        await allowConnections(client, prodDatabase, true);
        await allowConnections(client, kept, true);
        await confirmProd(client);
        return { prod: { id: prodDatabase, name: prodDatabase }, kept: { id: kept, name: keepAs } };
      });
    },
  };

  /** After a failed swap: prod's previous state takes its name again, then the failure is reported. */
  async function putBack(client: pg.Client, kept: string, cause: Error): Promise<never> {
    try {
      await rename(client, kept, prodDatabase);
      await allowConnections(client, prodDatabase, true);
    } catch (error) {
      throw new DatabaseConfigError(`revert failed (${cause.message}) and putting prod back failed too (${(error as Error).message}): prod's data is in database ${kept}; rename it to ${prodDatabase} by hand`);
    }
    throw Object.assign(cause, { message: `revert failed, prod is back as it was: ${cause.message}` });
  }

  /** The backup is made by pgpromote's role; as prod it keeps prod's owner. Fails (prod untouched) when our role may not. */
  async function giveProdsOwner(client: pg.Client, backup: string) {
    const owners = await client.query<{ datname: string; owner: string }>(
      'SELECT datname, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = ANY($1)',
      [[prodDatabase, backup]],
    );
    const ownerOf = (database: string) => owners.rows.find((r) => r.datname === database)!.owner;
    if (ownerOf(backup) === ownerOf(prodDatabase)) return;
    await client.query(`ALTER DATABASE ${ident(backup)} OWNER TO ${ident(ownerOf(prodDatabase))}`).catch((error: Error) => {
      throw new DatabaseConfigError(`cannot revert: the backup cannot be given prod's owner ${ownerOf(prodDatabase)} (${error.message}); run the worker as a member of that role; prod was not touched`);
    });
  }

  async function confirmProd(client: pg.Client) {
    const { rows } = await client.query<{ datallowconn: boolean }>('SELECT datallowconn FROM pg_database WHERE datname = $1', [prodDatabase]);
    if (!rows[0]?.datallowconn) throw new Error(`after the revert prod's database ${prodDatabase} is ${rows[0] ? 'not accepting connections' : 'missing'}`);
  }
}

function parseComment(comment: string | null | undefined): BranchMeta | undefined {
  if (!comment) return undefined;
  try {
    return readMeta(JSON.parse(comment)?.pgpromote);
  } catch {
    return undefined; // someone else's comment
  }
}

/** pg_dump refuses a server of a newer major than its own: say so before starting the copy. */
async function checkDumpVersion(client: pg.Client) {
  const server = Math.floor(Number((await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]!.v) / 10_000);
  let version: string;
  try {
    version = (await promisify(execFile)('pg_dump', ['--version'])).stdout;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new DatabaseConfigError(`local branches are copied with pg_dump | pg_restore, which are not on PATH: install the Postgres ${server} client tools where the worker runs, or use the branch target's TEMPLATE copy (--local-copy template), which blocks new prod connections while it copies`);
  }
  const dump = Number(/(\d+)(?:\.\d+)?/.exec(version.replace(/^[^)]*\)/, ''))?.[1]);
  if (dump < server) {
    throw new DatabaseConfigError(`prod runs Postgres ${server} but pg_dump here is version ${dump}, which cannot copy a newer server: install the Postgres ${server} client tools where the worker runs (e.g. postgresql-client-${server}), or use the branch target's TEMPLATE copy (--local-copy template), which blocks new prod connections while it copies`);
  }
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
    restore.stdin.on('error', () => {}); // pg_restore gave up early: its exit code and stderr say why
    for (const child of [dump, restore]) {
      child.stderr.on('data', (chunk) => errors.push(String(chunk)));
      child.on('error', reject);
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
