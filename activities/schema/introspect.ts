// Live-database introspection into a canonical snapshot.
import pg from 'pg';
import { drizzle, type Snapshot } from './drizzle.ts';
import { canonicalize } from './snapshot.ts';

export interface IntrospectOptions {
  /** Schemas to compare; `public` when empty. */
  schemas?: string[];
}

/** Our own bookkeeping lives here, never compared or planned. */
export const INTERNAL_SCHEMA = '_pgpromote';

export async function introspect(client: pg.ClientBase, options: IntrospectOptions = {}): Promise<Snapshot> {
  const schemas = options.schemas?.length ? options.schemas : ['public'];
  if (schemas.includes(INTERNAL_SCHEMA)) throw new Error(`schema ${INTERNAL_SCHEMA} belongs to pgpromote and cannot be promoted`);
  const db = { query: async (sql: string, params?: unknown[]) => (await client.query(sql, params as unknown[])).rows };
  const snapshot = await drizzle().fromDatabase(db, () => true, schemas);
  return canonicalize({ ...snapshot, id: '', prevId: '' });
}
