// The TypeScript API for deploy systems: start a promotion, watch it, approve or reject it.
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { NO_SECRET_KEY, seal, redactUrl } from '../activities/secrets.ts';
import { parseDatabaseUrl } from '../activities/db.ts';
import type { Answers } from '../activities/schema/plan.ts';
import type { BranchTarget } from '../activities/branches/provider.ts';
import { promote } from '../workflows/promote.ts';
import { approveSignal, rejectSignal, revertSignal, statusQuery, type PromoteInput, type PromotionState, type Stage } from '../workflows/messages.ts';
import { MAX_PROMOTION_ID_LENGTH, promoteInputProblems } from '../workflows/input.ts';
import { loadConfig, workflowUrl, type Config } from '../worker/config.ts';

/** Something the user asked for cannot be done as asked; the message says what to do. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface DeployOptions {
  dev: string;
  prod: string;
  schemas?: string[];
  answers?: Answers;
  /** `old=new` renames, e.g. `users.name=users.full_name`. */
  renames?: string[];
  branch?: BranchTarget;
  approvalTimeout?: string;
  /** After the apply, how long `revert` may restore prod's backup (e.g. `1 hour`); no backup when absent. */
  revertWindow?: string;
  /** Workflow id; a fresh `promote-<prod db>-<random>` when absent. */
  id?: string;
}

export class PromotionClient {
  private constructor(
    readonly temporal: Client,
    readonly config: Config,
  ) {}

  static async connect(config: Config = loadConfig()): Promise<PromotionClient> {
    let connection: Connection;
    try {
      connection = await Connection.connect({ address: config.address, connectTimeout: '5 seconds' });
    } catch (error) {
      throw new UsageError(
        `cannot reach the Temporal server at ${config.address} (${(error as Error).message}): start one (\`npm run demo\` starts a dev server) or set TEMPORAL_ADDRESS`,
      );
    }
    return new PromotionClient(new Client({ connection, namespace: config.namespace }), config);
  }

  async close(): Promise<void> {
    await this.temporal.connection.close();
  }

  uiUrl(id: string): string {
    return workflowUrl(this.config, id);
  }

