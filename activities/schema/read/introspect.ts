// Live-database introspection into a canonical snapshot.
import type { Queryable } from '../../db.ts';
import type { Snapshot } from '../diff/drizzle.ts';
import { readCatalog } from './catalog.ts';
import { canonicalSnapshot } from './snapshot.ts';
import { schemasToRead } from './scope.ts';

export interface IntrospectOptions {
  /** Schemas to compare, as resolved for a plan (`Plan.schemas`); the database's own user schemas when absent. */
  schemas?: string[];
}

export async function introspect(client: Queryable, options: IntrospectOptions = {}): Promise<Snapshot> {
  return canonicalSnapshot(await readCatalog(client, { schemas: await schemasToRead(client, options.schemas) }));
}
