// Errors in what the user asked a plan for: they say what to change, and retrying gives the same answer.

export class PlanInputError extends Error {
  override name = 'PlanInputError';
}
