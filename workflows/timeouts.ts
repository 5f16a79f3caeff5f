// The timeout options of a plan (`--lock-timeout`, `--statement-timeout`, `--lock-budget`), checked
// alike by the `plan` command and by the promotion's input. Pure, and light: the command loads it at start.
import type { TimeoutOptions } from '../activities/schema/plan.ts';

const SECOND = 1000;
const DAY = 24 * 60 * 60 * SECOND;

/** Bounds of the timeout flags (ms): a lock timeout under 10 ms never gets a lock on a busy table, one over
 * a minute lets app queries queue that long behind a waiting DDL; a budget of 0 tries each lock once. */
const TIMEOUTS = {
  lockTimeoutMs: { flag: '--lock-timeout', name: 'lock timeout', min: 10, max: 60 * SECOND, example: 2000 },
  statementTimeoutMs: { flag: '--statement-timeout', name: 'statement timeout', min: SECOND, max: DAY, example: 900_000 },
  lockBudgetMs: { flag: '--lock-budget', name: 'lock budget', min: 0, max: DAY, example: 300_000 },
} as const;

/** The problems with the timeout options, which are whole milliseconds within bounds. */
export function timeoutProblems(options: TimeoutOptions): string[] {
  return Object.entries(TIMEOUTS).flatMap(([field, { flag, name, min, max, example }]) => {
    const value = options[field as keyof typeof TIMEOUTS];
    if (value === undefined || (Number.isInteger(value) && value >= min && value <= max)) return [];
    const written = typeof value === 'number' ? String(value) : JSON.stringify(value);
    return [`${name} ${written} (${flag}) must be a whole number of milliseconds from ${min} to ${max}, e.g. ${flag} ${example}`];
  });
}
