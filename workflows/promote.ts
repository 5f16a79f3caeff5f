// The promotion: plan → branch → trial → approval → (backup) → apply → (revert window) → clean up.
// Deterministic orchestration only; everything that touches a database is an activity.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
  allHandlersFinished,
  ActivityFailure,
  isCancellation,
} from '@temporalio/workflow';
import type { SignalDefinition, UpdateDefinition } from '@temporalio/common';
import type { Activities } from '../activities/index.ts';
import type { Plan } from '../activities/schema/plan.ts';
import type { ApplyResult } from '../activities/production/apply.ts';
import { backupBranchName, revertedBranchName, trialBranchName } from '../activities/branches/provider.ts';
import {
  approveSignal, approveUpdate, cancelSignal, cancelUpdate, rejectSignal, rejectUpdate, revertSignal, revertUpdate, statusQuery,
  type Decision, type PromoteInput, type PromotionState, type Stage,
} from './messages.ts';
import { approvalRefusal, cancelRefusal, isApproved, rejectionRefusal, revertRefusal } from './rules.ts';
import { requireValidInput } from './input.ts';
import { publish } from './visibility.ts';

// Errors where trying again gives the same answer.
const nonRetryableErrorTypes = [
  'DatabaseConfigError', 'PlanInputError', 'StatementError', 'DriftError',
  'ConvergenceError', 'StalePlanError', 'SecretKeyError', 'AbandonedError', 'SupersededError',
];
const retry = { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes };

// Every activity heartbeats: a worker that dies or freezes is noticed within the heartbeat timeout,
// and its activity is tried again elsewhere.
const planning = proxyActivities<Activities>({ startToCloseTimeout: '10 minutes', heartbeatTimeout: '30 seconds', retry });
const branches = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { ...retry, maximumAttempts: 5 },
});
const changes = proxyActivities<Activities>({ startToCloseTimeout: '2 hours', heartbeatTimeout: '20 seconds', retry });
// Settling a given-up apply must reach prod whatever it takes: what the promotion reports depends on it.
const settling = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 30, nonRetryableErrorTypes: ['SecretKeyError'] },
});

