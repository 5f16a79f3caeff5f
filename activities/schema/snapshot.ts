// A schema snapshot in drizzle-kit's format (version 7), made canonical so that the same database
// always gives the same bytes: the fingerprint of a schema is the hash of those bytes.
import { createHash } from 'node:crypto';
import type { Snapshot } from './drizzle.ts';

export type { Snapshot };

/** Sorts object keys recursively, except a table's `columns`, whose order is the table's column order. */
export function canonicalize<T>(value: T, keepOrder = false): T {
  if (Array.isArray(value)) return value.map((item) => canonicalize(item)) as T;
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value);
  if (!keepOrder) keys.sort();
  const result: Record<string, unknown> = {};
  for (const key of keys) {
    const child = (value as Record<string, unknown>)[key];
    if (child !== undefined) result[key] = canonicalize(child, key === 'columns' && !Array.isArray(child));
  }
  return result as T;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Hash of the canonical snapshot, ignoring drizzle's migration bookkeeping (ids, rename meta). */
export function fingerprint(snapshot: Snapshot): string {
  const { id: _id, prevId: _prevId, _meta, ...schema } = snapshot;
  return sha256(JSON.stringify(canonicalize(schema)));
}
