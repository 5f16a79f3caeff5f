// Connections to the databases pgpromote works on, with errors that say what to do.
import pg from 'pg';
import { redactUrl } from './secrets.ts';

/** A problem with a connection string or the server behind it; retrying will not help. */
export class DatabaseConfigError extends Error {
  override name = 'DatabaseConfigError';
}

/** The server could not be reached (yet): worth retrying a few times. */
export class DatabaseUnreachableError extends Error {
  override name = 'DatabaseUnreachableError';
}

function explain(url: string, error: any): Error {
  const where = redactUrl(url);
  switch (error?.code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
      return new DatabaseUnreachableError(`cannot reach Postgres at ${where} (${error.code}): is the server running, and are host and port right?`);
    case '28P01':
    case '28000':
      return new DatabaseConfigError(`Postgres at ${where} refused the login (${error.message}): check the user and password in the URL`);
    case '3D000':
      return new DatabaseConfigError(`${error.message} at ${where}: create it, or fix the database name in the URL`);
  }
  if (error?.message?.includes('timeout')) {
    return new DatabaseUnreachableError(`cannot reach Postgres at ${where} (connection timeout): is the server running, and are host and port right?`);
  }
  return new DatabaseConfigError(`cannot connect to Postgres at ${where}: ${error?.message ?? error}`);
}

export function parseDatabaseUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DatabaseConfigError(`not a connection URL: expected postgres://user:password@host:port/database`);
  }
  if (!['postgres:', 'postgresql:'].includes(parsed.protocol) || parsed.pathname.length <= 1) {
    throw new DatabaseConfigError(`not a Postgres connection URL (${redactUrl(url)}): expected postgres://user:password@host:port/database`);
  }
  return parsed;
}

/** The host a connection URL names, lower-cased, as libpq reads it: a `host` parameter first
 * (`postgres:///app?host=/var/run/postgresql`), localhost when there is none. */
export function databaseHost(url: string): string {
  const parsed = parseDatabaseUrl(url);
  return (parsed.searchParams.get('host') || parsed.hostname || 'localhost').toLowerCase();
}

/** Whether the server runs on this machine (loopback or a Unix socket), and so shares our CPUs. */
export const onThisMachine = (url: string) => /^(localhost|127(\.\d+){3}|\[::1\]|\/.*)$/.test(databaseHost(url));

/** `applicationName` shows in pg_stat_activity: who holds a session, e.g. which attempt of a promotion. A client that
 * pipelines (pg's `pipeline`) sends each query at once, without waiting for the answers to those before it. */
export async function connect(url: string, applicationName = 'pgpromote', { pipeline = false } = {}): Promise<pg.Client> {
  parseDatabaseUrl(url);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, application_name: applicationName, pipeline });
  client.on('error', () => {}); // a dropped connection surfaces on the next query instead of crashing the worker
  try {
    await client.connect();
    // Our queries read catalogs and change schemas: JIT never pays off for them. The catalog queries' estimates
    // pass jit_above_cost and its inlining and optimizing thresholds (~580 000 at 1000 tables) although they run in
    // milliseconds, and a server with JIT (as managed ones are) compiles them for longer. A SET, not the startup
    // option `-c jit=off`, which PgBouncer refuses.
    await client.query('SET jit = off');
  } catch (error) {
    await client.end().catch(() => {});
    throw explain(url, error);
  }
  return client;
}

export async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(url);
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** What reads a catalog: a client, or Connections. */
export type Queryable = Pick<pg.ClientBase, 'query'>;

/** A query's rows as one JSON array, which Postgres writes and JSON.parse reads in a fraction of the time pg
 * takes to parse row after row (its catalog reads return thousands of rows). Keys come in the query's column
 * order; JSON spells bigint and numeric as numbers: select those as text to keep them exact. */
export async function rowsAsJson<Row = Record<string, any>>(db: Queryable, sql: string, params: unknown[]): Promise<Row[]> {
  const { rows } = await db.query(`SELECT coalesce(json_agg(q), '[]') AS rows FROM (${sql}) q`, params);
  return rows[0].rows;
}

/** Queries a client that pipelines holds at once: about as many as a plan's read of one database issues together. */
const PIPELINE_DEPTH = 16;

/** Clients that take queries as they come: each runs on an idle client, the others wait their turn here
 * (pg deprecates queueing on a busy client). Over one client they run one after the other, as inside a
 * transaction they must; over several, independent reads run at once. Clients that pipeline take up to
 * PIPELINE_DEPTH queries each: Postgres then runs them back to back, instead of waiting between two queries
 * for us to read the answer to the first and send the next (at 1000 tables, each backend of a plan waited
 * ~170-300 ms so, while our one thread built the other database's tables or loaded drizzle-kit). */
export class Connections implements Queryable {
  /** `client` as Connections: itself if it is, else its only client. */
  static of(client: Queryable): Connections {
    return client instanceof Connections ? client : new Connections([client]);
  }

  private readonly idle: Queryable[];
  private readonly waiting: (() => void)[] = [];

  constructor(clients: Queryable[]) {
    const depth = clients.every((client) => (client as Partial<pg.Client>).pipeline) ? PIPELINE_DEPTH : 1;
    // Interleaved, so that queries taken at once spread over the clients.
    this.idle = Array.from({ length: depth }, () => clients).flat();
  }

  query = (async (...args: unknown[]) => {
    while (!this.idle.length) await new Promise<void>((resolve) => this.waiting.push(resolve));
    const client = this.idle.pop()!;
    try {
      return await (client.query as (...args: unknown[]) => Promise<unknown>)(...args);
    } finally {
      this.idle.push(client);
      this.waiting.shift()?.();
    }
  }) as Queryable['query'];
}

/** `count` connections to one database that pipeline, as Connections for reads outside a transaction, and the
 * first of them alone for what needs one session (a SET, a transaction). */
export async function withConnections<T>(url: string, count: number, use: (connections: Connections, first: pg.Client) => Promise<T>): Promise<T> {
  const opened = await Promise.allSettled(Array.from({ length: count }, () => connect(url, undefined, { pipeline: true })));
  const clients = opened.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  try {
    const failed = opened.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    return await use(new Connections(clients), clients[0]!);
  } finally {
    await Promise.all(clients.map((client) => client.end().catch(() => {})));
  }
}