export async function promote(input: PromoteInput): Promise<PromotionState> {
  const { workflowId: promotionId } = workflowInfo();
  requireValidInput(input, promotionId); // before anything is touched, whoever started it
  const state: PromotionState = {
    promotionId, dev: input.devLabel, prod: input.prodLabel, stage: 'planning', ignored: [],
    startedBy: input.startedBy, policy: { ...input.policy, approvals: input.policy?.approvals ?? 1 }, approvals: [],
  };
  const now = () => new Date().toISOString();
  // The story runs in its own scope, so that a cancel message can stop it and clean-up still runs.
  const story = new CancellationScope();

  setHandler(statusQuery, () => state);
  decision(approveUpdate, approveSignal, (approval) => approvalRefusal(state, approval), (approval) => {
    state.approvals.push({ by: approval.by, comment: approval.comment, planHash: approval.planHash, acceptDataLoss: approval.acceptDataLoss, at: now() });
  });
  decision(rejectUpdate, rejectSignal, (rejection) => rejectionRefusal(state, rejection), (rejection) => {
    state.rejection = { by: rejection.by, comment: rejection.comment, at: now() };
  });
  decision(revertUpdate, revertSignal, (revert) => revertRefusal(state, revert, !!input.revertWindow), (revert) => {
    state.revert = { by: revert.by, comment: revert.comment, at: now() };
  });
  decision(cancelUpdate, cancelSignal, (cancel) => cancelRefusal(state, cancel), (cancel) => {
    state.cancellation = { by: cancel.by, comment: cancel.comment, at: now() };
    story.cancel();
  });

  /** One rule per message, for its update (refused with the reason) and its signal (recorded as ignored). */
  function decision<A extends Decision>(
    update: UpdateDefinition<PromotionState, [A]>,
    signal: SignalDefinition<[A]>,
    refusal: (message: A) => string | undefined,
    accept: (message: A) => void,
  ) {
    setHandler(update, (message) => {
      accept(message);
      publish(state, input);
      return state;
    }, {
      validator: (message) => {
        const reason = refusal(message);
        if (reason) throw ApplicationFailure.create({ message: reason, type: 'Refused', nonRetryable: true });
      },
    });
    setHandler(signal, (message) => {
      const reason = refusal(message);
      if (reason) state.ignored.push({ by: typeof message?.by === 'string' && message.by.trim() ? message.by : '(nobody)', reason, at: now() });
      else accept(message);
      publish(state, input);
    });
  }

  const enter = (stage: Stage) => {
    state.stage = stage;
    publish(state, input);
    log.info('promotion stage', { promotionId, stage });
  };
  const dropped = new Set<string>();
  // While a revert runs, and after one failed (requested, not done), the backup is the only copy of prod
  // from before the apply: it is kept.
  const revertUnfinished = () => !!state.revert && !state.revert.keptAs;
  const dropBranches = (...which: ('branch' | 'backup')[]) =>
    CancellationScope.nonCancellable(async () => {
      for (const key of which) {
        const branch = state[key];
        if (!branch || dropped.has(branch.id) || (key === 'backup' && revertUnfinished())) continue;
        await branches.deleteBranch({ prod: input.prod, target: input.branch, id: branch.id });
        dropped.add(branch.id);
      }
    });

  try {
    return await story.run(async () => {
      enter('planning');
      state.plan = await planning.plan({
        prod: input.prod, dev: input.dev, schemas: input.schemas, excludeSchemas: input.excludeSchemas, answers: input.answers, renames: input.renames,
      });
      if (!state.plan.statements.length) {
        state.outcome = 'up-to-date';
        return state;
      }
      if (state.plan.unsupported.length) {
        throw ApplicationFailure.nonRetryable(
          `the plan contains changes pgpromote cannot apply safely: ${state.plan.unsupported.map((u) => `${u.object} (${u.reason})`).join('; ')}`,
          'UnsupportedChange',
        );
      }

      enter('branching');
      const branch = await branches.createBranch({ prod: input.prod, target: input.branch, name: trialBranchName(promotionId), kind: 'trial' });
      state.branch = { id: branch.id, name: branch.name };

      enter('trial');
      state.trial = await changes.trial({ dev: input.dev, branch: branch.url, plan: state.plan });

      enter('awaiting-approval');
      const decided = await condition(() => isApproved(state) || !!state.rejection, (input.approvalTimeout ?? '7 days') as never);
      if (state.rejection) {
        state.outcome = 'rejected';
        return state;
      }
      if (!decided) {
        state.outcome = 'expired';
        return state;
      }

      if (input.revertWindow) {
        enter('backing-up');
        const backup = await branches.createBranch({ prod: input.prod, target: input.branch, name: backupBranchName(promotionId), kind: 'backup' });
        state.backup = { id: backup.id, name: backup.name };
      }

      enter('applying');
      state.apply = await applyOrSettle(input, state.plan, state.trial.catalog.hash);
      state.outcome = 'applied';
      await dropBranches('branch'); // the trial branch is not needed while a revert is still possible

      if (state.backup) {
        enter('revert-window');
        if (await condition(() => !!state.revert, input.revertWindow as never)) {
          enter('reverting');
          const restored = await changes.restoreProd({ prod: input.prod, target: input.branch, source: state.backup, keepAs: revertedBranchName(promotionId) });
          state.revert!.keptAs = restored.kept.name;
          state.outcome = 'reverted';
        }
      }
      return state;
    });
  } catch (error) {
    // Once applied, prod holds the plan whatever fails later: the outcome says what prod holds.
    if (state.outcome !== 'applied') state.outcome = isCancellation(error) ? 'cancelled' : 'failed';
    if (isCancellation(error)) {
      if (state.cancellation) return state; // cancelled by a message: the promotion ends as it says
      throw error; // cancelled from outside (the Temporal UI, the API): the workflow ends cancelled
    }
    state.error = state.stage === 'reverting'
      ? `the revert failed; prod stays as the promotion left it, and its backup ${state.backup!.name} is kept for another try: ${reason(error)}`
      : reason(error);
    throw ApplicationFailure.nonRetryable(state.error, 'PromotionFailed');
  } finally {
    // The saga's compensation: the branches go whatever happened, even when the workflow is cancelled.
    state.stage = 'cleaning-up';
    await dropBranches('branch', 'backup');
    state.stage = 'finished';
    publish(state, input);
    await condition(allHandlersFinished);
  }
}

/**
 * Applies the plan to prod. When Temporal gives the apply up (attempts spent, a non-retryable error,
 * or cancellation), prod is settled before anything is reported: no attempt can commit after that, and
 * an attempt that did commit (say, one that froze and woke up) makes the promotion applied after all.
 */
async function applyOrSettle(input: PromoteInput, plan: Plan, devCatalog: string): Promise<ApplyResult> {
  try {
    return await changes.applyToProduction({ prod: input.prod, plan, devCatalog });
  } catch (error) {
    const settled = await CancellationScope.nonCancellable(() => settling.settleAbandonedApply({ prod: input.prod, plan }));
    if (settled.applied) return { alreadyApplied: true, statements: [] };
    if (settled.enumValuesCommitted) {
      throw ApplicationFailure.nonRetryable(`${reason(error)} (prod is unchanged but for the plan's new enum values, which were committed first)`, 'ApplyFailed');
    }
    throw error;
  }
}

/** The message of the failure at the root, without Temporal's wrappers. */
function reason(error: unknown): string {
  let current = error as Error & { cause?: unknown };
  while (current instanceof ActivityFailure && current.cause) current = current.cause as Error & { cause?: unknown };
  return current?.message ?? String(error);
}
