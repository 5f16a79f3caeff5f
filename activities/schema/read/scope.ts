// Which schemas a plan compares: by default every user schema of prod and dev (a schema only dev has
// is created, one only prod has is dropped), never the system ones, those an extension owns, or
// pgpromote's own. Resolved once per plan; the plan records the list, and its trial and apply read
// through exactly that list.
import type { Queryable } from '../../db.ts';
import { INTERNAL_SCHEMA } from './catalog.ts';
import { PlanInputError } from '../errors.ts';

export interface SchemaSelection {
  /** Only these schemas (`--schema`); every user schema when absent. An empty list compares nothing. */
  schemas?: string[];
  /** Left out of the comparison (`--exclude-schema`). */
  excludeSchemas?: string[];
}

/** Why a schema is never compared, or null for a user schema. `pg_` names are reserved for the system. */
const SCHEMAS = `SELECT n.nspname AS name,
    CASE WHEN n.nspname = $1 THEN 'pgpromote''s own bookkeeping'
      WHEN n.nspname LIKE 'pg\\_%' OR n.nspname = 'information_schema' THEN 'a system schema'
      ELSE (SELECT 'owned by extension ' || e.extname FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
        WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' LIMIT 1)
    END AS excluded
  FROM pg_namespace n ORDER BY n.nspname COLLATE "C"`;

type Schemas = Map<string, string | null>;

async function schemasOf(client: Queryable): Promise<Schemas> {
  const { rows } = await client.query<{ name: string; excluded: string | null }>(SCHEMAS, [INTERNAL_SCHEMA]);
  return new Map(rows.map((row) => [row.name, row.excluded]));
}

const userSchemas = (schemas: Schemas) => [...schemas].filter(([, excluded]) => excluded === null).map(([name]) => name);
const sorted = (names: Iterable<string>) => [...new Set(names)].sort();

/** Refuses names that can never be compared, whichever database they are looked up in. */
function refuseReserved(names: string[]) {
  for (const name of names) {
    if (name === INTERNAL_SCHEMA) throw new PlanInputError(`--schema ${name}: schema ${INTERNAL_SCHEMA} belongs to pgpromote and cannot be promoted`);
    if (name.startsWith('pg_') || name === 'information_schema') throw new PlanInputError(`--schema ${name}: a system schema cannot be promoted; name user schemas`);
  }
}

/** The schemas to read one database with: those given, or its own user schemas (callers that have a plan pass its list). */
export async function schemasToRead(client: Queryable, schemas?: string[]): Promise<string[]> {
  if (schemas) {
    refuseReserved(schemas);
    return sorted(schemas);
  }
  return userSchemas(await schemasOf(client));
}

/** The schemas a plan from prod to dev compares, sorted: one list for both databases. */
export async function resolveSchemas(prod: Queryable, dev: Queryable, selection: SchemaSelection = {}): Promise<string[]> {
  const sides = await Promise.all([schemasOf(prod), schemasOf(dev)]);
  const { schemas, excludeSchemas = [] } = selection;
  for (const name of excludeSchemas) {
    if (!sides.some((side) => side.has(name))) {
      throw new PlanInputError(`--exclude-schema ${name}: neither prod nor dev has a schema named ${JSON.stringify(name)}; check its spelling`);
    }
  }
  if (schemas) {
    refuseReserved(schemas);
    for (const name of schemas) {
      const excluded = sides.map((side) => side.get(name)).find(Boolean);
      if (excluded) throw new PlanInputError(`--schema ${name}: schema ${name} is ${excluded} and cannot be promoted`);
    }
  }
  const wanted = schemas ?? sides.flatMap(userSchemas);
  return sorted(wanted.filter((name) => !excludeSchemas.includes(name)));
}
