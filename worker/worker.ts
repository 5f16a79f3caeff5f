// A worker for the promotion workflow and its activities.
import { fileURLToPath } from 'node:url';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { Client } from '@temporalio/client';
import { createActivities, type ActivityDeps } from '../activities/index.ts';
import { NO_SECRET_KEY } from '../activities/secrets.ts';
import { requireSearchAttributes } from './search-attributes.ts';
import { DEFAULT_TUNING, type WorkerTuning } from './config.ts';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export async function createWorker(options: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: Omit<ActivityDeps, 'temporal'>;
  tuning?: WorkerTuning;
}): Promise<Worker> {
  if (!options.deps.secretKeys.length) throw new Error(NO_SECRET_KEY);
  await requireSearchAttributes(options.connection, options.namespace);
  return Worker.create({
    ...(options.tuning ?? DEFAULT_TUNING),
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowsPath,
    // Activities reach other workflows (the prod lock) through the worker's own connection.
    activities: createActivities({ ...options.deps, temporal: new Client({ connection: options.connection, namespace: options.namespace }) }),
  });
}
