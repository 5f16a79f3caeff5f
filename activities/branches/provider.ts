// A branch is a copy of prod, with its data, where a plan is tried before prod is touched.
// Providers are interchangeable: one file per implementation, all behind this interface.

export interface BranchRef {
  id: string;
  name: string;
}

export interface Branch extends BranchRef {
  /** Connection URL with credentials: stays inside activities, sealed before it leaves them. */
  url: string;
}

export interface BranchProvider {
  /** A copy of prod as it is now. Idempotent: when `name` exists already, returns that branch. */
  create(name: string): Promise<Branch>;
  /** Deleting a branch that does not exist is not an error. */
  delete(id: string): Promise<void>;
  /** Branches this tool made (their names start with BRANCH_PREFIX), to clean up leftovers. */
  list(): Promise<BranchRef[]>;
  /** Makes prod what `source` (a branch made by `create` earlier) holds; keeps prod's current state as a branch named `keepAs`. */
  restore(source: BranchRef, keepAs: string): Promise<BranchRef>;
}

export const BRANCH_PREFIX = 'pgpromote-';

/** A promotion's branches are named after it, so that a leftover can be traced to its promotion. */
export const trialBranchName = (promotionId: string) => `${BRANCH_PREFIX}${promotionId}-trial`;
export const backupBranchName = (promotionId: string) => `${BRANCH_PREFIX}${promotionId}-backup`;
/** Where a revert keeps prod's state from before it (it may hold writes made after the apply): never deleted by us. */
export const revertedBranchName = (promotionId: string) => `${BRANCH_PREFIX}${promotionId}-reverted`;
export const promotionOfBranch = (name: string) => /^pgpromote-(.+)-(?:trial|backup)$/.exec(name)?.[1];

/** Where to make branches of prod; travels in workflow input, so it holds no secrets. */
export type BranchTarget =
  | { provider: 'local' }
  | { provider: 'neon'; projectId: string; branchId: string; databaseName: string; roleName: string };
