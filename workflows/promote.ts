// The promotion: plan (→ answers → plan again) → branch → trial → approval → (backup) → apply →
// (revert window) → undo what it made.
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
  isCancellation,
  CancelledFailure,
} from '@temporalio/workflow';
import type { Duration, SignalDefinition, UpdateDefinition } from '@temporalio/common';
import type { Activities } from '../activities/index.ts';
import type { Plan } from '../activities/schema/model.ts';
import type { ApplyResult } from '../activities/production/apply.ts';
import { backupBranchName, revertedBranchName, trialBranchName } from '../activities/branches/provider.ts';
import { answersOf, openQuestions, type Answers } from '../activities/schema/questions.ts';
import {
  answerSignal, answerUpdate, approveSignal, approveUpdate, cancelSignal, cancelUpdate, rejectSignal, rejectUpdate, revertSignal, revertUpdate, statusQuery,
  type Decision, type Outcome, type PromoteInput, type PromotionState, type Stage,
} from './messages.ts';
import { answerRefusal, answersOrRefusal, approvalRefusal, cancelRefusal, isApproved, rejectionRefusal, revertRefusal } from './rules.ts';
import { UndoSteps, rootMessage, type UndoStep } from './undo.ts';
import { requireValidInput } from './input.ts';
import { prodLock } from './queue.ts';
import { publish } from './visibility.ts';

// Errors where trying again gives the same answer.
const nonRetryableErrorTypes = [
  'DatabaseConfigError', 'PlanInputError', 'StatementError', 'DriftError',
  'ConvergenceError', 'StalePlanError', 'SecretKeyError', 'AbandonedError', 'SupersededError',
  // The plan's lock budget was spent waiting behind a session: retrying at once would wait behind it again.
  'LockBudgetSpentError',
];
const retry = { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes };

// Each stage reaches only its own activities, with its own timeouts. Activities that can run long
// heartbeat: a worker that dies or freezes is noticed within the heartbeat timeout, and the activity
// is tried again elsewhere.
const planning = proxyActivities<Pick<Activities, 'plan'>>({ startToCloseTimeout: '10 minutes', heartbeatTimeout: '30 seconds', retry });
const branching = proxyActivities<Pick<Activities, 'createBranch'>>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { ...retry, maximumAttempts: 5 },
});
const trying = proxyActivities<Pick<Activities, 'trial'>>({ startToCloseTimeout: '2 hours', heartbeatTimeout: '20 seconds', retry });
const applying = proxyActivities<Pick<Activities, 'applyToProduction'>>({ startToCloseTimeout: '2 hours', heartbeatTimeout: '20 seconds', retry });
// Settling a given-up apply must reach prod whatever it takes: what the promotion reports depends on it.
const settling = proxyActivities<Pick<Activities, 'settleAbandonedApply'>>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 30, nonRetryableErrorTypes: ['SecretKeyError'] },
});
const reverting = proxyActivities<Pick<Activities, 'restoreProd'>>({ startToCloseTimeout: '2 hours', heartbeatTimeout: '20 seconds', retry });
const previewRetry = { ...retry, nonRetryableErrorTypes: [...nonRetryableErrorTypes, 'PreviewFailedError'] };
const previewing = proxyActivities<Pick<Activities, 'startPreview' | 'stopPreview'>>({ startToCloseTimeout: '30 minutes', heartbeatTimeout: '30 seconds', retry: previewRetry });
// A webhook's deploy system may complete the start itself, with the task token, without heartbeats.
const previewingByWebhook = proxyActivities<Pick<Activities, 'startPreview'>>({ startToCloseTimeout: '30 minutes', retry: previewRetry });
// Deletes run right after the apply commits: a worker that dies in one is noticed by its heartbeat,
// not after the whole start-to-close timeout, so that the promotion still finishes promptly.
const undoing = proxyActivities<Pick<Activities, 'deleteBranch'>>({ startToCloseTimeout: '10 minutes', heartbeatTimeout: '30 seconds', retry: { ...retry, maximumAttempts: 5 } });