  /** Checks the input first: a promotion that cannot succeed is not started. */
  async deploy(options: DeployOptions): Promise<string> {
    const keys = this.config.secretKeys;
    if (!keys.length) throw new UsageError(NO_SECRET_KEY);
    const prod = parseDatabaseUrl(options.prod);
    parseDatabaseUrl(options.dev);
    const id = options.id ?? defaultPromotionId(prod.pathname.slice(1));
    const [devLabel, prodLabel] = [redactUrl(options.dev), redactUrl(options.prod)];
    const input: PromoteInput = {
      dev: seal(options.dev, keys),
      prod: seal(options.prod, keys),
      devLabel,
      prodLabel,
      branch: options.branch ?? { provider: 'local' },
      schemas: options.schemas,
      answers: options.answers,
      renames: options.renames,
      approvalTimeout: options.approvalTimeout,
      revertWindow: options.revertWindow,
    };
    const problems = promoteInputProblems(input, id);
    if (problems.length) throw new UsageError(`nothing was started:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    await this.temporal.workflow.start(promote, {
      taskQueue: this.config.taskQueue,
      workflowId: id,
      staticSummary: `promote ${devLabel} → ${prodLabel}`,
      args: [input],
    });
    return id;
  }

  private async handle(id: string): Promise<WorkflowHandle<typeof promote>> {
    const handle = this.temporal.workflow.getHandle<typeof promote>(id);
    try {
      await handle.describe();
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) {
        throw new UsageError(`no promotion with id ${id} in namespace ${this.config.namespace}: check the id (\`pgpromote deploy\` prints it)`);
      }
      throw error;
    }
    return handle;
  }

  async status(id: string): Promise<PromotionState> {
    return (await this.handle(id)).query(statusQuery);
  }

  /** Polls until the promotion reaches one of `stages`; returns its state then. */
  waitForStage(id: string, stages: Stage[], timeoutMs = 10 * 60_000): Promise<PromotionState> {
    return this.waitUntil(id, (state) => stages.includes(state.stage), `reached ${stages.join(' or ')}`, timeoutMs);
  }

  private async waitUntil(id: string, done: (state: PromotionState) => boolean, what: string, timeoutMs = 10 * 60_000): Promise<PromotionState> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = await this.status(id);
      if (done(state)) return state;
      if (Date.now() > deadline) throw new Error(`promotion ${id} has not ${what} after ${timeoutMs / 1000} s (it is ${state.stage})`);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }

  /** Approves the plan the promotion is waiting on; `planHash` binds the approval to the plan you reviewed. */
  async approve(id: string, approval: { by: string; comment?: string; planHash?: string }): Promise<PromotionState> {
    requireDecider(approval.by);
    if (approval.planHash !== undefined && !approval.planHash.trim()) {
      throw new UsageError(`--plan is empty: give the plan hash you reviewed (\`pgpromote status ${id}\` prints it), or leave --plan out to approve the plan the promotion waits on`);
    }
    const handle = await this.handle(id);
    const state = await handle.query(statusQuery);
    if (state.stage !== 'awaiting-approval' || !state.plan) {
      throw new UsageError(`promotion ${id} is not waiting for approval (it is ${state.stage}${state.outcome ? `, ${state.outcome}` : ''})`);
    }
    if (approval.planHash && approval.planHash !== state.plan.planHash) {
      throw new UsageError(`promotion ${id} waits on plan ${state.plan.planHash}, not ${approval.planHash}: review the current plan (\`pgpromote status ${id}\`)`);
    }
    await handle.signal(approveSignal, { by: approval.by, comment: approval.comment, planHash: approval.planHash ?? state.plan.planHash });
    // The workflow takes it at its next step; stages after it can be too brief to poll.
    return this.waitUntil(id, (after) => !!after.approval || after.stage !== 'awaiting-approval', 'taken the approval');
  }

  async reject(id: string, rejection: { by: string; comment?: string }): Promise<void> {
    requireDecider(rejection.by);
    const handle = await this.handle(id);
    const state = await handle.query(statusQuery);
    if (state.stage === 'applying' || state.stage === 'cleaning-up' || state.stage === 'finished') {
      throw new UsageError(`promotion ${id} can no longer be rejected (it is ${state.stage}${state.outcome ? `, ${state.outcome}` : ''})`);
    }
    await handle.signal(rejectSignal, rejection);
  }

  /** Puts prod back as it was before the apply, during the promotion's revert window; returns the final state. */
  async revert(id: string, decision: { by: string; comment?: string }): Promise<PromotionState> {
    requireDecider(decision.by);
    const handle = await this.handle(id);
    const state = await handle.query(statusQuery);
    if (state.stage !== 'revert-window') {
      throw new UsageError(`promotion ${id} cannot be reverted now (it is ${state.stage}${state.outcome ? `, ${state.outcome}` : ''}); a revert is possible only within the --revert-window after the apply`);
    }
    await handle.signal(revertSignal, decision);
    return this.result(id);
  }

  /** Whether a promotion is still running (false for unknown ids). */
  async isRunning(id: string): Promise<boolean> {
    try {
      return (await this.temporal.workflow.getHandle(id).describe()).status.name === 'RUNNING';
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return false;
      throw error;
    }
  }

  /** Waits for the end; a failed promotion throws an Error whose message is the reason. */
  async result(id: string): Promise<PromotionState> {
    const handle = await this.handle(id);
    try {
      return await handle.result();
    } catch (error) {
      if (error instanceof WorkflowFailedError) throw new Error(`promotion ${id} failed: ${error.cause?.message ?? error.message}`);
      throw error;
    }
  }
}

/** `promote-<prod db>-<random>`, with the database's name cut to what a promotion id may hold. */
function defaultPromotionId(database: string): string {
  const suffix = randomBytes(4).toString('hex');
  const name = database.replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, MAX_PROMOTION_ID_LENGTH - `promote--${suffix}`.length);
  return `promote-${name}-${suffix}`;
}

function requireDecider(by: string): void {
  if (!by.trim()) throw new UsageError('--as is empty: say who decides, e.g. --as alice');
}

/** Reads a `{questionId: answer}` JSON file. */
export function readAnswers(file: string): Answers {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read answers from ${file}: ${(error as Error).message}; expected JSON like {"column:public.users.name": "public.users.full_name"}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) {
    throw new UsageError(`answers file ${file} must hold one JSON object of question id → answer (a candidate or "drop")`);
  }
  return parsed as Answers;
}
