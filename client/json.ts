// The CLI's JSON documents. Deploy systems script against them: their fields are a contract (README,
// "JSON output"), built here from a promotion's state whatever answered (a worker, the result, or the
// recorded state), so that every path prints the same shape.
import type { Hazard, ExecutionMode, Plan, TableLock } from '../activities/schema/model.ts';
import { trialDurations } from './format.ts';
import type { PromotionStatus } from './client.ts';

export interface StatusDocument {
  id: string;
  stage: PromotionStatus['stage'];
  outcome?: PromotionStatus['outcome'];
  /** Stopped from outside: terminated, cancelled, timed out. */
  ended?: PromotionStatus['ended'];
  /** `query` (answered now), `result` (completed), `recorded` (the last state it recorded; see `recordedAt`). */
  source: PromotionStatus['source'];
  recordedAt?: string;
  /** prod's identity, as `list` prints and `list --prod` matches it. */
  prod?: string;
  /** Password-free URLs. */
  prodLabel: string;
  devLabel: string;
  questions: { id: string; object: string; candidates: string[]; answer?: string }[];
  plan?: {
    planHash: string;
    schemas: string[];
    /** `transactional`: runs in the plan's main transaction (`mode: main`); `lock`: the strongest lock it takes on the
     * table it changes; `trialMs`: how long it took on the trial branch, once the trial ran it. */
    statements: {
      sql: string; kind: string; transactional: boolean; mode: ExecutionMode; lock?: TableLock; lockTimeoutMs: number; statementTimeoutMs: number; trialMs?: number; hazards: Hazard[];
    }[];
    /** How long, in all, statements may wait and retry after lock timeouts (ms). */
    lockBudgetMs: number;
    /** Statements the record left out (`source: recorded` only). */
    omittedStatements?: number;
    unsupported: { kind: string; object: string; reason: string }[];
  };
  queuedBehind?: string;
  /** Answers given while the promotion waited for them, with who gave them. */
  answered: PromotionStatus['answered'];
  /** The app running on the trial branch (stopped once the promotion ends). */
  preview?: PromotionStatus['preview'];
  startedBy?: string;
  policy: PromotionStatus['policy'];
  approvals: PromotionStatus['approvals'];
  rejection?: PromotionStatus['rejection'];
  cancellation?: PromotionStatus['cancellation'];
  revert?: PromotionStatus['revert'];
  trial?: { statements: number; totalMs: number; catalog: { hash: string; objects: number } };
  apply?: { alreadyApplied: boolean; statements: number };
  branch?: PromotionStatus['branch'];
  backup?: PromotionStatus['backup'];
  error?: string;
  /** What clean-up could not remove, with how to remove it. */
  leftBehind?: string[];
  ignored: PromotionStatus['ignored'];
}

/** `plan --json`: the plan, each statement with `transactional` (`mode === 'main'`) as before modes existed. */
export function planDocument(plan: Plan) {
  return { ...plan, statements: plan.statements.map((statement) => ({ ...statement, transactional: statement.mode === 'main' })) };
}

export function statusDocument(status: PromotionStatus): StatusDocument {
  const { plan, trial, apply } = status;
  const omitted = status.omitted ?? {};
  const durations = plan && trialDurations(plan, trial);
  return {
    id: status.promotionId,
    stage: status.stage,
    outcome: status.outcome,
    ended: status.ended,
    source: status.source,
    recordedAt: status.recordedAt,
    prod: status.prodIdentity,
    prodLabel: status.prod,
    devLabel: status.dev,
    questions: (plan?.questions ?? []).map(({ id, object, candidates, answer }) => ({ id, object, candidates, answer })),
    plan: plan && {
      planHash: plan.planHash,
      schemas: plan.schemas,
      statements: plan.statements.map(({ sql, kind, mode, lock, lockTimeoutMs, statementTimeoutMs, hazards }, index) => ({
        sql, kind, transactional: mode === 'main', mode, lock, lockTimeoutMs, statementTimeoutMs, trialMs: durations![index], hazards,
      })),
      lockBudgetMs: plan.lockBudgetMs,
      omittedStatements: omitted.plan,
      unsupported: plan.unsupported,
    },
    queuedBehind: status.queuedBehind,
    answered: status.answered ?? [],
    preview: status.preview,
    startedBy: status.startedBy,
    policy: status.policy,
    approvals: status.approvals,
    rejection: status.rejection,
    cancellation: status.cancellation,
    revert: status.revert,
    trial: trial && { statements: trial.statements.length + (omitted.trial ?? 0), totalMs: trial.totalMs, catalog: trial.catalog },
    apply: apply && { alreadyApplied: apply.alreadyApplied, statements: apply.statements.length + (omitted.apply ?? 0) },
    branch: status.branch,
    backup: status.backup,
    error: status.error,
    leftBehind: status.leftBehind,
    ignored: status.ignored,
  };
}
