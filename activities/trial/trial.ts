// The trial: the plan applied to a branch (a copy of prod with its data) exactly as the production
// apply would run it, then proof that the branch now matches dev.
import type pg from 'pg';
import { introspect, type IntrospectOptions } from '../schema/introspect.ts';
import { fingerprint } from '../schema/snapshot.ts';
import { diffSnapshots, type Plan } from '../schema/plan.ts';
import { executePlan, type ExecutionLimits, type StatementResult } from '../production/execute.ts';

/** After the plan, the branch still differs from dev: the plan is incomplete. */
export class ConvergenceError extends Error {
  override name = 'ConvergenceError';
}

/** Dev changed after the plan was made: the plan no longer describes it. */
export class StalePlanError extends Error {
  override name = 'StalePlanError';
}

export interface TrialReport {
  statements: StatementResult[];
  totalMs: number;
  /** The branch's schema after the plan equals dev's (always true in a report: otherwise the trial fails). */
  converged: true;
}

export async function trialPlan(
  branch: pg.ClientBase,
  dev: pg.ClientBase,
  plan: Plan,
  options: IntrospectOptions & { limits: ExecutionLimits },
): Promise<TrialReport> {
  const devSnapshot = await introspect(dev, options);
  if (fingerprint(devSnapshot) !== plan.toFingerprint) {
    throw new StalePlanError('dev changed after the plan was made: start a new promotion to plan again');
  }
  const started = performance.now();
  const statements = await executePlan(branch, plan, options.limits, async (client) => {
    const after = await introspect(client, options);
    if (fingerprint(after) === plan.toFingerprint) return;
    const { plan: remaining } = await diffSnapshots(after, devSnapshot);
    const rest = remaining.statements.map((statement) => `  ${statement.sql.trim()}`).join('\n');
    throw new ConvergenceError(`after the plan, the branch still differs from dev; still needed:\n${rest || '  (differences the planner does not express)'}`);
  });
  return { statements, totalMs: Math.round(performance.now() - started), converged: true };
}
