// A schema snapshot in drizzle-kit's format (version 7), made canonical so that the same database
// always gives the same bytes: the fingerprint of a schema is the hash of those bytes.
import { createHash } from 'node:crypto';
import type { Snapshot } from '../diff/drizzle.ts';

/** Sorts object keys recursively, except a table's `columns`, whose order is the table's column order.
 * Returns what is canonical already as is, without copying: introspected snapshots are, and hashing
 * them is on every plan's path. */
export function canonicalize<T>(value: T, keepOrder = false): T {
  if (value === null || typeof value !== 'object') return value;
  // Plain loops, and a copy only where something changes: this walks every object of both schemas.
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let index = 0; index < value.length; index++) {
      const original: unknown = value[index];
      const item = typeof original === 'object' && original !== null ? canonicalize(original) : original;
      if (item !== original) (copy ??= [...value])[index] = item;
    }
    return (copy ?? value) as T;
  }
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  // The children as made canonical, kept from the first one that changes (or is out of order) on: most objects have none.
  let children: unknown[] | undefined;
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index]!;
    const child = object[key];
    const canonical = typeof child === 'object' && child !== null ? canonicalize(child, key === 'columns' && !Array.isArray(child)) : child;
    if (!children && (canonical === undefined || canonical !== child || (!keepOrder && index > 0 && keys[index - 1]! > key))) {
      children = keys.slice(0, index).map((earlier) => object[earlier]);
    }
    if (children) children[index] = canonical;
  }
  if (!children) return value;
  const order = keys.map((_, index) => index);
  if (!keepOrder) order.sort((a, b) => (keys[a]! < keys[b]! ? -1 : 1)); // keys are distinct
  const copy: Record<string, unknown> = {};
  for (const index of order) if (children[index] !== undefined) copy[keys[index]!] = children[index];
  return copy as T;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Each table's canonical form and hash, by table object (and by its canonical form): a table that two
 * snapshots share (BuiltRelations) is made canonical and hashed once. */
const canonicalTables = new WeakMap<object, { table: object; hash: string }>();

function canonicalTable(table: object): { table: object; hash: string } {
  let entry = canonicalTables.get(table);
  if (!entry) {
    const canonical = canonicalize(table);
    entry = { table: canonical, hash: sha256(JSON.stringify(canonical)) };
    canonicalTables.set(table, entry).set(canonical, entry);
  }
  return entry;
}

/** Hash of a snapshot, ignoring drizzle's migration bookkeeping (ids, rename meta): its canonical form with
 * each table replaced by the table's own hash. */
function hashOf(snapshot: Snapshot): string {
  const { id: _id, prevId: _prevId, _meta, tables, ...schema } = snapshot;
  const hashes: Record<string, string> = {};
  for (const key of Object.keys(tables).sort()) hashes[key] = canonicalTable(tables[key]!).hash;
  return sha256(JSON.stringify(canonicalize({ ...schema, tables: hashes })));
}

/** Snapshots as read, with their fingerprints: hashed once, as they are made canonical (no stage of a plan
 * changes a snapshot or a table in place). */
const fingerprints = new WeakMap<Snapshot, string>();

/** `snapshot` made canonical and hashed; `fingerprint` then finds its hash without walking it again. */
export function canonicalSnapshot(snapshot: Snapshot): Snapshot {
  const tables: Snapshot['tables'] = {};
  for (const key of Object.keys(snapshot.tables).sort()) tables[key] = canonicalTable(snapshot.tables[key]!).table as Snapshot['tables'][string];
  const canonical = canonicalize({ ...snapshot, tables: {} });
  canonical.tables = tables;
  fingerprints.set(canonical, hashOf(canonical));
  return canonical;
}

/** Hash of the canonical form of `snapshot`: the same bytes whatever its keys' order. */
export function fingerprint(snapshot: Snapshot): string {
  return fingerprints.get(snapshot) ?? hashOf(snapshot);
}

// What drizzle-kit's differ reads across tables: when one of these differs, any table may matter
// (an enum that loses values rewrites every column of that type).
const SHARED = ['enums', 'schemas', 'sequences', 'roles', 'policies', 'views'] as const;

/** Both snapshots without the tables they have identically, for speed: the differ compares a table only
 * with its namesake, so those give no statement. Tables on one side only stay: they are the rename
 * candidates. A table that references a renamed table or column is not identical on both sides, so it stays.
 * drizzle-kit's `internal` (array columns, by bare table name) keeps only the names of the tables kept: the
 * differ validates all of it (zod) at every run. */
export function withoutUnchangedTables(from: Snapshot, to: Snapshot): [Snapshot, Snapshot] {
  if (SHARED.some((part) => JSON.stringify(from[part]) !== JSON.stringify(to[part]))) return [from, to];
  const unchanged = new Set(Object.keys(from.tables).filter((key) => from.tables[key] === to.tables[key]
    || JSON.stringify(from.tables[key]) === JSON.stringify(to.tables[key])));
  const changedOnly = (snapshot: Snapshot): Snapshot => {
    const tables = Object.fromEntries(Object.entries(snapshot.tables).filter(([key]) => !unchanged.has(key)));
    const internal = snapshot.internal as { tables?: Record<string, unknown> } | undefined;
    if (!internal?.tables) return { ...snapshot, tables };
    const names = new Set(Object.values(tables).map((table) => table.name));
    return { ...snapshot, tables, internal: { ...internal, tables: Object.fromEntries(Object.entries(internal.tables).filter(([name]) => names.has(name))) } };
  };
  return [changedOnly(from), changedOnly(to)];
}
