// What the Temporal server keeps of a promotion for operators, so that they need no worker to see it:
// search attributes (for `pgpromote list` and the UI's filters), a memo of its state (for `pgpromote
// status`) and the UI's current details (markdown). The workflow publishes all three at every stage
// change, on every accepted decision and at the end. Deterministic (the workflow imports it).
import { defineSearchAttributeKey, SearchAttributeType, TypedSearchAttributes, type SearchAttributeUpdatePair } from '@temporalio/common';
import { setCurrentDetails, upsertMemo, upsertSearchAttributes } from '@temporalio/workflow';
import type { Plan } from '../activities/schema/model.ts';
import type { Question } from '../activities/schema/questions.ts';
import type { PromotionState, Stage } from './messages.ts';
import { cancelRefusal, rejectionRefusal, revertRefusal } from './rules.ts';

export const STAGE = defineSearchAttributeKey('PgpromoteStage', SearchAttributeType.KEYWORD);
/** prod's identity (`prodIdentity`): which promotions change the same database. */
export const PROD = defineSearchAttributeKey('PgpromoteProd', SearchAttributeType.KEYWORD);
export const OUTCOME = defineSearchAttributeKey('PgpromoteOutcome', SearchAttributeType.KEYWORD);
/** The plan has data-loss hazards. */
export const DATA_LOSS = defineSearchAttributeKey('PgpromoteDataLoss', SearchAttributeType.BOOL);
export const SEARCH_ATTRIBUTES = [STAGE, PROD, OUTCOME, DATA_LOSS];

/** A type's name as the Temporal CLI spells it (`Keyword`, `Bool`). */
export const cliType = (type: SearchAttributeType) => TypedSearchAttributes.toMetadataType(type);

