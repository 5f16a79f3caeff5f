// Who made a branch: reading it back from storage, and what `create` does with a branch of the same name.
import { DatabaseConfigError } from '../db.ts';
import type { BranchKind, BranchMeta } from './provider.ts';

const KINDS: readonly string[] = ['trial', 'backup', 'reverted'] satisfies BranchKind[];

/** Metadata from its stored form, or undefined when it is not a complete pgpromote record. */
export function readMeta(stored: Record<string, unknown> | undefined): BranchMeta | undefined {
  if (!stored) return undefined;
  const { promotionId, runId, kind, namespace } = stored;
  const strings = [promotionId, runId, kind, namespace].every((v) => typeof v === 'string' && v !== '');
  return strings && KINDS.includes(kind as string)
    ? { promotionId: promotionId as string, runId: runId as string, kind: kind as BranchKind, namespace: namespace as string }
    : undefined;
}

export const describeMeta = (meta: BranchMeta) =>
  `${meta.kind} branch of promotion ${meta.promotionId} (run ${meta.runId}, namespace ${meta.namespace})`;

/**
 * Whether `create` may reuse or replace a branch that already has the name it was asked for: the same run
 * reuses it; another run of the same promotion in the same namespace has ended (Temporal runs one workflow
 * id at a time), so its trial or backup is stale and replaced. Anything else throws, saying why.
 */
export function existingBranchAction(name: string, existing: BranchMeta | undefined, wanted: BranchMeta): 'reuse' | 'replace' {
  const refuse = (why: string) => {
    throw new DatabaseConfigError(`cannot create branch ${name}: it exists already and ${why}; rename or drop it by hand if it is not needed, or use another promotion id`);
  };
  if (!existing) return refuse('has no pgpromote metadata (made by hand, or by an older pgpromote)');
  if (existing.kind === 'reverted') return refuse(`is a salvage copy of prod (${describeMeta(existing)})`);
  if (existing.promotionId !== wanted.promotionId || existing.namespace !== wanted.namespace || existing.kind !== wanted.kind) {
    return refuse(`belongs to another promotion: ${describeMeta(existing)}`);
  }
  return existing.runId === wanted.runId ? 'reuse' : 'replace';
}
