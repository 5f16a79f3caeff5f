// One corpus case: prod loads `before` (with any rows), dev loads `after`; the plan from prod to dev
// must, applied to a copy of prod, give exactly dev's schema, or refuse for the expected reason.
import type { PlanOptions } from '../../activities/schema/plan.ts';
import type { Answers } from '../../activities/schema/questions.ts';
import type { Plan } from '../../activities/schema/model.ts';

export interface CorpusCase {
  name: string;
  before: string;
  after: string;
  renames?: string[];
  answers?: Answers;
  /** Compare only these schemas (`--schema`); every user schema when absent. */
  schemas?: string[];
  /** How to plan online (`online: 'always'`, a threshold); tables below LARGE_TABLE_BYTES are planned as they are when absent. */
  online?: Pick<PlanOptions, 'online' | 'onlineThresholdBytes'>;
  expect: 'converges' | { refuses: RegExp };
  /** What the plan must say besides converging or refusing (how its statements run, their hazards). */
  expectPlan?: (plan: Plan) => void;
}
