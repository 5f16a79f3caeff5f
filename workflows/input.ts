// What a promotion is asked to do, checked before anything starts: by the client before it starts
// the workflow, and by the workflow first thing, as it may be started from the Temporal UI or any
// other client. Pure and deterministic (the workflow imports it): no Node APIs.
import { ApplicationFailure } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time.js';
import type { PromoteInput } from './messages.ts';
import { parseRename } from '../activities/schema/questions.ts';

const SECOND = 1000;
const DAY = 24 * 60 * 60 * SECOND;
/** Under a second is a typo (a bare number means milliseconds: `100` is 0.1 s); over a year outlives any review. */
const DURATION_BOUNDS = { min: SECOND, max: 365 * DAY };

/** The longest branch name is `pgpromote-<id>-reverted`: 44 characters keep it within Postgres' 63-byte names. */
export const MAX_PROMOTION_ID_LENGTH = 44;
const PROMOTION_ID = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

const NEON_FIELDS = [
  ['projectId', '--neon-project'],
  ['branchId', '--neon-branch'],
  ['databaseName', '--neon-database'],
  ['roleName', '--neon-role'],
] as const;

const isText = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';
const quoted = (value: unknown) => JSON.stringify(value) ?? String(value);

/** The problems with a promotion's input, as sentences that say what to do; empty when there are none. */
export function promoteInputProblems(input: PromoteInput | undefined, promotionId: string): string[] {
  const problems: string[] = [];
  if (promotionId.length > MAX_PROMOTION_ID_LENGTH) {
    problems.push(`promotion id ${quoted(promotionId)} (--id) is ${promotionId.length} characters long: use at most ${MAX_PROMOTION_ID_LENGTH}, as it becomes part of branch names (pgpromote-<id>-reverted) that Postgres limits to 63 bytes`);
  }
  if (!PROMOTION_ID.test(promotionId)) {
    problems.push(`promotion id ${quoted(promotionId)} (--id) may hold only letters, digits, "-" and "_", starting with a letter or digit: it names the workflow and the branches of prod`);
  }
  if (!input || typeof input !== 'object') {
    return [...problems, 'the promotion has no input: start it with `pgpromote deploy` or PromotionClient.deploy, which seal the connection strings'];
  }
  for (const side of ['dev', 'prod'] as const) {
    if (!isText(input[side]) || !input[side].startsWith('sealed:')) {
      problems.push(`${side} must be a sealed connection string (sealed:v2:...): start promotions with \`pgpromote deploy\` or PromotionClient.deploy, which seal it`);
    }
  }
  problems.push(...durationProblems('approval timeout', '--approval-timeout', input.approvalTimeout));
  problems.push(...durationProblems('revert window', '--revert-window', input.revertWindow));
  problems.push(...branchProblems(input.branch));
  problems.push(...schemaListProblems('schemas', '--schema', input.schemas, '--schema public --schema billing'));
  problems.push(...schemaListProblems('excluded schemas', '--exclude-schema', input.excludeSchemas, '--exclude-schema audit'));
  if (input.renames !== undefined) {
    const renames: unknown[] = Array.isArray(input.renames) ? input.renames : [input.renames];
    for (const rename of renames.filter((rename) => !isRename(rename))) {
      problems.push(`--rename ${quoted(rename)} is not old=new: name the object as prod has it and as dev has it, e.g. users.name=users.full_name`);
    }
  }
  if (input.drops !== undefined && !(Array.isArray(input.drops) && input.drops.every(isText))) {
    problems.push(`drops ${quoted(input.drops)} (--drop) must be object names, e.g. --drop users.nickname`);
  }
  problems.push(...policyProblems(input));
  problems.push(...previewProblems(input.preview));
  problems.push(...onlineProblems(input));
  if (input.answers !== undefined && (!input.answers || typeof input.answers !== 'object' || !Object.values(input.answers).every(isText))) {
    problems.push('answers (--answers) must be one object of question id → answer (a candidate or "drop"), e.g. {"column:public.users.name": "public.users.full_name"}');
  }
  return problems;
}

/** Throws the problems as a non-retryable `InvalidInput` failure: the workflow's first step. */
export function requireValidInput(input: PromoteInput | undefined, promotionId: string): void {
  const problems = promoteInputProblems(input, promotionId);
  if (problems.length) {
    throw ApplicationFailure.create({ type: 'InvalidInput', nonRetryable: true, message: `invalid promotion input: ${problems.join('; ')}`, details: [problems] });
  }
}

function previewProblems(preview: PromoteInput['preview']): string[] {
  if (preview === undefined) return [];
  if (preview?.provider === 'webhook') {
    return [
      ...(/^https?:\/\/[^\s/]+/.test(String(preview.url)) ? [] : [`--preview-webhook ${quoted(preview.url)} must be the deploy system's http(s) URL, e.g. https://deploy.example.com/previews`]),
      ...durationProblems('preview timeout', '--preview-timeout', preview.timeout),
    ];
  }
  if (preview?.provider !== 'command') {
    return [`preview ${quoted(preview)} must be {"provider": "command", "command": "npm start"} (--preview-command) or {"provider": "webhook", "url": "https://..."} (--preview-webhook)`];
  }
  const problems: string[] = [];
  if (!isText(preview.command)) problems.push('the preview command (--preview-command) is empty: give the command that starts your app, e.g. "npm start"');
  if (preview.cwd !== undefined && !isText(preview.cwd)) problems.push('--preview-cwd is empty: give the directory the app starts in');
  if (preview.health !== undefined && !(isText(preview.health) && preview.health.startsWith('/'))) {
    problems.push(`--preview-health ${quoted(preview.health)} must be a path that answers 2xx once the app is ready, e.g. /healthz`);
  }
  problems.push(...durationProblems('preview timeout', '--preview-timeout', preview.timeout));
  return problems;
}

