// A branch is a copy of prod, with its data, where a plan is tried before prod is touched.
// Providers are interchangeable: one file per implementation, all behind this interface.
// The workflow imports the names from here: this file imports nothing (the workflow bundle has no pg).

export interface BranchRef {
  id: string;
  name: string;
}

export interface Branch extends BranchRef {
  /** Connection URL with credentials: stays inside activities, sealed before it leaves them. */
  url: string;
}

/** trial: where the plan is tried; backup: prod before the apply; reverted: prod's state before a revert (a salvage copy). */
export type BranchKind = 'trial' | 'backup' | 'reverted';

/** Who made a branch, stored with it: a name may be shortened with a hash, so it cannot be read back. */
export interface BranchMeta {
  promotionId: string;
  runId: string;
  kind: BranchKind;
  /** The Temporal namespace the promotion runs in. */
  namespace: string;
}

export interface ListedBranch extends BranchRef {
  /** Absent when the branch carries no readable pgpromote metadata (made by hand, or by an older pgpromote). */
  meta?: BranchMeta;
}

/** What a restore did; `prod` was checked to be in place (under its name, accepting connections) before returning. */
export interface Restored {
  prod: BranchRef;
  kept: BranchRef;
}

export interface BranchProvider {
  /**
   * A copy of prod as it is now, recording `meta`. Idempotent for the same run only: an existing branch of
   * that name made by another run of the same promotion (which has ended, since a workflow id runs once at
   * a time) is replaced if it is a trial or backup; any other existing branch is refused.
   */
  create(name: string, meta: BranchMeta): Promise<Branch>;
  /** Deleting a branch that does not exist is not an error; prod, and what is not a pgpromote branch, are refused. */
  delete(id: string): Promise<void>;
  /** Branches this tool made (their names start with BRANCH_PREFIX), with their metadata, to clean up leftovers. */
  list(): Promise<ListedBranch[]>;
  /**
   * Makes prod what `source` (a backup made by `create` for the promotion of `kept`) holds; keeps prod's
   * current state as a branch named `keepAs`, recorded with `kept` (kind `reverted`).
   */
  restore(source: BranchRef, keepAs: string, kept: BranchMeta): Promise<Restored>;
}

export const BRANCH_PREFIX = 'pgpromote-';

/** A promotion's branches are named after it, so that a leftover can be traced to its promotion. */
export const trialBranchName = (promotionId: string) => `${BRANCH_PREFIX}${promotionId}-trial`;
export const backupBranchName = (promotionId: string) => `${BRANCH_PREFIX}${promotionId}-backup`;
/** Where a revert keeps prod's state from before it (it may hold writes made after the apply): never deleted by us. */
export const REVERTED_SUFFIX = '-reverted';
export const revertedBranchName = (promotionId: string) => `${BRANCH_PREFIX}${promotionId}${REVERTED_SUFFIX}`;

/** Where to make branches of prod; travels in workflow input, so it holds no secrets. */
export type BranchTarget =
  | {
      provider: 'local';
      /**
       * How the local copy is made. `dump` (the default): pg_dump | pg_restore, prod stays fully usable.
       * `template`: CREATE DATABASE … TEMPLATE prod, fast, but new connections to prod wait for the whole
       * copy; for demos and tests.
       */
      copy?: LocalCopy;
    }
  | { provider: 'neon'; projectId: string; branchId: string; databaseName: string; roleName: string };

export type LocalCopy = 'dump' | 'template';