/** `temporal server start-dev` flags that register the search attributes. */
export const devServerSearchAttributeFlags = (): string[] =>
  SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=${cliType(key.type)}`]);

/** The commands that register the search attributes on a real cluster (one per type; running them again is harmless). */
export function searchAttributeCommands(namespace: string): string[] {
  return [...new Set(SEARCH_ATTRIBUTES.map((key) => key.type))].map((type) => {
    const names = SEARCH_ATTRIBUTES.filter((key) => key.type === type).map((key) => `--name ${key.name}`);
    return `temporal operator search-attribute create --namespace ${namespace} ${names.join(' ')} --type ${cliType(type)}`;
  });
}

/** Every stage, for `list --stage` (the record makes the compiler ask for a stage added to `Stage`). */
export const STAGES = Object.keys({
  queued: 0, planning: 0, 'awaiting-answers': 0, branching: 0, trial: 0, preview: 0, 'awaiting-approval': 0, 'backing-up': 0, applying: 0,
  'revert-window': 0, reverting: 0, 'cleaning-up': 0, finished: 0,
} satisfies Record<Stage, 0>) as Stage[];

export const hasDataLoss = (plan: Plan) => plan.statements.some((statement) => statement.hazards.some((hazard) => hazard.kind === 'data-loss'));

/** The memo key that holds the promotion's record. */
export const RECORD_MEMO = 'pgpromote';

/**
 * Each publish writes the whole record into the history, and the server limits a memo's size: only the
 * first statements and questions are kept, their SQL cut (ending in "…"), and what was left out counted.
 */
export const RECORD_BOUNDS = { statements: 50, sqlChars: 500, questions: 50, ignored: 10 } as const;

/** The state as the workflow last recorded it, within `RECORD_BOUNDS`. */
export interface PromotionRecord extends PromotionState {
  /** When the workflow recorded it. */
  recordedAt: string;
  /** How many entries of each list the bounds left out, when any were. */
  omitted?: Partial<Record<'plan' | 'trial' | 'apply' | 'questions' | 'ignored', number>>;
}

export function recordOf(state: PromotionState, recordedAt: string): PromotionRecord {
  const omitted: PromotionRecord['omitted'] = {};
  const keep = <T>(list: T[], limit: number, name: keyof typeof omitted, from: 'start' | 'end' = 'start'): T[] => {
    if (list.length <= limit) return list;
    omitted[name] = list.length - limit;
    return from === 'start' ? list.slice(0, limit) : list.slice(-limit);
  };
  const statements = <T extends { sql: string }>(list: T[], name: keyof typeof omitted): T[] =>
    keep(list, RECORD_BOUNDS.statements, name).map((statement) =>
      statement.sql.length > RECORD_BOUNDS.sqlChars ? { ...statement, sql: `${statement.sql.slice(0, RECORD_BOUNDS.sqlChars)}…` } : statement,
    );
  const { plan, trial, apply } = state;
  const record: PromotionRecord = {
    ...state,
    plan: plan && { ...plan, statements: statements(plan.statements, 'plan'), questions: keep(plan.questions, RECORD_BOUNDS.questions, 'questions') },
    trial: trial && { ...trial, statements: statements(trial.statements, 'trial') },
    apply: apply && { ...apply, statements: statements(apply.statements, 'apply') },
    ignored: keep(state.ignored, RECORD_BOUNDS.ignored, 'ignored', 'end'),
    recordedAt,
  };
  return Object.keys(omitted).length ? { ...record, omitted } : record;
}

// prod's identity is set by the client when it starts the promotion, and known to the workflow once it
// asked for prod's lock (activities/prod-identity.ts computes it, where the connection string is open).
function searchAttributesOf(state: PromotionState): SearchAttributeUpdatePair[] {
  return [
    { key: STAGE, value: state.stage },
    ...(state.prodIdentity ? [{ key: PROD, value: state.prodIdentity }] : []),
    { key: OUTCOME, value: state.outcome ?? null },
    { key: DATA_LOSS, value: state.plan ? hasDataLoss(state.plan) : null },
  ];
}

/** Publishes the state for operators: search attributes, the memo's record, the UI's current details. */
export function publish(state: PromotionState): void {
  upsertSearchAttributes(searchAttributesOf(state));
  upsertMemo({ [RECORD_MEMO]: recordOf(state, new Date().toISOString()) });
  setCurrentDetails(details(state));
}

// The current details: where the promotion is, what it found, and what to do next, with the commands
// to do it. Dev's names are untrusted: they appear only inside code spans or escaped, so that they
// cannot become links, images or HTML.

/** Hazard lines past this many are counted, not listed. */
const LISTED_HAZARDS = 20;

/** A code span that holds any text: its fence is longer than any run of backticks inside. */
export function code(text: string): string {
  const flat = text.replace(/\s*\n\s*/g, ' ');
  const fence = '`'.repeat(Math.max(0, ...(flat.match(/`+/g) ?? []).map((run) => run.length)) + 1);
  const pad = flat.startsWith('`') || flat.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${flat}${pad}${fence}`;
}

/** Plain text, with what markdown would read as markup escaped. */
export function text(value: string): string {
  return value.replace(/\s*\n\s*/g, ' ').replace(/[\\`*_[\]<>|~&#!]/g, '\\$&');
}

