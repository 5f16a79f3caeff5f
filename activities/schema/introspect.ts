// Live-database introspection into a canonical snapshot.
import type pg from 'pg';
import type { Snapshot } from './drizzle.ts';
import { INTERNAL_SCHEMA, readCatalog } from './catalog.ts';
import { canonicalize } from './snapshot.ts';

export { INTERNAL_SCHEMA };

export interface IntrospectOptions {
  /** Schemas to compare; `public` when empty. */
  schemas?: string[];
}

export async function introspect(client: pg.ClientBase, options: IntrospectOptions = {}): Promise<Snapshot> {
  const schemas = options.schemas?.length ? options.schemas : ['public'];
  if (schemas.includes(INTERNAL_SCHEMA)) throw new Error(`schema ${INTERNAL_SCHEMA} belongs to pgpromote and cannot be promoted`);
  return canonicalize(await readCatalog(client, { schemas }));
}
