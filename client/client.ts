// The TypeScript API for deploy systems: start a promotion, watch it, approve or reject it.
import { randomBytes } from 'node:crypto';
import {
  Client,
  Connection,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  defaultPayloadConverter,
  ServiceError,
  QueryRejectedError,
  QueryNotRegisteredError,
  type WorkflowExecutionStatusName,
  type WorkflowHandle,
} from '@temporalio/client';
import { WorkflowNotFoundError, type UpdateDefinition } from '@temporalio/common';
import { NO_SECRET_KEY, seal, redactUrl } from '../activities/secrets.ts';
import { parseDatabaseUrl } from '../activities/db.ts';
import type { TimeoutOptions } from '../activities/schema/plan.ts';
import type { Answers } from '../activities/schema/questions.ts';
import type { OnlineOptions } from '../activities/schema/online.ts';
import type { BranchTarget } from '../activities/branches/provider.ts';
import type { PreviewTarget } from '../activities/preview/provider.ts';
import { promote } from '../workflows/promote.ts';
import {
  answerUpdate, approveUpdate, cancelUpdate, rejectUpdate, revertUpdate, statusQuery,
  type AnswerMessage, type ApprovalPolicy, type Decision, type Outcome, type PromoteInput, type PromotionState, type Stage,
} from '../workflows/messages.ts';
import { OUTCOME, PROD, RECORD_MEMO, STAGE, type PromotionRecord } from '../workflows/visibility.ts';
import { prodIdentity } from '../activities/prod-identity.ts';
import { requireSearchAttributes } from '../worker/search-attributes.ts';
import { MAX_PROMOTION_ID_LENGTH, promoteInputProblems } from '../workflows/input.ts';
import { loadConfig, workflowUrl, type Config } from '../worker/config.ts';
import { describeProgress } from './format.ts';
import { ArgumentError, UsageError } from './usage.ts';

/** The promotion refused a message (its update validator said why); nothing changed. */
export class RefusedError extends Error {
  override name = 'RefusedError';
}

/** How a workflow ended that was stopped from outside instead of finishing its story. */
export type Ending = 'terminated' | 'cancelled' | 'timed out';
const ENDINGS: Partial<Record<WorkflowExecutionStatusName, Ending>> = { TERMINATED: 'terminated', CANCELLED: 'cancelled', TIMED_OUT: 'timed out' };

/**
 * A promotion as `status` reports it: its state, where that came from, and `ended` when its workflow was
 * stopped from outside. `query`: the workflow answered now; `result`: it has completed, this is its
 * result; `recorded`: no worker answered, this is the state it last recorded (its memo, within
 * `RECORD_BOUNDS`).
 */
export interface PromotionStatus extends PromotionState, Partial<Pick<PromotionRecord, 'recordedAt' | 'omitted'>> {
  source: 'query' | 'result' | 'recorded';
  ended?: Ending;
}

/** A line of `pgpromote list`. `stage` is absent only while no worker has picked the promotion up. */
export interface ListedPromotion {
  id: string;
  stage?: Stage;
  outcome?: Outcome;
  prod?: string;
  startedAt: string;
  ended?: Ending;
}

/** temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW (`@temporalio/proto` is not a direct dependency). */
const WORKFLOW_TASK_QUEUE = 1;
/** How long a worker may take to show among the pollers after it starts. */
const WORKER_GRACE_MS = 5_000;
/** A query needs a live worker, and a worker that stopped minutes ago still shows among the pollers:
 * past this, `status` reports the recorded state instead. */
const QUERY_DEADLINE_MS = 10_000;

/** `lockTimeoutMs`, `statementTimeoutMs`, `lockBudgetMs`: the planner's defaults when absent. `online`,
 * `onlineThresholdBytes`: which changes are planned online (by default, those to tables of 64 MiB and more). */
