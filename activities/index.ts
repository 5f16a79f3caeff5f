// Every activity of the promotion workflow, built from injected dependencies (the worker passes
// real configuration; tests pass theirs). Activities are thin: they open sealed connection strings,
// connect, and call the modules that do the work.
import { Context } from '@temporalio/activity';
import { seal, unseal, type Sealed, type SecretKeys } from './secrets.ts';
import { withClient } from './db.ts';
import { planUrls, type Answers, type Plan } from './schema/plan.ts';
import { createBranchProvider } from './branches/index.ts';
import type { NeonProviderOptions } from './branches/neon.ts';
import type { BranchRef, BranchTarget } from './branches/provider.ts';
import { trialPlan, type TrialReport } from './trial/trial.ts';
import { applyToProduction, type ApplyResult } from './production/apply.ts';
import { DEFAULT_LIMITS, type ExecutionLimits } from './production/execute.ts';

export interface ActivityDeps {
  /** Open the sealed connection strings in workflow input; the first seals branch URLs (PGPROMOTE_SECRET_KEYS). */
  secretKeys: SecretKeys;
  /** The Neon API key (and base URL) for promotions whose branch target is a Neon project. */
  neon?: NeonProviderOptions;
}

export interface Databases {
  prod: Sealed;
  dev: Sealed;
  /** Schemas to promote; `public` when empty. */
  schemas?: string[];
}

export interface SealedBranch {
  id: string;
  name: string;
  url: Sealed;
}

/** Heartbeats while `work` runs, so that the server notices a dead worker and cancellation reaches us. */
async function heartbeating<T>(work: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => Context.current().heartbeat(), 5_000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

export function createActivities(deps: ActivityDeps) {
  const open = (sealed: Sealed) => unseal(sealed, deps.secretKeys);
  const provider = (target: BranchTarget, prod: Sealed) => createBranchProvider(target, open(prod), deps.neon);

  return {
    async plan(input: Databases & { answers?: Answers; renames?: string[] }): Promise<Plan> {
      return planUrls(open(input.prod), open(input.dev), input);
    },

    async createBranch(input: { prod: Sealed; target: BranchTarget; name: string }): Promise<SealedBranch> {
      const branch = await heartbeating(() => provider(input.target, input.prod).create(input.name));
      return { id: branch.id, name: branch.name, url: seal(branch.url, deps.secretKeys) };
    },

    async deleteBranch(input: { prod: Sealed; target: BranchTarget; id: string }): Promise<void> {
      await provider(input.target, input.prod).delete(input.id);
    },

    /** Makes prod what `source` holds (a backup taken before the apply); prod's current state is kept as `keepAs`. */
    async restoreProd(input: { prod: Sealed; target: BranchTarget; source: BranchRef; keepAs: string }): Promise<BranchRef> {
      return heartbeating(() => provider(input.target, input.prod).restore(input.source, input.keepAs));
    },

    async trial(input: Databases & { branch: Sealed; plan: Plan; limits?: ExecutionLimits }): Promise<TrialReport> {
      return heartbeating(() =>
        withClient(open(input.branch), (branch) =>
          withClient(open(input.dev), (dev) => trialPlan(branch, dev, input.plan, { ...input, limits: input.limits ?? DEFAULT_LIMITS })),
        ),
      );
    },

    async applyToProduction(input: { prod: Sealed; schemas?: string[]; plan: Plan; promotionId: string; limits?: ExecutionLimits }): Promise<ApplyResult> {
      return heartbeating(() =>
        withClient(open(input.prod), (prod) =>
          applyToProduction(prod, input.plan, { ...input, limits: input.limits ?? DEFAULT_LIMITS }),
        ),
      );
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
