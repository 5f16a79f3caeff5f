// The trial: the plan applied to a branch (a copy of prod with its data) exactly as the production
// apply would run it, then proof that the branch now matches dev.
import type pg from 'pg';
import type { IntrospectOptions } from '../schema/introspect.ts';
import { planPromotion, type Answers, type Hazard, type Plan } from '../schema/plan.ts';
import { phasesOf, runInTransaction, type ExecutionLimits, type StatementResult } from '../production/execute.ts';

/** After the plan, the branch still differs from dev: the plan is incomplete. */
export class ConvergenceError extends Error {
  override name = 'ConvergenceError';
}

/** Dev or prod changed after the plan was made: the plan no longer describes them. */
export class StalePlanError extends Error {
  override name = 'StalePlanError';
}

export interface TrialStatement extends StatementResult {
  /** Measured on the branch's data just before the trial: rows lost, rows in the way, table sizes. */
  hazards: Hazard[];
}

export interface TrialReport {
  statements: TrialStatement[];
  totalMs: number;
  /** The branch's schema after the plan equals dev's (always true in a report: otherwise the trial fails). */
  converged: true;
}

const answersOf = (plan: Plan): Answers =>
  Object.fromEntries(plan.questions.flatMap((question) => (question.answer ? [[question.id, question.answer]] : [])));

export async function trialPlan(
  branch: pg.ClientBase,
  dev: pg.ClientBase,
  plan: Plan,
  options: IntrospectOptions & { limits: ExecutionLimits },
): Promise<TrialReport> {
  const planOptions = { schemas: options.schemas, answers: answersOf(plan) };
  // Planning again on the branch proves it holds the schema the plan starts from, and measures its data.
  const measured = await planPromotion(branch, dev, planOptions);
  if (measured.toFingerprint !== plan.toFingerprint) {
    throw new StalePlanError('dev changed after the plan was made: start a new promotion to plan again');
  }
  if (measured.fromFingerprint !== plan.fromFingerprint) {
    throw new StalePlanError('prod changed after the plan was made (its copy on the branch is not what the plan starts from): start a new promotion');
  }
  const hazardsOf = new Map(measured.statements.map((statement) => [statement.sql, statement.hazards]));
  const started = performance.now();
  const { prepare, main } = phasesOf(plan);
  const results = prepare.length ? await runInTransaction(branch, plan, prepare, options.limits) : [];
  results.push(...(await runInTransaction(branch, plan, main, options.limits, { beforeCommit: async (client) => {
    const remaining = await planPromotion(client, dev, { schemas: options.schemas }); // the questions are answered by now
    if (remaining.fromFingerprint === plan.toFingerprint) return;
    const rest = [
      ...remaining.statements.map((statement) => `  ${statement.sql.trim()}`),
      ...remaining.unsupported.map((item) => `  (${item.kind} ${item.object}: ${item.reason})`),
    ].join('\n');
    throw new ConvergenceError(`after the plan, the branch still differs from dev; still needed:\n${rest || '  (differences the planner does not express)'}`);
  } })));
  return {
    statements: results.map((result) => ({ ...result, hazards: hazardsOf.get(result.sql) ?? [] })),
    totalMs: Math.round(performance.now() - started),
    converged: true,
  };
}
