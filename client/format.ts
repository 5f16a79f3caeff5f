// Plans and promotions as text for people (the CLI and the demo).
import type { Plan, PlannedStatement } from '../activities/schema/model.ts';
import type { StatementResult } from '../activities/production/execute.ts';
import type { PromotionState } from '../workflows/messages.ts';
import type { ListedPromotion, PromotionStatus } from './client.ts';

const color = (code: number) => (text: string) => (process.stdout.isTTY ? `\x1b[${code}m${text}\x1b[0m` : text);
const red = color(31);
const yellow = color(33);
const bold = color(1);

/** Where a statement runs, in words, for the statements outside the plan's main transaction. */
export const MODES = { main: 'in the main transaction', 'own-transaction': 'in a transaction of its own', 'no-transaction': 'outside any transaction' } as const;

/** `350 ms`, `2 s`, `1.5 min`, `15 min`: a timeout or a budget for people. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  return ms < 60_000 ? `${+(ms / 1000).toFixed(1)} s` : `${+(ms / 60_000).toFixed(1)} min`;
}

/** How a statement runs, in one line: where, the lock it takes, how long it may wait for it and run,
 * and how long it took on the trial branch once the trial ran. */
export function describeExecution(statement: PlannedStatement, trialMs?: number): string {
  const lock = statement.lock && (statement.lock === 'none' ? 'no lock on an existing table' : `${statement.lock} lock`);
  return [MODES[statement.mode], lock, `lock timeout ${formatMs(statement.lockTimeoutMs)}`, `statement timeout ${formatMs(statement.statementTimeoutMs)}`,
    trialMs !== undefined && `${trialMs} ms on the trial branch`].filter(Boolean).join(' · ');
}

/** What each planned statement took on the trial branch: the trial runs them in plan order, so by
 * position, or by SQL where a record left some out; undefined for a statement the trial did not run. */
export function trialDurations(plan: Pick<Plan, 'statements'>, trial?: { statements: Pick<StatementResult, 'sql' | 'ms'>[] }): (number | undefined)[] {
  const bySql = new Map(trial?.statements.map(({ sql, ms }) => [sql, ms]));
  return plan.statements.map(({ sql }, index) => (trial?.statements[index]?.sql === sql ? trial.statements[index]!.ms : bySql.get(sql)));
}

/** The plan for people; with the trial's report, what each statement took on the trial branch. */
export function formatPlan(plan: Plan, trial?: Parameters<typeof trialDurations>[1]): string {
  const lines = [`schemas compared: ${plan.schemas.join(', ') || '(none)'}`];
  if (!plan.statements.length) lines.push('Nothing to do: prod already matches dev.');
  const durations = trialDurations(plan, trial);
  for (const [index, statement] of plan.statements.entries()) {
    lines.push(`${bold(`${index + 1}.`)} ${statement.sql.trim().replace(/\n/g, '\n   ')}`);
    const execution = `(${describeExecution(statement, durations[index])})`;
    lines.push(`   ${statement.mode === 'main' ? execution : yellow(execution)}`);
    for (const hazard of statement.hazards) {
      const paint = hazard.kind === 'locking' ? yellow : red;
      lines.push(`   ${paint(`⚠ ${hazard.kind}: ${hazard.message}`)}`);
    }
  }
  for (const question of plan.questions) {
    const answer = question.answer
      ? `answered: ${question.answer}`
      : `open: the plan shows drop + create, but no promotion applies it before it is answered: --rename ${question.object}=<one of the candidates>, or --drop ${question.object}`;
    lines.push(yellow(`? ${question.id}: renamed to one of ${question.candidates.join(', ')}? (${answer})`));
  }
  for (const item of plan.unsupported) lines.push(red(`✗ unsupported ${item.kind} ${item.object}: ${item.reason}`));
  if (plan.statements.length) lines.push(`lock-retry budget: ${formatMs(plan.lockBudgetMs)} in all for statements to wait and retry after lock timeouts`);
  lines.push(`plan ${plan.planHash}`);
  return lines.join('\n');
}

/** `awaiting-approval`, `finished, rejected`, `terminated during trial`: where a promotion is. */
export function describeProgress(state: Pick<PromotionStatus, 'stage' | 'outcome' | 'ended'>): string {
  if (state.ended) return state.stage === 'finished' ? state.ended : `${state.ended} during ${state.stage}`;
  return `${state.stage}${state.outcome ? `, ${state.outcome}` : ''}`;
}

