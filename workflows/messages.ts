// The promotion's messages and state: what approvers send, and what the CLI, the web page and the
// Temporal UI read. Type-only imports from activities keep this file deterministic.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Sealed } from '../activities/secrets.ts';
import type { TimeoutOptions } from '../activities/schema/plan.ts';
import type { Answers } from '../activities/schema/questions.ts';
import type { Plan } from '../activities/schema/model.ts';
import type { OnlineOptions } from '../activities/schema/online.ts';
import type { BranchTarget } from '../activities/branches/provider.ts';
import type { TrialReport } from '../activities/trial/trial.ts';
import type { ApplyResult } from '../activities/production/apply.ts';
import type { Preview, PreviewTarget } from '../activities/preview/provider.ts';

/** `lockTimeoutMs`, `statementTimeoutMs`, `lockBudgetMs`: the planner's defaults when absent. */
export interface PromoteInput extends TimeoutOptions {
  /** Connection strings, sealed by the client: history and the UI never see a password. */
  dev: Sealed;
  prod: Sealed;
  /** Password-free names of the databases, for people. */
  devLabel: string;
  prodLabel: string;
  branch: BranchTarget;
  /** Only these schemas; every user schema of prod and dev when absent. */
  schemas?: string[];
  /** Schemas left out of the comparison. */
  excludeSchemas?: string[];
  answers?: Answers;
  renames?: string[];
  /** Objects dropped on purpose, e.g. `users.nickname`. */
  drops?: string[];
  /** How long to wait for a decision, e.g. `7 days`, `30 minutes`. */
  approvalTimeout?: string;
  /**
   * After a successful apply, how long a `revert` may put prod back as it was before (e.g. `1 hour`).
   * prod is copied into a backup branch before the apply for it. Off when absent.
   */
  revertWindow?: string;
  /** The app to start on the trial branch before approval; no preview when absent. */
  preview?: PreviewTarget;
  /** Who started the promotion (the deploy system or person), for `noSelfApproval`. */
  startedBy?: string;
  /** Who may approve, and how many must. One approval by anyone when absent. */
  policy?: ApprovalPolicy;
  /** Fail at once, naming the running promotion, instead of waiting (stage `queued`) while another promotion of the same prod runs. */
  noQueue?: boolean;
  /** `always` (`--online`): plan every change online, whatever the table's size. */
  online?: OnlineOptions['online'];
  /** Plan online the changes to tables at least this big on prod (`--online-threshold`); 64 MiB when absent. */
  onlineThresholdBytes?: number;
}

/** Who may approve a promotion, chosen when it starts and shown in status. */
export interface ApprovalPolicy {
  /** Only these people may approve; anyone when absent. */
  approvers?: string[];
  /** How many distinct approvers must approve (1 when absent). */
  approvals?: number;
  /** Whoever started the promotion may not approve it. */
  noSelfApproval?: boolean;
}

/** Who decided, and why: a rejection, a revert. */
export interface Decision {
  by: string;
  comment?: string;
}

export interface Approval extends Decision {
  /** The plan the approver reviewed: an approval of any other plan is refused. */
  planHash: string;
  /** Required when the plan has data-loss hazards: the approver saw them and means it. */
  acceptDataLoss?: boolean;
}

/** Answers to the plan's open questions (rename or drop?), by question id or by the objects' names. */
export interface AnswerMessage extends Decision {
  /** `{questionId: candidate | 'drop'}` */
  answers?: Answers;
  /** `old=new`, e.g. `users.name=users.full_name`: the question about `old` is answered with `new`. */
  renames?: string[];
  /** Objects dropped on purpose, e.g. `users.nickname`: their questions are answered `drop`. */
  drops?: string[];
}

export type Stage =
  | 'queued' | 'planning' | 'awaiting-answers' | 'branching' | 'trial' | 'preview' | 'awaiting-approval' | 'backing-up' | 'applying'
  | 'revert-window' | 'reverting' | 'cleaning-up' | 'finished';

export type Outcome = 'applied' | 'up-to-date' | 'rejected' | 'expired' | 'failed' | 'cancelled' | 'reverted';

export interface PromotionState {
  promotionId: string;
  dev: string;
  prod: string;
  stage: Stage;
  outcome?: Outcome;
  /** Which prod this is, password-free (`postgres://host:port/database`, `neon:<project>/<branch>`): one promotion per prod at a time. */
  prodIdentity?: string;
  /** In stage `queued`: the promotion of the same prod that runs now. */
  queuedBehind?: string;
  plan?: Plan;
  branch?: { id: string; name: string };
  /** prod as it was before the apply, while a revert is possible. */
  backup?: { id: string; name: string };
  trial?: TrialReport;
  /** The app running on the trial branch, while the promotion waits for approval. */
  preview?: Preview;
  /** Who started it, and who may approve it. */
  startedBy?: string;
  policy: Required<Pick<ApprovalPolicy, 'approvals'>> & ApprovalPolicy;
  /** Answers given while the promotion waited for them, in order (answers given at deploy are in the plan's questions). */
  answered: (Decision & { at: string; answers: Answers })[];
  /** What clean-up could not remove (e.g. a branch whose deletion failed), with how to remove it. */
  leftBehind?: string[];
  /** Accepted approvals of the current plan, in order; the promotion applies once the policy's count is reached. */
  approvals: (Approval & { at: string })[];
  rejection?: Decision & { at: string };
  /** `keptAs`: the branch that holds prod as it was when reverted (with any writes made after the apply). */
  revert?: Decision & { at: string; keptAs?: string };
  /** Who cancelled the promotion (before prod was touched). */
  cancellation?: Decision & { at: string };
  apply?: ApplyResult;
  /** Why the promotion failed, when it did. */
  error?: string;
  /** Signals that were refused, and why (e.g. an approval for another plan). Refused updates leave no trace. */
  ignored: { by: string; reason: string; at: string }[];
}

// Each decision is an update: its validator refuses what the workflow would not do (workflows/rules.ts),
// and the caller gets the reason. A signal of the same name does the same for the Temporal UI, where a
// refused one is recorded under `ignored`. Accepted updates answer with the state after them.
export const answerUpdate = defineUpdate<PromotionState, [AnswerMessage]>('answer');
export const approveUpdate = defineUpdate<PromotionState, [Approval]>('approve');
export const rejectUpdate = defineUpdate<PromotionState, [Decision]>('reject');
export const revertUpdate = defineUpdate<PromotionState, [Decision]>('revert');
export const cancelUpdate = defineUpdate<PromotionState, [Decision]>('cancel');
export const answerSignal = defineSignal<[AnswerMessage]>('answer');
export const approveSignal = defineSignal<[Approval]>('approve');
export const rejectSignal = defineSignal<[Decision]>('reject');
export const revertSignal = defineSignal<[Decision]>('revert');
export const cancelSignal = defineSignal<[Decision]>('cancel');
export const statusQuery = defineQuery<PromotionState>('status');