export async function promote(input: PromoteInput): Promise<PromotionState> {
  const { workflowId: promotionId } = workflowInfo();
  requireValidInput(input, promotionId); // before anything is touched, whoever started it
  const state: PromotionState = {
    promotionId, dev: input.devLabel, prod: input.prodLabel, stage: 'planning', ignored: [],
    startedBy: input.startedBy, policy: { ...input.policy, approvals: input.policy?.approvals ?? 1 }, answered: [], approvals: [],
  };
  const now = () => new Date().toISOString();
  const waitForPeople = (input.approvalTimeout ?? '7 days') as Duration;
  // The story runs in its own scope, so that a cancel message can stop it and clean-up still runs.
  const story = new CancellationScope();
  const lock = prodLock(input, state, () => enter('queued')); // one promotion per prod at a time
  const undo = new UndoSteps();

  setHandler(statusQuery, () => state);
  decision(answerUpdate, answerSignal, (message) => answerRefusal(state, message), (message) => {
    const result = answersOrRefusal(state, message);
    if ('answers' in result) state.answered.push({ by: message.by, comment: message.comment, answers: result.answers, at: now() });
  });
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
      publish(state);
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
      publish(state);
    });
  }

  const enter = (stage: Stage) => {
    state.stage = stage;
    publish(state);
    log.info('promotion stage', { promotionId, stage });
  };
  /**
   * Makes a branch of prod, and registers its deletion. A cancel waits for the copy to end: a copy
   * abandoned mid-way would finish unseen and be left behind; this way its undo step deletes it.
   */
  const makeBranch = async (kind: 'trial' | 'backup', name: string) => {
    const branch = await CancellationScope.nonCancellable(() => branching.createBranch({ prod: input.prod, target: input.branch, name, kind }));
    const removal = undo.add(`${kind} branch ${branch.name}`, async () => {
      // While a revert runs, and after one failed (requested, not done), the backup is the only copy of
      // prod from before the apply: it is kept.
      if (kind === 'backup' && state.revert && !state.revert.keptAs) return;
      await undoing.deleteBranch({ prod: input.prod, target: input.branch, id: branch.id });
    });
    return { branch, removal };
  };

  try {
    return await story.run(async () => {
      await lock.take();
      if (state.rejection) return end('rejected');
      enter('planning');
      // Every plan of the promotion is made alike (timeouts, online rewrites): the one approved is the one applied.
      const howToPlan = {
        lockTimeoutMs: input.lockTimeoutMs, statementTimeoutMs: input.statementTimeoutMs, lockBudgetMs: input.lockBudgetMs,
        online: input.online, onlineThresholdBytes: input.onlineThresholdBytes,
      };
      state.plan = await planning.plan({
        prod: input.prod, dev: input.dev, schemas: input.schemas, excludeSchemas: input.excludeSchemas, answers: input.answers, renames: input.renames, drops: input.drops, ...howToPlan,
      });
      // Rename or drop? Only people say: an open question is never taken as a drop.
      while (openQuestions(state.plan.questions).length) {
        enter('awaiting-answers');
        const answeredBefore = state.answered.length;
        const answered = await condition(() => state.answered.length > answeredBefore || !!state.rejection, waitForPeople);
        if (state.rejection) return end('rejected');
        if (!answered) return end('expired');
        enter('planning');
        const answers: Answers = Object.assign(answersOf(state.plan.questions), ...state.answered.slice(answeredBefore).map((given) => given.answers));
        state.plan = await planning.plan({ prod: input.prod, dev: input.dev, schemas: input.schemas, excludeSchemas: input.excludeSchemas, answers, ...howToPlan });
      }
      if (!state.plan.statements.length) return end('up-to-date');
      if (state.plan.unsupported.length) {
        throw ApplicationFailure.nonRetryable(
          `the plan contains changes pgpromote cannot apply safely: ${state.plan.unsupported.map((u) => `${u.object} (${u.reason})`).join('; ')}`,
          'UnsupportedChange',
        );
      }

      enter('branching');
      const { branch, removal: branchRemoval } = await makeBranch('trial', trialBranchName(promotionId));
      state.branch = { id: branch.id, name: branch.name };

      enter('trial');
      state.trial = await trying.trial({ dev: input.dev, branch: branch.url, plan: state.plan });

      let previewRemoval: UndoStep | undefined;
      if (input.preview) {
        enter('preview');
        const target = input.preview;
        const starting = target.provider === 'webhook' ? previewingByWebhook : previewing;
        const preview = await starting.startPreview({ target, branch: branch.url });
        // Stopping always heartbeats, so that a worker lost in it is noticed promptly.
        previewRemoval = undo.add(`preview ${preview.url}`, () => previewing.stopPreview({ target, id: preview.id })); // before its branch goes
        state.preview = preview;
      }

      enter('awaiting-approval');
      const decided = await condition(() => isApproved(state) || !!state.rejection, waitForPeople);
      if (state.rejection) return end('rejected');
      if (!decided) return end('expired');

      if (input.revertWindow) {
        enter('backing-up');
        const { branch: backup } = await makeBranch('backup', backupBranchName(promotionId));
        state.backup = { id: backup.id, name: backup.name };
      }

      // Cancelled while the backup was taken: prod is not touched (nothing to settle either).
      if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('cancelled before the apply');
      enter('applying');
      state.apply = await applyOrSettle(input, state.plan, state.trial.catalog.hash);
      state.outcome = 'applied';
      // The preview and the branch under it are not needed while a revert is still possible.
      if (previewRemoval) await undo.now(previewRemoval);
      await undo.now(branchRemoval);

      if (state.backup) {
        enter('revert-window');
        if (await condition(() => !!state.revert, input.revertWindow as Duration)) {
          enter('reverting');
          const restored = await reverting.restoreProd({ prod: input.prod, target: input.branch, source: state.backup, keepAs: revertedBranchName(promotionId) });
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
      ? `the revert failed; prod stays as the promotion left it, and its backup ${state.backup!.name} is kept for another try: ${rootMessage(error)}`
      : rootMessage(error);
    throw ApplicationFailure.nonRetryable(state.error, 'PromotionFailed');
  } finally {
    // The saga's compensation: what the promotion made goes, whatever happened, even when it is cancelled.
    state.stage = 'cleaning-up';
    await lock.release(); // first, so that nothing that fails below keeps the next promotion of prod waiting
    await undo.all();
    if (undo.failures.length) {
      state.leftBehind = undo.failures.map((failure) => `${failure} (list and delete leftovers with \`pgpromote branches --prod <url> --delete-stale\`)`);
    }
    state.stage = 'finished';
    publish(state);
    await condition(allHandlersFinished);
  }

  function end(outcome: Outcome): PromotionState {
    state.outcome = outcome;
    return state;
  }
}

/**
 * Applies the plan to prod. When Temporal gives the apply up (attempts spent, a non-retryable error,
 * or cancellation), prod is settled before anything is reported: no attempt can commit after that, and
 * an attempt that did commit (say, one that froze and woke up) makes the promotion applied after all.
 */
async function applyOrSettle(input: PromoteInput, plan: Plan, devCatalog: string): Promise<ApplyResult> {
  try {
    return await applying.applyToProduction({ prod: input.prod, plan, devCatalog });
  } catch (error) {
    const settled = await CancellationScope.nonCancellable(() => settling.settleAbandonedApply({ prod: input.prod, plan }));
    if (settled.applied) return { alreadyApplied: true, statements: [] };
    if (settled.committed) {
      throw ApplicationFailure.nonRetryable(`${rootMessage(error)} (prod is unchanged but for ${settled.committed})`, 'ApplyFailed');
    }
    throw error;
  }
}
