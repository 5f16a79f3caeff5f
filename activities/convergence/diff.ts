// Differences between two canonical catalogs (catalog.ts), said the way a person reads them, and the
// hash that stands for a catalog where the other side is not at hand (the apply compares prod with the
// catalog dev had at the trial).
import { createHash } from 'node:crypto';
import type { CatalogObjects } from './catalog.ts';

/** The canonical catalog's hash: equal hashes, equal catalogs. */
export function catalogHash(objects: CatalogObjects): string {
  return createHash('sha256').update(JSON.stringify(objects)).digest('hex');
}

/** What a proof of convergence records of the catalog it matched. */
export interface CatalogProof {
  hash: string;
  /** How many objects (schemas, relations, columns, constraints, indexes, routines, ...) were compared. */
  objects: number;
}

export const proofOf = (objects: CatalogObjects): CatalogProof => ({ hash: catalogHash(objects), objects: Object.keys(objects).length });

/** One line per difference: `column public.users.email: type text vs character varying(200)` (a's value first),
 * `index public.users_email: only in dev`. `sides` names a and b. */
export function diffCatalogs(a: CatalogObjects, b: CatalogObjects, sides: [string, string] = ['a', 'b']): string[] {
  const lines: string[] = [];
  for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const [left, right] = [a[key], b[key]];
    if (!left || !right) {
      lines.push(`${key}: only in ${left ? sides[0] : sides[1]}`);
      continue;
    }
    for (const property of [...new Set([...Object.keys(left), ...Object.keys(right)])].sort()) {
      const [was, is] = [render(left[property]), render(right[property])];
      if (was !== is) lines.push(`${key}: ${property} ${contrast(was, is)}`);
    }
  }
  return lines;
}

const render = (value: unknown) => (value === undefined ? 'none' : typeof value === 'string' ? value : JSON.stringify(value));

/** Two renderings side by side; of long multi-line definitions, only the first line that differs. */
function contrast(was: string, is: string): string {
  if (!was.includes('\n') && !is.includes('\n')) return `${was} vs ${is}`;
  const [wasLines, isLines] = [was.split('\n'), is.split('\n')];
  const line = wasLines.findIndex((text, index) => text !== isLines[index]);
  const at = line === -1 ? wasLines.length : line;
  return `differs at line ${at + 1}: ${(wasLines[at] ?? '(end)').trim()} vs ${(isLines[at] ?? '(end)').trim()}`;
}
