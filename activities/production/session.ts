// A database session that runs a promotion's statements (on the trial branch or on prod), fenced
// against the promotion's own earlier attempts. A worker can freeze (SIGSTOP, a long GC pause, a
// network partition) and wake up after Temporal gave its attempt up; so every session of an attempt
// is named after it, the server itself ends a transaction left idle, and a newer attempt ends the
// sessions of older ones before it starts. An older attempt that wakes up finds a newer one and stops.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { connect } from '../db.ts';
import type { ExecutionLimits } from './execute.ts';

/** Which attempt of which promotion (a workflow run) a session works for. */
export interface AttemptIdentity {
  promotionId: string;
  runId: string;
  /** Temporal's attempt number, from 1; `FENCE` for the workflow's own settling after giving up. */
  attempt: number;
}

/** Higher than any attempt: what the workflow uses once it has given the apply up. */
export const FENCE = 2 ** 31 - 1;

export type SessionRole = 'apply' | 'trial';

/** A newer attempt of the same promotion is (or was) at work: this one must not touch anything. */
export class SupersededError extends Error {
  override name = 'SupersededError';
}

// application_name holds at most 63 bytes: the promotion is known by a hash of workflow id and run.
const promotionKey = ({ promotionId, runId }: AttemptIdentity) =>
  createHash('sha256').update(`${promotionId}/${runId}`).digest('hex').slice(0, 16);

const prefixOf = (role: SessionRole, identity: AttemptIdentity) => `pgpromote:${role}:${promotionKey(identity)}:`;

export const applicationName = (role: SessionRole, identity: AttemptIdentity) => `${prefixOf(role, identity)}${identity.attempt}`;

/** How long a terminated backend may take to go away before we stop waiting for it. */
const TERMINATE_WAIT_MS = 10_000;

/**
 * Connects for `identity`, with server-side limits that outlive a frozen worker, after ending the
 * sessions of this promotion's older attempts. Throws SupersededError when a newer attempt exists.
 */
export async function openSession(url: string, role: SessionRole, identity: AttemptIdentity, limits: Pick<ExecutionLimits, 'idleInTransactionTimeoutMs'>): Promise<pg.Client> {
  const client = await connect(url, applicationName(role, identity));
  try {
    // The server ends a transaction whose client went quiet, whatever happened to the client.
    await client.query(`SET idle_in_transaction_session_timeout = ${Math.round(limits.idleInTransactionTimeoutMs)}`);
    await fenceOlderAttempts(client, role, identity);
    return client;
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
}

async function fenceOlderAttempts(client: pg.ClientBase, role: SessionRole, identity: AttemptIdentity): Promise<void> {
  const prefix = prefixOf(role, identity);
  const { rows } = await client.query<{ pid: number; attempt: string }>(
    `SELECT pid, substr(application_name, length($1) + 1) AS attempt FROM pg_stat_activity
      WHERE starts_with(application_name, $1) AND pid <> pg_backend_pid()`,
    [prefix],
  );
  const newer = rows.filter((row) => Number(row.attempt) > identity.attempt);
  if (newer.length) {
    throw new SupersededError(`attempt ${identity.attempt} of promotion ${identity.promotionId} was superseded by attempt ${newer[0]!.attempt}: it stops without touching the database`);
  }
  for (const { pid } of rows) {
    const { rows: ended } = await client.query<{ ok: boolean }>('SELECT pg_terminate_backend($1, $2) AS ok', [pid, TERMINATE_WAIT_MS]);
    // false: already gone by itself (fine), or still there after the wait (not fine).
    const alive = await client.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
    if (!ended[0]!.ok && alive.rowCount) {
      throw new Error(`cannot end the session of an earlier attempt of promotion ${identity.promotionId} (backend ${pid}); retrying`);
    }
  }
}

/**
 * Ends `client`'s backend from a second connection when `signal` aborts (Temporal cancelled the
 * activity or gave it up), so that a statement in flight cannot go on and commit. Returns a stop function.
 */
export function abortOnSignal(url: string, client: pg.Client, signal: AbortSignal | undefined): () => void {
  if (!signal) return () => {};
  const pid = (client as pg.Client & { processID: number }).processID;
  const abort = () => {
    connect(url, 'pgpromote:abort')
      .then((killer) => killer.query('SELECT pg_terminate_backend($1)', [pid]).finally(() => killer.end()))
      .catch(() => {}); // the server-side limits end it all the same
  };
  if (signal.aborted) abort();
  else signal.addEventListener('abort', abort, { once: true });
  return () => signal.removeEventListener('abort', abort);
}