/** A promotion's state, from `status` or as a workflow returned it. */
export function formatState(state: PromotionState & Partial<PromotionStatus>): string {
  const lines = [
    `${bold(state.promotionId)}: ${state.ended ? describeProgress(state) : `${state.stage}${state.outcome ? ` (${state.outcome})` : ''}`}`,
    `  prod ${state.prod}${state.prodIdentity ? ` (${state.prodIdentity})` : ''}`,
    `  dev  ${state.dev}`,
  ];
  if (state.queuedBehind) lines.push(`  queued behind ${state.queuedBehind}, which promotes the same prod: starts by itself once it ends`);
  if (state.source === 'recorded') {
    const running = !state.ended && state.stage !== 'finished';
    lines.push(yellow(`  the last state it recorded${state.recordedAt ? `, at ${state.recordedAt}` : ''}${running ? ': no worker answered (a running worker shows it live)' : ''}`));
  }
  const omitted = state.omitted ?? {};
  if (state.branch) lines.push(`  branch ${state.branch.name}${state.stage === 'finished' ? ' (deleted)' : ''}`);
  if (state.trial) {
    lines.push(`  trial: ${state.trial.statements.length + (omitted.trial ?? 0)} statements in ${state.trial.totalMs} ms on the branch, branch matches dev`);
    const slowest = [...state.trial.statements].sort((a, b) => b.ms - a.ms)[0];
    if (slowest) lines.push(`  slowest on the branch: ${slowest.ms} ms — ${slowest.sql.trim().split('\n')[0]}`);
  }
  const { approvers, approvals: required, noSelfApproval } = state.policy;
  if (approvers || required > 1 || noSelfApproval) {
    lines.push(`  policy: ${required} distinct approver(s)${approvers ? ` among ${approvers.join(', ')}` : ''}${noSelfApproval ? `, not ${state.startedBy}` : ''}`);
  }
  for (const given of state.answered) lines.push(`  answered by ${given.by}: ${Object.entries(given.answers).map(([id, answer]) => `${id} → ${answer}`).join(', ')}`);
  if (state.preview) lines.push(`  preview on the branch: ${state.preview.url}${state.stage === 'finished' ? ' (stopped)' : ''}`);
  for (const approval of state.approvals) lines.push(`  approved by ${approval.by}${approval.comment ? `: ${approval.comment}` : ''}`);
  if (state.backup) lines.push(`  backup of prod before the apply: ${state.backup.name}${state.stage === 'finished' ? ' (deleted)' : ''}`);
  if (state.revert) lines.push(`  reverted by ${state.revert.by}${state.revert.comment ? `: ${state.revert.comment}` : ''}; prod's state before the revert is kept as ${state.revert.keptAs ?? '(pending)'}`);
  if (state.rejection) lines.push(`  rejected by ${state.rejection.by}${state.rejection.comment ? `: ${state.rejection.comment}` : ''}`);
  if (state.apply) lines.push(`  applied ${state.apply.alreadyApplied ? '(already, by an earlier attempt)' : `${state.apply.statements.length + (omitted.apply ?? 0)} statements`}`);
  for (const ignored of state.ignored) lines.push(`  ignored a message from ${ignored.by}: ${ignored.reason}`);
  for (const leftover of state.leftBehind ?? []) lines.push(red(`  left behind: ${leftover}`));
  if (state.error) lines.push(red(`  ${state.ended ? 'reason' : 'error'}: ${state.error}`));
  if (state.ended) lines.push(`  its branches of prod may remain: list and delete them with \`pgpromote branches --prod <url> --delete-stale\``);
  if (state.plan) lines.push('', formatPlan(state.plan, state.trial));
  const notRecorded = [omitted.plan && `${omitted.plan} more statements`, omitted.questions && `${omitted.questions} more questions`].filter(Boolean);
  if (notRecorded.length) lines.push(yellow(`(the record leaves out ${notRecorded.join(' and ')})`));
  return lines.join('\n');
}

/** `pgpromote list`: one promotion a line, in columns. */
export function formatList(promotions: ListedPromotion[]): string {
  if (!promotions.length) return 'No promotions.';
  const rows = [['ID', 'STAGE', 'OUTCOME', 'PROD', 'STARTED']].concat(
    promotions.map((p) => [p.id, p.stage ?? '(not started)', p.ended ?? p.outcome ?? '', p.prod ?? '', p.startedAt]),
  );
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}
