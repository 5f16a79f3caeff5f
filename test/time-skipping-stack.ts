// Temporal's time-skipping test server with a real worker (real activities, real Postgres) on it:
// for the workflow's timed paths (test/time-skipping.test.ts) and for recording histories
// (test/histories/record.ts). Time passes only while a handle's `result()` is awaited: then the
// server jumps to the next timer (a 7-day approval timeout takes no real time); while a test polls
// a promotion's stage, the clock stands still and activities run in real time.
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { createWorker } from '../worker/worker.ts';
import { createLogger, installTemporalLogging } from '../worker/logging.ts';
import { redactUrl, seal } from '../activities/secrets.ts';
import { BRANCH_PREFIX } from '../activities/branches/provider.ts';
import { withClient } from '../activities/db.ts';
import { promote } from '../workflows/promote.ts';
import { statusQuery, type PromoteInput, type PromotionState, type Stage } from '../workflows/messages.ts';
import { startTestServer } from '../scripts/test-server.ts';
import { SEARCH_ATTRIBUTES } from '../workflows/visibility.ts';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes.js';

export type Promotion = WorkflowHandle<typeof promote>;

export interface TimeSkippingStack {
  env: TestWorkflowEnvironment;
  worker: Worker;
  /** Starts a promotion of dev into prod on this stack's worker (local branches, copied with pg_dump). */
  start(options: { dev: string; prod: string; approvalTimeout?: string; revertWindow?: string; excludeSchemas?: string[] }): Promise<Promotion>;
  stop(): Promise<void>;
}

/**
 * A time-skipping environment on a server this process started and waited for. createTimeSkipping
 * would start it too, but gives it only 5 s; this is the constructor it and createFromExistingServer
 * share (private in @temporalio/testing 1.24), with time skipping on, as createTimeSkipping asks.
 */
async function timeSkippingEnvironment(address: string): Promise<TestWorkflowEnvironment> {
  const sdk = TestWorkflowEnvironment as unknown as {
    create(options: { server: { type: 'existing' }; address: string; namespace: string; supportsTimeSkipping: true }): Promise<TestWorkflowEnvironment>;
  };
  return sdk.create({ server: { type: 'existing' }, address, namespace: 'default', supportsTimeSkipping: true });
}

/** Call once per process: it installs the Temporal runtime's logging (to `logFile`). */
export async function startTimeSkippingStack(logFile: string): Promise<TimeSkippingStack> {
  installTemporalLogging(createLogger('warn', logFile));
  const server = await startTestServer();
  const env = await timeSkippingEnvironment(server.address).catch(async (error) => {
    await server.stop();
    throw error;
  });
  // As the dev server's start does (scripts/temporal.ts): promotions upsert them at every stage.
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: Object.fromEntries(SEARCH_ATTRIBUTES.map((key) => [key.name, encodeSearchAttributeIndexedValueType(key.type)!])),
  });
  const taskQueue = `time-skipping-${randomUUID()}`;
  const secretKeys = [randomUUID()];
  const worker = await createWorker({ connection: env.nativeConnection, namespace: 'default', taskQueue, deps: { secretKeys } });
  const running = worker.run();
  return {
    env,
    worker,
    async start({ dev, prod, approvalTimeout, revertWindow, excludeSchemas }) {
      const input: PromoteInput = {
        dev: seal(dev, secretKeys),
        prod: seal(prod, secretKeys),
        devLabel: redactUrl(dev),
        prodLabel: redactUrl(prod),
        branch: { provider: 'local' },
        excludeSchemas,
        approvalTimeout,
        revertWindow,
      };
      return env.client.workflow.start(promote, { taskQueue, workflowId: `ts-${randomUUID().slice(0, 12)}`, args: [input] });
    },
    async stop() {
      worker.shutdown();
      await running;
      await env.teardown();
      await server.stop();
    },
  };
}

/** Polls the promotion's status (the server's clock stands still meanwhile) until it is in one of `stages` or has finished. */
export async function waitForStage(promotion: Promotion, stages: Stage[], timeoutMs = 120_000): Promise<PromotionState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await promotion.query(statusQuery);
    if (stages.includes(state.stage) || state.stage === 'finished') return state;
    if (Date.now() > deadline) throw new Error(`promotion ${promotion.workflowId} did not reach ${stages.join(' or ')} in ${timeoutMs / 1000} s (it is ${state.stage})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The databases named after `promotionId` (its branches) on the server of `serverUrl`. */
export async function branchesOf(serverUrl: string, promotionId: string): Promise<string[]> {
  const { rows } = await withClient(serverUrl, (client) =>
    client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname', [`${BRANCH_PREFIX}${promotionId}-`]),
  );
  return rows.map((row) => row.datname);
}
