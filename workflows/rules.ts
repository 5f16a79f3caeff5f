// What each message may do, decided in one place: the workflow's update validators and its signal
// handlers both ask these functions, and clients only show the answer. Pure and deterministic.
import type { AnswerMessage, Approval, Decision, PromotionState, Stage } from './messages.ts';
import { openQuestions, resolveAnswers, type Answers } from '../activities/schema/questions.ts';

/** Stages in which a rejection still stops the promotion. */
const BEFORE_DECISION: Stage[] = ['queued', 'planning', 'awaiting-answers', 'branching', 'trial', 'preview', 'awaiting-approval'];
/** Stages a promotion can be cancelled in: prod has not been touched yet. */
const CANCELLABLE: Stage[] = [...BEFORE_DECISION, 'backing-up'];

const progress = (state: PromotionState) => `${state.stage}${state.outcome ? `, ${state.outcome}` : ''}`;

function deciderRefusal(decision: Partial<Decision> | undefined): string | undefined {
  if (typeof decision?.by !== 'string' || !decision.by.trim()) return 'say who decides: `by` must be a name, e.g. {"by": "alice"}';
  return undefined;
}

/**
 * The answers a message gives to the plan's open questions, or why it is refused: only while the
 * promotion waits for answers, and each answer must close an open question with a candidate it offers.
 */
export function answersOrRefusal(state: PromotionState, message: Partial<AnswerMessage> | undefined): { answers: Answers } | { refusal: string } {
  if (state.stage !== 'awaiting-answers' || !state.plan || state.rejection || state.cancellation) {
    return { refusal: `the promotion is not waiting for answers (it is ${progress(state)})` };
  }
  const decider = deciderRefusal(message);
  if (decider) return { refusal: decider };
  const resolved = resolveAnswers(message ?? {}, state.plan.questions);
  return 'problem' in resolved ? { refusal: resolved.problem } : resolved;
}

export function answerRefusal(state: PromotionState, message: Partial<AnswerMessage> | undefined): string | undefined {
  const result = answersOrRefusal(state, message);
  return 'refusal' in result ? result.refusal : undefined;
}

export function approvalRefusal(state: PromotionState, approval: Partial<Approval> | undefined): string | undefined {
  const plan = state.plan;
  if (state.stage === 'awaiting-answers' && plan) {
    return `the plan has open questions (${openQuestions(plan.questions).map((question) => question.object).join(', ')}): answer them first (\`pgpromote answer\`); the promotion then plans again and trials the answered plan`;
  }
  if (state.stage !== 'awaiting-approval' || !plan || state.rejection) return `the promotion is not waiting for approval (it is ${progress(state)})`;
  if (typeof approval?.planHash !== 'string' || approval.planHash !== plan.planHash) {
    return `the promotion waits on plan ${plan.planHash}, not ${JSON.stringify(approval?.planHash ?? null)}: review that plan, then approve it by its hash`;
  }
  const decider = deciderRefusal(approval);
  if (decider) return decider;
  const policy = policyRefusal(state, approval.by!.trim());
  if (policy) return policy;
  const losses = plan.statements.flatMap((statement) => statement.hazards).filter((hazard) => hazard.kind === 'data-loss');
  if (losses.length && approval.acceptDataLoss !== true) {
    return `the plan loses data (${losses.map((hazard) => hazard.message).join('; ')}): approve with acceptDataLoss: true (\`pgpromote approve --accept-data-loss\`) if that is intended`;
  }
  return undefined;
}

/** Whether the promotion's approval policy lets this person approve now. */
function policyRefusal(state: PromotionState, by: string): string | undefined {
  const { approvers, noSelfApproval, approvals: required } = state.policy;
  if (approvers && !approvers.includes(by)) return `${by} may not approve this promotion: its policy allows only ${approvers.join(', ')}`;
  if (noSelfApproval && state.startedBy === by) return `${by} started this promotion and its policy forbids approving one's own promotion: ask someone else`;
  if (state.approvals.some((approval) => approval.by === by)) {
    return `${by} has already approved this plan; it needs ${required} distinct approvers (${state.approvals.length} so far: ${state.approvals.map((approval) => approval.by).join(', ')})`;
  }
  return undefined;
}

/** The policy's count of distinct approvers is reached. */
export function isApproved(state: PromotionState): boolean {
  return new Set(state.approvals.map((approval) => approval.by)).size >= state.policy.approvals;
}

export function rejectionRefusal(state: PromotionState, rejection: Partial<Decision> | undefined): string | undefined {
  if (isApproved(state) || state.rejection || !BEFORE_DECISION.includes(state.stage)) {
    return `the promotion can no longer be rejected (it is ${progress(state)}${isApproved(state) ? `, approved by ${state.approvals.map((approval) => approval.by).join(', ')}` : ''})`;
  }
  return deciderRefusal(rejection);
}

export function revertRefusal(state: PromotionState, revert: Partial<Decision> | undefined, hasRevertWindow: boolean): string | undefined {
  if (state.stage !== 'revert-window' || state.revert) {
    return `the promotion cannot be reverted now (it is ${progress(state)})${hasRevertWindow ? '; a revert is possible only within its revert window after the apply' : ': it was started without --revert-window, so no backup of prod was taken'}`;
  }
  return deciderRefusal(revert);
}

export function cancelRefusal(state: PromotionState, cancel: Partial<Decision> | undefined): string | undefined {
  if (state.cancellation || !CANCELLABLE.includes(state.stage)) {
    return `the promotion can no longer be cancelled (it is ${progress(state)})${state.stage === 'applying' ? ': wait for the apply to end' : ''}`;
  }
  return deciderRefusal(cancel);
}
