// Which schemas a promotion compares, as it arrives from the CLI and in the workflow's input: --schema
// and --exclude-schema reach the plan, and malformed lists are refused before anything starts.
import { describe, expect, it } from 'vitest';
import { buildCli } from '../client/cli.ts';
import { promoteInputProblems } from '../workflows/input.ts';
import type { PromoteInput } from '../workflows/messages.ts';
import type { Plan } from '../activities/schema/model.ts';
import { formatPlan } from '../client/format.ts';

/** An input's problems with its schema lists (it has no other fields: their problems are left aside). */
const schemaProblems = (lists: Pick<PromoteInput, 'schemas' | 'excludeSchemas'>) =>
  promoteInputProblems(lists as PromoteInput, 'p-1').filter((problem) => problem.includes('schema'));

describe('schema selection', () => {
  it('accepts lists of names, refuses empty names or other shapes', () => {
    expect(schemaProblems({ schemas: ['app'], excludeSchemas: ['audit', 'billing'] })).toEqual([]);
    expect(schemaProblems({ excludeSchemas: ['audit', ''] })).toEqual([
      'excluded schemas ["audit",""] (--exclude-schema) must be schema names, none empty, e.g. --exclude-schema audit',
    ]);
    expect(schemaProblems({ excludeSchemas: 'audit' as unknown as string[] })).toHaveLength(1);
  });

  it('takes --exclude-schema repeatedly, beside --schema', () => {
    const plan = buildCli().commands.find((command) => command.name() === 'plan')!;
    plan.parseOptions(['--exclude-schema', 'audit', '--exclude-schema', 'billing', '--schema', 'app']);
    expect(plan.opts()).toMatchObject({ excludeSchema: ['audit', 'billing'], schema: ['app'] });
  });

  it('shows which schemas a plan compared', () => {
    const plan: Plan = { schemas: ['app', 'public'], fromFingerprint: 'a', toFingerprint: 'a', planHash: 'h', statements: [], lockBudgetMs: 60_000, questions: [], unsupported: [] };
    expect(formatPlan(plan).split('\n').slice(0, 2)).toEqual(['schemas compared: app, public', 'Nothing to do: prod already matches dev.']);
  });
});