/** One shell argument: as it is when it is plain, else single-quoted. */
export function shellArg(value: string): string {
  return /^[\w.,:=@%+/-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

const by = (decision: { by: string; comment?: string }) => `${text(decision.by)}${decision.comment ? ` (${text(decision.comment)})` : ''}`;

function questionLines(id: string, question: Question): string[] {
  const head = `- ${code(question.object)}: renamed to one of ${question.candidates.map(code).join(', ')}?`;
  if (question.answer) return [`${head} answered ${code(question.answer)}`];
  const rename = `${question.object}=${question.candidates[0] ?? '<candidate>'}`;
  return [
    head,
    `  rename: ${code(`pgpromote answer ${id} --rename ${shellArg(rename)}`)}, or signal \`answer\` with ${code(JSON.stringify({ by: 'you', renames: [rename] }))}`,
    `  drop: ${code(`pgpromote answer ${id} --drop ${shellArg(question.object)}`)}, or signal \`answer\` with ${code(JSON.stringify({ by: 'you', drops: [question.object] }))}`,
  ];
}

export function details(state: PromotionState): string {
  const id = state.promotionId;
  const lines = [`**${state.stage}**${state.outcome ? ` — ${state.outcome}` : ''}`, `prod ${code(state.prod)} ← dev ${code(state.dev)}`];
  if (state.queuedBehind) lines.push(`waits behind promotion ${code(state.queuedBehind)}, which changes the same prod`);
  const { plan } = state;
  if (plan) {
    const open = plan.questions.filter((question) => !question.answer);
    lines.push('', `plan ${code(plan.planHash)}: ${plan.statements.length} statements, ${open.length} open questions`);
    if (plan.questions.length) lines.push('', '**Questions**', ...plan.questions.flatMap((question) => questionLines(id, question)));
    const hazards = plan.statements.flatMap((statement) => statement.hazards);
    if (hazards.length) {
      lines.push('', '**Hazards**', ...hazards.slice(0, LISTED_HAZARDS).map((hazard) => `- ⚠ ${hazard.kind}: ${text(hazard.message)}`));
      if (hazards.length > LISTED_HAZARDS) lines.push(`- and ${hazards.length - LISTED_HAZARDS} more: ${code(`pgpromote status ${id}`)}`);
    }
  }
  if (state.trial) {
    lines.push('', `trial: ${state.trial.statements.length} statements in ${state.trial.totalMs} ms on branch ${code(state.branch?.name ?? '?')}; the branch matches dev (${state.trial.catalog.objects} catalog objects compared)`);
  }
  if (state.preview) lines.push('', `preview of the app on the branch: ${code(state.preview.url)}${state.stage === 'finished' ? ' (stopped)' : ''}`);
  for (const given of state.answered) lines.push(`- answered by ${by(given)}: ${Object.entries(given.answers).map(([question, answer]) => `${code(question)} → ${code(answer)}`).join(', ')}`);
  const { policy } = state;
  const rules = [
    policy.approvers?.length && `only ${policy.approvers.map(text).join(', ')} may approve`,
    policy.noSelfApproval && state.startedBy && `${text(state.startedBy)}, who started it, may not`,
  ].filter(Boolean);
  if (plan && plan.statements.length) {
    lines.push('', `approvals: ${state.approvals.length} of ${policy.approvals}${rules.length ? ` (${rules.join('; ')})` : ''}`);
    for (const approval of state.approvals) lines.push(`- approved by ${by(approval)}`);
  }
  // What can be done now, as the workflow's own rules say (the decider's name does not change them).
  const you = { by: 'you' };
  if (state.stage === 'awaiting-answers') lines.push('', 'Answer each open question above to go on: the promotion plans again with the answers.');
  if (state.stage === 'awaiting-approval' && plan) {
    const approval = { ...you, planHash: plan.planHash, ...(hasDataLoss(plan) && { acceptDataLoss: true }) };
    lines.push('', `approve: ${code(`pgpromote approve ${id} --plan ${plan.planHash}${approval.acceptDataLoss ? ' --accept-data-loss' : ''}`)}, or signal \`approve\` with ${code(JSON.stringify(approval))}`);
  }
  if (!rejectionRefusal(state, you)) lines.push(`reject: ${code(`pgpromote reject ${id}`)}, or signal \`reject\` with \`{"by": "you"}\``);
  if (!cancelRefusal(state, you)) lines.push(`cancel: ${code(`pgpromote cancel ${id}`)}, or signal \`cancel\` with \`{"by": "you"}\` (prod is not touched yet)`);
  if (!revertRefusal(state, you, true)) {
    lines.push(`revert: ${code(`pgpromote revert ${id}`)}, or signal \`revert\` with \`{"by": "you"}\`: prod goes back to its backup ${code(state.backup?.name ?? '?')} from before the apply`);
  }
  if (state.rejection) lines.push('', `rejected by ${by(state.rejection)}`);
  if (state.cancellation) lines.push('', `cancelled by ${by(state.cancellation)}`);
  if (state.apply) lines.push('', state.apply.alreadyApplied ? 'applied (already, by an earlier attempt)' : `applied ${state.apply.statements.length} statements to prod`);
  if (state.revert) lines.push(`reverted by ${by(state.revert)}${state.revert.keptAs ? `; prod as it was before the revert is kept as ${code(state.revert.keptAs)}` : ''}`);
  if (state.error) lines.push('', `**error**: ${text(state.error)}`);
  for (const leftover of state.leftBehind ?? []) lines.push(`- left behind: ${text(leftover)}`);
  for (const ignored of state.ignored.slice(-3)) lines.push(`- ignored a signal from ${text(ignored.by)}: ${text(ignored.reason)}`);
  return lines.join('\n');
}