/** At most this many approvals may be required: more is a typo. */
const MAX_APPROVALS = 20;

function policyProblems({ policy, startedBy }: PromoteInput): string[] {
  if (policy === undefined) return [];
  if (!policy || typeof policy !== 'object') return ['policy must be an object like {"approvers": ["alice", "bob"], "approvals": 2, "noSelfApproval": true}'];
  const problems: string[] = [];
  const { approvers, approvals, noSelfApproval } = policy;
  if (approvers !== undefined && (!Array.isArray(approvers) || !approvers.length || !approvers.every(isText))) {
    problems.push(`approvers ${quoted(approvers)} (--approvers) must be a list of names, none empty, e.g. --approvers alice,bob`);
  }
  if (approvals !== undefined && (!Number.isInteger(approvals) || approvals < 1 || approvals > MAX_APPROVALS)) {
    problems.push(`approvals ${quoted(approvals)} (--approvals) must be a whole number from 1 to ${MAX_APPROVALS}: how many distinct people must approve`);
  } else if (Array.isArray(approvers) && approvals !== undefined && approvals > new Set(approvers).size) {
    problems.push(`--approvals ${approvals} needs that many distinct approvers, but --approvers names only ${new Set(approvers).size}: name more approvers or require fewer approvals`);
  }
  if (noSelfApproval !== undefined && typeof noSelfApproval !== 'boolean') problems.push('noSelfApproval (--no-self-approval) must be true or false');
  if (noSelfApproval && !isText(startedBy)) {
    problems.push('--no-self-approval needs to know who started the promotion: give startedBy (`pgpromote deploy --as <name>`, $USER by default)');
  }
  if (noSelfApproval && Array.isArray(approvers) && approvers.every((name) => name === startedBy)) {
    problems.push(`--no-self-approval forbids ${startedBy} to approve, and --approvers names nobody else: nobody could approve`);
  }
  return problems;
}

function onlineProblems({ online, onlineThresholdBytes }: PromoteInput): string[] {
  const problems: string[] = [];
  if (online !== undefined && online !== 'always') problems.push(`online ${quoted(online)} (--online) must be "always": plan every change online, whatever the table's size`);
  if (onlineThresholdBytes !== undefined && !(Number.isSafeInteger(onlineThresholdBytes) && onlineThresholdBytes >= 0)) {
    problems.push(`online threshold ${quoted(onlineThresholdBytes)} (--online-threshold) must be a size in bytes, 0 or more, e.g. 67108864 or 64MB`);
  }
  if (online !== undefined && onlineThresholdBytes !== undefined) problems.push('--online and --online-threshold exclude each other: --online plans every table online, whatever its size');
  return problems;
}

function schemaListProblems(name: string, flag: string, value: unknown, example: string): string[] {
  if (value === undefined || (Array.isArray(value) && value.every(isText))) return [];
  return [`${name} ${quoted(value)} (${flag}) must be schema names, none empty, e.g. ${example}`];
}

function durationProblems(name: string, flag: string, value: unknown): string[] {
  if (value === undefined) return [];
  const example = 'write it like "30 minutes", "1 hour" or "7 days"';
  let ms: number;
  try {
    ms = typeof value === 'string' ? msToNumber(value) : NaN;
  } catch {
    ms = NaN;
  }
  if (Number.isNaN(ms)) return [`${name} ${quoted(value)} (${flag}) is not a duration: ${example}`];
  if (ms < DURATION_BOUNDS.min || ms > DURATION_BOUNDS.max) {
    return [`${name} ${quoted(value)} (${flag}) must be between 1 second and 365 days: ${example}`];
  }
  return [];
}

function branchProblems(branch: PromoteInput['branch'] | undefined): string[] {
  if (branch?.provider === 'local') {
    return branch.copy === undefined || ['dump', 'template'].includes(branch.copy)
      ? []
      : [`local copy ${quoted(branch.copy)} (--local-copy) must be "dump" (the default: prod stays usable) or "template" (fast; new prod connections wait for the copy)`];
  }
  if (branch?.provider !== 'neon') {
    return [`branch target ${quoted(branch)} must be {"provider": "local"} or a Neon project ({"provider": "neon", ...} through --neon-project)`];
  }
  const missing = NEON_FIELDS.filter(([field]) => !isText(branch[field]));
  if (!missing.length) return [];
  return [`a Neon branch target needs ${missing.map(([field, flag]) => `${field} (${flag})`).join(', ')}: see the Neon console for prod's project, branch, database and role`];
}

const isRename = (value: unknown) => typeof value === 'string' && typeof parseRename(value) !== 'string';
