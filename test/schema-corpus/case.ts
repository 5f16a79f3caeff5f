// One corpus case: prod loads `before` (with any rows), dev loads `after`; the plan from prod to dev
// must, applied to a copy of prod, give exactly dev's schema, or refuse for the expected reason.
import type { Answers } from '../../activities/schema/plan.ts';

export interface CorpusCase {
  name: string;
  before: string;
  after: string;
  renames?: string[];
  answers?: Answers;
  /** Compare only these schemas (`--schema`); every user schema when absent. */
  schemas?: string[];
  expect: 'converges' | { refuses: RegExp };
}
