// Every activity of the promotion workflow, built from injected dependencies (the worker passes
// real configuration; tests pass theirs). Activities are thin: they open sealed connection strings,
// connect, and call the modules that do the work.
import { CompleteAsyncError, Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { seal, unseal, type Sealed, type SecretKeys } from './secrets.ts';
import { withClient } from './db.ts';
import { planUrls, type TimeoutOptions } from './schema/plan.ts';
import type { Answers } from './schema/questions.ts';
import type { Plan } from './schema/model.ts';
import type { OnlineOptions } from './schema/online.ts';
import { createBranchProvider } from './branches/index.ts';
import type { NeonProviderOptions } from './branches/neon.ts';
import type { BranchKind, BranchMeta, BranchRef, BranchTarget, Restored } from './branches/provider.ts';
import { trialPlan, type TrialReport } from './trial/trial.ts';
import { applyToProduction, settleAbandonedApply, type ApplyResult } from './production/apply.ts';
import { DEFAULT_LIMITS, type ExecutionLimits } from './production/execute.ts';
import { openSession, type AttemptIdentity } from './production/session.ts';
import { createPreviewProvider } from './preview/index.ts';
import type { Preview, PreviewTarget } from './preview/provider.ts';
import { prodIdentity, prodLockId } from './prod-identity.ts';
import { lockRequestSignal, prodLock, type LockRequester } from '../workflows/prod-lock.ts';

export interface ActivityDeps {
  /** Open the sealed connection strings in workflow input; the first seals branch URLs (PGPROMOTE_SECRET_KEYS). */
  secretKeys: SecretKeys;
  /** Signs webhook preview requests (PGPROMOTE_PREVIEW_SECRET): the deploy system checks it. */
  previewSecret?: string;
  /** The Neon API key (and base URL) for promotions whose branch target is a Neon project. */
  neon?: NeonProviderOptions;
  /** The worker's own namespace: promotions queue per prod through a lock workflow there. */
  temporal: Client;
}

export interface Databases {
  prod: Sealed;
  dev: Sealed;
  /** Schemas to compare: every user schema when absent (a plan records the list it compared). */
  schemas?: string[];
  /** Schemas to leave out of the default. */
  excludeSchemas?: string[];
}

export interface SealedBranch {
  id: string;
  name: string;
  url: Sealed;
}

/** Heartbeats while `work` runs, so that the server notices a dead worker and cancellation reaches us. */
async function heartbeating<T>(work: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => Context.current().heartbeat(), 2_000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/** The promotion (workflow run), namespace and attempt this activity runs for. */
function promotionRun(): AttemptIdentity & { namespace: string } {
  const { workflowExecution, attempt, namespace } = Context.current().info;
  if (!workflowExecution) throw new Error('this activity runs only for a promotion workflow');
  return { promotionId: workflowExecution.workflowId, runId: workflowExecution.runId, attempt, namespace };
}

/** Who is making a branch: recorded with it. */
function madeBy(kind: BranchKind): BranchMeta {
  const { promotionId, runId, namespace } = promotionRun();
  return { promotionId, runId, kind, namespace };
}

export function createActivities(deps: ActivityDeps) {
  const open = (sealed: Sealed) => unseal(sealed, deps.secretKeys);
  const provider = (target: BranchTarget, prod: Sealed) => createBranchProvider(target, open(prod), deps.neon);
  const previews = (target: PreviewTarget) =>
    createPreviewProvider(target, {
      secret: deps.previewSecret,
      taskToken: Buffer.from(Context.current().info.taskToken).toString('base64'),
      completeAsync: () => {
        throw new CompleteAsyncError();
      },
      heartbeat: () => Context.current().heartbeat(),
    });

  return {
    async plan(input: Databases & TimeoutOptions & OnlineOptions & { answers?: Answers; renames?: string[]; drops?: string[] }): Promise<Plan> {
      return heartbeating(() => planUrls(open(input.prod), open(input.dev), input));
    },

    async createBranch(input: { prod: Sealed; target: BranchTarget; name: string; kind: 'trial' | 'backup' }): Promise<SealedBranch> {
      const branch = await heartbeating(() => provider(input.target, input.prod).create(input.name, madeBy(input.kind)));
      return { id: branch.id, name: branch.name, url: seal(branch.url, deps.secretKeys) };
    },

    async deleteBranch(input: { prod: Sealed; target: BranchTarget; id: string }): Promise<void> {
      await heartbeating(() => provider(input.target, input.prod).delete(input.id));
    },

    /** Makes prod what `source` holds (a backup taken before the apply); prod's current state is kept as `keepAs`. */
    async restoreProd(input: { prod: Sealed; target: BranchTarget; source: BranchRef; keepAs: string }): Promise<Restored> {
      return heartbeating(() => provider(input.target, input.prod).restore(input.source, input.keepAs, madeBy('reverted')));
    },

    /** Starts the app on the trial branch; returns once it is ready (or a deploy system completes it later). */
    async startPreview(input: { target: PreviewTarget; branch: Sealed }): Promise<Preview> {
      return heartbeating(() => previews(input.target).start(promotionRun().promotionId, open(input.branch)));
    },

    async stopPreview(input: { target: PreviewTarget; id: string }): Promise<void> {
      await heartbeating(() => previews(input.target).stop(input.id));
    },

    async trial(input: { dev: Sealed; branch: Sealed; plan: Plan; limits?: ExecutionLimits }): Promise<TrialReport> {
      const limits = input.limits ?? DEFAULT_LIMITS;
      return heartbeating(async () => {
        const branch = await openSession(open(input.branch), 'trial', promotionRun(), limits);
        try {
          return await withClient(open(input.dev), (dev) => trialPlan(branch, dev, input.plan, { signal: Context.current().cancellationSignal }));
        } finally {
          await branch.end().catch(() => {});
        }
      });
    },

    async applyToProduction(input: { prod: Sealed; plan: Plan; devCatalog: string; limits?: ExecutionLimits }): Promise<ApplyResult> {
      const limits = input.limits ?? DEFAULT_LIMITS;
      return heartbeating(() =>
        applyToProduction(open(input.prod), input.plan, { devCatalog: input.devCatalog, limits, identity: promotionRun(), signal: Context.current().cancellationSignal }),
      );
    },

    /**
     * Asks prod's lock workflow (started if none runs) for the lock, for this promotion's run; the lock
     * answers with a signal to the promotion. Returns prod's identity and the lock's workflow id.
     */
    async requestProdLock(input: { prod: Sealed; target: BranchTarget; noQueue: boolean }): Promise<{ prodIdentity: string; lockId: string }> {
      const identity = prodIdentity(open(input.prod), input.target);
      const lockId = prodLockId(identity);
      const { promotionId, runId } = promotionRun();
      await deps.temporal.workflow.signalWithStart(prodLock, {
        workflowId: lockId,
        taskQueue: Context.current().info.taskQueue,
        args: [{ prodIdentity: identity, queue: [] }],
        signal: lockRequestSignal,
        signalArgs: [{ promotionId, runId, noQueue: input.noQueue }],
        staticSummary: `one promotion at a time for ${identity}`,
      });
      return { prodIdentity: identity, lockId };
    },

    /** Whether a run of a promotion is still running: the prod lock drops a holder that closed without releasing it. */
    async promotionRunning(run: LockRequester): Promise<boolean> {
      try {
        const { status } = await deps.temporal.workflow.getHandle(run.promotionId, run.runId).describe();
        return status.name === 'RUNNING';
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return false;
        throw error;
      }
    },

    /** Once the workflow has given the apply up: no attempt can commit any more; says whether one did. */
    async settleAbandonedApply(input: { prod: Sealed; plan: Plan; limits?: ExecutionLimits }) {
      const { promotionId, runId } = promotionRun();
      return settleAbandonedApply(open(input.prod), input.plan, { promotionId, runId }, input.limits ?? DEFAULT_LIMITS);
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
