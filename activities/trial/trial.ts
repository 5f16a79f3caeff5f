// The trial: the plan applied to a branch (a copy of prod with its data) exactly as the production
// apply would run it, then proof that the branch now matches dev: by the planner (planning again finds
// nothing to do) and by the convergence check's own reading of the catalog, which does not share the
// planner's model and so does not share its blind spots.
import type pg from 'pg';
import { planPromotion } from '../schema/plan.ts';
import type { Hazard, Plan, PlannedStatement } from '../schema/model.ts';
import { answersOf } from '../schema/questions.ts';
import { onlineTablesOf } from '../schema/online.ts';
import { execute, stepsOf, type StatementResult } from '../production/execute.ts';
import { readCatalogObjects } from '../convergence/catalog.ts';
import { diffCatalogs, proofOf, type CatalogProof } from '../convergence/diff.ts';

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
  /** Dev's catalog as the convergence check read it, which the branch matched after the plan: the apply
   * checks that prod reaches the same hash before it commits. */
  catalog: CatalogProof;
}

/** Differences past this many are counted, not listed. */
const LISTED_DIFFERENCES = 20;

export async function trialPlan(
  branch: pg.ClientBase,
  dev: pg.ClientBase,
  plan: Plan,
  options: { signal?: AbortSignal } = {},
): Promise<TrialReport> {
  // Everything is read through the schemas the plan compared, and the same tables are changed online
  // (the branch's sizes are not prod's): the statements are then the plan's, to carry their hazards.
  const planOptions = {
    schemas: plan.schemas, answers: answersOf(plan.questions), onlineThresholdBytes: Number.POSITIVE_INFINITY, onlineTables: onlineTablesOf(plan.statements),
  };
  // Planning again on the branch proves it holds the schema the plan starts from, and measures its data.
  const measured = await planPromotion(branch, dev, planOptions);
  if (measured.toFingerprint !== plan.toFingerprint) {
    throw new StalePlanError('dev changed after the plan was made: start a new promotion to plan again');
  }
  if (measured.fromFingerprint !== plan.fromFingerprint) {
    throw new StalePlanError('prod changed after the plan was made (its copy on the branch is not what the plan starts from): start a new promotion');
  }
  const hazardsOf = hazardsByStatement(plan.statements, measured.statements);
  const executed = stepsOf(plan).flatMap((step) => step.statements);
  const started = performance.now();
  let catalog: CatalogProof | undefined;
  // After the last step: inside the main transaction, or after the steps that run after it (the branch is disposable).
  const results = await execute(branch, plan, { signal: options.signal, hooks: { finish: async (client) => {
    const remaining = await planPromotion(client, dev, { schemas: plan.schemas }); // the questions are answered by now
    if (remaining.fromFingerprint !== plan.toFingerprint) {
      const rest = [
        ...remaining.statements.map((statement) => `  ${statement.sql.trim()}`),
        ...remaining.unsupported.map((item) => `  (${item.kind} ${item.object}: ${item.reason})`),
      ].join('\n');
      throw new ConvergenceError(`after the plan, the branch still differs from dev; still needed:\n${rest || '  (differences the planner does not express)'}`);
    }
    catalog = await proveCatalogsEqual(client, dev, plan.schemas);
  } } });
  return {
    statements: results.map((result, index) => ({ ...result, hazards: hazardsOf.get(executed[index]!) ?? [] })),
    totalMs: Math.round(performance.now() - started),
    catalog: catalog!,
  };
}

/** Each of the plan's statements with the hazards the branch's plan measured for it: matched by kind and
 * target (the n-th statement of a kind on a target with the n-th), never by SQL, which names dev's objects. */
function hazardsByStatement(planned: PlannedStatement[], measured: PlannedStatement[]): Map<PlannedStatement, Hazard[]> {
  const identity = ({ kind, target }: PlannedStatement) => JSON.stringify([kind, target ?? null]);
  const pending = new Map<string, Hazard[][]>();
  for (const statement of measured) {
    const key = identity(statement);
    (pending.get(key) ?? pending.set(key, []).get(key)!).push(statement.hazards);
  }
  return new Map(planned.map((statement) => [statement, pending.get(identity(statement))?.shift() ?? []]));
}

/** The branch's catalog equals dev's, object by object; or a ConvergenceError that lists what differs. */
async function proveCatalogsEqual(branch: pg.ClientBase, dev: pg.ClientBase, schemas: string[]): Promise<CatalogProof> {
  const [branchCatalog, devCatalog] = await Promise.all([readCatalogObjects(branch, schemas), readCatalogObjects(dev, schemas)]);
  const differences = diffCatalogs(branchCatalog, devCatalog, ['branch', 'dev']);
  if (differences.length) {
    const listed = differences.slice(0, LISTED_DIFFERENCES).map((line) => `  ${line}`);
    if (differences.length > LISTED_DIFFERENCES) listed.push(`  ... and ${differences.length - LISTED_DIFFERENCES} more`);
    throw new ConvergenceError(
      `after the plan, the branch still differs from dev in what the planner does not see (schemas ${schemas.join(', ')}; branch vs dev):\n${listed.join('\n')}\n`
      + 'the plan cannot make prod match dev: make these changes on prod by hand (or change dev), then start a new promotion',
    );
  }
  return proofOf(devCatalog);
}
