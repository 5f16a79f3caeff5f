// Live-database introspection into a canonical snapshot.
import type { Queryable } from '../../db.ts';
import type { Snapshot } from '../diff/drizzle.ts';
import { readCatalog, type BuiltRelations } from './catalog.ts';
import { canonicalSnapshot } from './snapshot.ts';
import { schemasToRead } from './scope.ts';

export interface IntrospectOptions {
  /** Schemas to compare, as resolved for a plan (`Plan.schemas`); the database's own user schemas when absent. */
  schemas?: string[];
  /** Relations already built from the same rows (a plan's other database): see BuiltRelations. */
  built?: BuiltRelations;
}

export async function introspect(client: Queryable, options: IntrospectOptions = {}): Promise<Snapshot> {
  return readSnapshot(client, await schemasToRead(client, options.schemas));
}

/** The canonical snapshot of `schemas` (resolved already), hashed as soon as it is read. Its queries are issued
 * before this returns: issued ahead of other reads, it is built and hashed while Postgres answers them. */
export async function readSnapshot(client: Queryable, schemas: string[], built?: BuiltRelations): Promise<Snapshot> {
  return canonicalSnapshot(await readCatalog(client, { schemas, built }));
}
