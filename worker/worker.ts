// A worker for the promotion workflow and its activities.
import { fileURLToPath } from 'node:url';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities/index.ts';
import { NO_SECRET_KEY } from '../activities/secrets.ts';
import { DEFAULT_TUNING, type WorkerTuning } from './config.ts';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export function createWorker(options: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  tuning?: WorkerTuning;
}): Promise<Worker> {
  if (!options.deps.secretKeys.length) throw new Error(NO_SECRET_KEY);
  return Worker.create({
    ...(options.tuning ?? DEFAULT_TUNING),
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowsPath,
    activities: createActivities(options.deps),
  });
}
