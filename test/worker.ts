// A real worker on the run's Temporal dev server, on a task queue of its own, and a client for it.
import { inject } from 'vitest';
import { randomUUID } from 'node:crypto';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { createWorker } from '../worker/worker.ts';
import { createLogger, installTemporalLogging } from '../worker/logging.ts';
import { PromotionClient } from '../client/client.ts';
import { DEFAULTS, activityDeps, type Config } from '../worker/config.ts';

let loggingInstalled = false;

export interface TestWorker {
  client: PromotionClient;
  config: Config;
  stop(): Promise<void>;
}

/** `settings` adds to the defaults, e.g. the Neon API of a fake. */
export async function startWorker(settings: Partial<Config> = {}): Promise<TestWorker> {
  if (!loggingInstalled) {
    installTemporalLogging(createLogger('warn', 'test-worker.log'));
    loggingInstalled = true;
  }
  const config: Config = {
    ...DEFAULTS,
    address: inject('temporalAddress'),
    taskQueue: `test-${randomUUID()}`,
    secretKeys: [randomUUID()],
    ...settings,
  };
  const connection = await NativeConnection.connect({ address: config.address });
  const worker: Worker = await createWorker({ connection, namespace: config.namespace, taskQueue: config.taskQueue, deps: activityDeps(config) });
  const running = worker.run();
  const client = await PromotionClient.connect(config);
  return {
    client,
    config,
    async stop() {
      await client.close();
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}
