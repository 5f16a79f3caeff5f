// The saga's compensations: whatever a stage leaves in the world (a branch, a backup of prod, a preview)
// registers how to undo it the moment it exists; at the end they all run, newest first, whatever
// happened, in a scope that cancellation cannot stop. Deterministic: the undo functions call activities.
import { ActivityFailure, CancellationScope, log } from '@temporalio/workflow';

export interface UndoStep {
  /** What it removes, for people: `trial branch pgpromote-x-trial`. */
  what: string;
  run: () => Promise<void>;
}

export class UndoSteps {
  private steps: UndoStep[] = [];
  /** What could not be undone, and why; the promotion reports it. */
  readonly failures: string[] = [];

  /** Registers how to undo what was just made; the step returned can be undone early with `now`. */
  add(what: string, run: () => Promise<void>): UndoStep {
    const step = { what, run };
    this.steps.push(step);
    return step;
  }

  /** Undoes one step early (the trial branch, once the apply no longer needs it). */
  async now(step: UndoStep): Promise<void> {
    if (!this.steps.includes(step)) return;
    this.steps = this.steps.filter((candidate) => candidate !== step);
    await this.attempt(step);
  }

  /** Undoes every step left, newest first; one that fails does not stop the others. */
  async all(): Promise<void> {
    const steps = this.steps.reverse();
    this.steps = [];
    for (const step of steps) await this.attempt(step);
  }

  private attempt(step: UndoStep): Promise<void> {
    return CancellationScope.nonCancellable(async () => {
      try {
        await step.run();
      } catch (error) {
        log.warn('undo step failed', { what: step.what, error: (error as Error).message });
        this.failures.push(`${step.what}: ${rootMessage(error)}`);
      }
    });
  }
}

/** The message of the failure at the root, without Temporal's wrappers (an activity's own error). */
export function rootMessage(error: unknown): string {
  let current = error as Error & { cause?: unknown };
  while (current instanceof ActivityFailure && current.cause) current = current.cause as Error & { cause?: unknown };
  return current?.message ?? String(error);
}