export interface DeployOptions extends TimeoutOptions, OnlineOptions {
  dev: string;
  prod: string;
  /** Only these schemas; every user schema of prod and dev when absent. */
  schemas?: string[];
  /** Schemas left out of the comparison. */
  excludeSchemas?: string[];
  answers?: Answers;
  /** `old=new` renames, e.g. `users.name=users.full_name`. */
  renames?: string[];
  /** Objects dropped on purpose, e.g. `users.nickname`. */
  drops?: string[];
  branch?: BranchTarget;
  approvalTimeout?: string;
  /** After the apply, how long `revert` may restore prod's backup (e.g. `1 hour`); no backup when absent. */
  revertWindow?: string;
  /** Workflow id; a fresh `promote-<prod db>-<random>` when absent. */
  id?: string;
  /** The app started on the trial branch before approval. */
  preview?: PreviewTarget;
  /** Who starts it (for `policy.noSelfApproval`). */
  startedBy?: string;
  /** Who may approve, and how many must; one approval by anyone when absent. */
  policy?: ApprovalPolicy;
  /** Fail at once, naming the running promotion, instead of queueing behind another promotion of the same prod. */
  noQueue?: boolean;
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
      excludeSchemas: options.excludeSchemas,
      answers: options.answers,
      renames: options.renames,
      drops: options.drops,
      lockTimeoutMs: options.lockTimeoutMs,
      statementTimeoutMs: options.statementTimeoutMs,
      lockBudgetMs: options.lockBudgetMs,
      approvalTimeout: options.approvalTimeout,
      revertWindow: options.revertWindow,
      preview: options.preview,
      startedBy: options.startedBy,
      policy: options.policy,
      noQueue: options.noQueue,
      online: options.online,
      onlineThresholdBytes: options.onlineThresholdBytes,
    };
    const problems = promoteInputProblems(input, id);
    if (problems.length) throw new UsageError(`nothing was started:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    await requireSearchAttributes(this.temporal.connection, this.config.namespace);
    await this.requireWorker(this.config.taskQueue);
    await this.temporal.workflow.start(promote, {
      taskQueue: this.config.taskQueue,
      workflowId: id,
      staticSummary: `promote ${devLabel} → ${prodLabel}`,
      // `list --prod` finds it from the start; the workflow publishes the rest.
      typedSearchAttributes: [{ key: PROD, value: prodIdentity(options.prod, input.branch) }],
      args: [input],
    });
    return id;
  }

  /**
   * A running promotion answers a query when a worker polls its task queue; otherwise, and once it has
   * failed or was stopped, the state it last recorded answers (a completed one answers with its result).
   */
  async status(id: string): Promise<PromotionStatus> {
    const { handle, description } = await this.find(id);
    const run = description.status.name;
    const prodIdentity = description.typedSearchAttributes.get(PROD);
    if (run === 'COMPLETED') return { ...(await handle.result()), source: 'result', prodIdentity };
    const recorded = description.memo?.[RECORD_MEMO] as PromotionRecord | undefined;
    if (run === 'RUNNING') {
      const live = (await this.hasWorker(description.taskQueue)) ? await this.query(handle) : undefined;
      if (live) return { ...live, source: 'query', prodIdentity };
      if (!recorded) throw this.noWorker(description.taskQueue); // it never ran: nothing was recorded
      return { ...recorded, source: 'recorded', prodIdentity };
    }
    const reason = await this.failureOf(handle);
    const last = recorded ?? startedAs(id, await this.inputOf(handle));
    const ended = ENDINGS[run];
    // A promotion that failed before it recorded its end (say, its input was invalid) is still finished.
    const end = ended ? {} : { stage: 'finished' as const, outcome: last.outcome ?? 'failed' };
    return { ...last, ...end, error: last.error ?? reason, ended, source: 'recorded', prodIdentity };
  }

  /**
   * Promotions newest first, optionally only those in `stage` or of the prod at `prodUrl` (a
   * connection URL, no password needed, or `neon:<project>/<branch>`). The server's visibility store
   * answers, which may be a second or so behind.
   */
  async list(filter: { stage?: Stage; prodUrl?: string } = {}): Promise<ListedPromotion[]> {
    await requireSearchAttributes(this.temporal.connection, this.config.namespace);
    // Identities and stages hold no quote (see prodIdentity), so they are written into the query as they are.
    const clauses = [`WorkflowType = '${promote.name}'`];
    if (filter.stage) clauses.push(`${STAGE.name} = '${filter.stage}'`);
    if (filter.prodUrl) clauses.push(`${PROD.name} = '${identityOf(filter.prodUrl)}'`);
    const found: ListedPromotion[] = [];
    for await (const execution of this.temporal.workflow.list({ query: clauses.join(' AND ') })) {
      const attributes = execution.typedSearchAttributes;
      found.push({
        id: execution.workflowId,
        stage: attributes.get(STAGE) as Stage | undefined,
        outcome: attributes.get(OUTCOME) as Outcome | undefined,
        prod: attributes.get(PROD),
        startedAt: execution.startTime.toISOString(),
        ended: ENDINGS[execution.status.name],
      });
    }
    // Ordered here: the SQL visibility stores of the dev server and of docker-compose refuse ORDER BY.
    return found.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  }

  /** Polls until the promotion reaches one of `stages`, or ends; returns its state then. */
  waitForStage(id: string, stages: Stage[], timeoutMs = 10 * 60_000): Promise<PromotionStatus> {
    return this.waitUntil(id, (state) => stages.includes(state.stage), `reached ${stages.join(' or ')}`, timeoutMs);
  }

  private async waitUntil(id: string, done: (state: PromotionStatus) => boolean, what: string, timeoutMs = 10 * 60_000): Promise<PromotionStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = await this.status(id);
      if (done(state) || state.stage === 'finished' || state.ended) return state;
      if (Date.now() > deadline) throw new Error(`promotion ${id} has not ${what} after ${timeoutMs / 1000} s (it is ${state.stage})`);
      await pause(300);
    }
  }

  /**
   * Approves the plan the promotion waits on. `planHash` binds the approval to the plan you reviewed;
   * without it, the plan `status` shows now. The workflow decides; a refusal throws its reason.
   */
  async approve(id: string, approval: { by: string; comment?: string; planHash?: string; acceptDataLoss?: boolean }): Promise<PromotionState> {
    requireDecider(approval.by);
    if (approval.planHash !== undefined && !approval.planHash.trim()) {
      throw new ArgumentError(`--plan is empty: give the plan hash you reviewed (\`pgpromote status ${id}\` prints it), or leave --plan out to approve the plan the promotion waits on`);
    }
    const planHash = approval.planHash ?? (await this.status(id)).plan?.planHash ?? '';
    return this.decide(id, 'approve', approveUpdate, { ...approval, planHash });
  }

  /**
   * Answers open questions of the plan (by id, as `old=new` renames, or as objects to drop); the
   * promotion plans again with them. The workflow decides; a refusal throws its reason.
   */
  answer(id: string, answers: AnswerMessage): Promise<PromotionState> {
    return this.decide(id, 'answer', answerUpdate, answers);
  }

  /** Rejects a promotion before its apply: prod stays as it is. */
  reject(id: string, rejection: Decision): Promise<PromotionState> {
    return this.decide(id, 'reject', rejectUpdate, rejection);
  }

  /** Cancels a promotion before prod is touched: its branches are deleted, prod stays as it is. */
  cancel(id: string, cancellation: Decision): Promise<PromotionState> {
    return this.decide(id, 'cancel', cancelUpdate, cancellation);
  }

  /** Puts prod back as it was before the apply, during the promotion's revert window; returns the final state. */
  async revert(id: string, decision: Decision): Promise<PromotionState> {
    await this.decide(id, 'revert', revertUpdate, decision);
    return this.result(id);
  }

  /** Sends a decision as an update: the workflow's validator accepts it, or refuses it with the reason. */
  private async decide<A extends Decision>(id: string, name: string, update: UpdateDefinition<PromotionState, [A]>, message: A): Promise<PromotionState> {
    requireDecider(message.by);
    const { handle, description } = await this.find(id);
    if (description.status.name !== 'RUNNING') {
      throw new RefusedError(`promotion ${id} refused "${name}": it has ended (${describeProgress(await this.status(id))})`);
    }
    await this.requireWorker(description.taskQueue);
    try {
      return await handle.executeUpdate(update, { args: [message] });
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError) throw new RefusedError(`promotion ${id} refused "${name}": ${error.cause?.message ?? error.message}`);
      throw error;
    }
  }

  /** Waits for the end; a failed promotion throws an Error whose message is the reason. */
  async result(id: string): Promise<PromotionState> {
    const { handle } = await this.find(id);
    try {
      return await handle.result();
    } catch (error) {
      if (error instanceof WorkflowFailedError) throw new Error(`promotion ${id} failed: ${error.cause?.message ?? error.message}`);
      throw error;
    }
  }

  private async find(id: string) {
    const handle = this.temporal.workflow.getHandle<typeof promote>(id);
    try {
      return { handle, description: await handle.describe() };
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) {
        throw new UsageError(`no promotion with id ${id} in namespace ${this.config.namespace}: check the id (\`pgpromote deploy\` prints it)`);
      }
      throw error;
    }
  }

  private async hasWorker(taskQueue: string): Promise<boolean> {
    const { pollers } = await this.temporal.workflowService.describeTaskQueue({
      namespace: this.config.namespace,
      taskQueue: { name: taskQueue },
      taskQueueType: WORKFLOW_TASK_QUEUE,
    });
    return !!pollers?.length;
  }

  /** Fails within seconds where waiting for a worker would hang; a worker started a moment ago may not have polled yet. */
  private async requireWorker(taskQueue: string): Promise<void> {
    const deadline = Date.now() + WORKER_GRACE_MS;
    while (!(await this.hasWorker(taskQueue))) {
      if (Date.now() > deadline) throw this.noWorker(taskQueue);
      await pause(250);
    }
  }

  private noWorker(taskQueue: string): UsageError {
    return new UsageError(
      `no worker is polling task queue ${taskQueue} in namespace ${this.config.namespace}: start one (npm run worker) with the same TEMPORAL_ADDRESS/PGPROMOTE_TASK_QUEUE`,
    );
  }

  /**
   * The live state, or undefined when no worker answered: the server answers in its place (a deadline, or
   * its own timeout), or the workflow could not (it has not set its handler yet).
   */
  private async query(handle: WorkflowHandle<typeof promote>): Promise<PromotionState | undefined> {
    return this.temporal.connection
      .withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(statusQuery))
      .catch((error: unknown) => {
        if (error instanceof ServiceError || error instanceof QueryRejectedError || error instanceof QueryNotRegisteredError) return undefined;
        throw error;
      });
  }

  /** Why a closed workflow did not complete (a failure, or the reason it was terminated). */
  private async failureOf(handle: WorkflowHandle<typeof promote>): Promise<string | undefined> {
    try {
      await handle.result();
      return undefined;
    } catch (error) {
      if (error instanceof WorkflowFailedError) return error.cause?.message || error.message;
      throw error;
    }
  }

  /** The input the workflow was started with, from the first event of its history. */
  private async inputOf(handle: WorkflowHandle<typeof promote>): Promise<PromoteInput | undefined> {
    const history = await handle.fetchHistory();
    const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    return payload ? defaultPayloadConverter.fromPayload<PromoteInput>(payload) : undefined;
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The state of a promotion that recorded none (started by an older pgpromote or another client), from its input. */
function startedAs(id: string, input: PromoteInput | undefined): PromotionState {
  return {
    promotionId: id,
    dev: input?.devLabel ?? '(unknown)',
    prod: input?.prodLabel ?? '(unknown)',
    stage: 'finished',
    ignored: [],
    policy: { ...input?.policy, approvals: input?.policy?.approvals ?? 1 },
    answered: [],
    approvals: [],
  };
}

/** `list --prod`: a connection URL, or an identity as `list` prints it (`neon:<project>/<branch>`). */
function identityOf(prod: string): string {
  if (prod.startsWith('neon:')) return prod.replace(/'/g, '%27');
  return prodIdentity(parseDatabaseUrl(prod).toString(), { provider: 'local' });
}

/** `promote-<prod db>-<random>`, with the database's name cut to what a promotion id may hold. */
function defaultPromotionId(database: string): string {
  const suffix = randomBytes(4).toString('hex');
  const name = database.replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, MAX_PROMOTION_ID_LENGTH - `promote--${suffix}`.length);
  return `promote-${name}-${suffix}`;
}


function requireDecider(by: string): void {
  if (!by.trim()) throw new ArgumentError('--as is empty: say who decides, e.g. --as alice');
}
