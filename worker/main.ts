// `npm run worker`: the long-running worker process (also the docker-compose `worker` service).
import { NativeConnection } from '@temporalio/worker';
import { activityDeps, loadConfig, loadWorkerTuning } from './config.ts';
import { createLogger, installTemporalLogging } from './logging.ts';
import { createWorker } from './worker.ts';

const config = loadConfig();
const logger = createLogger(config.logLevel);
installTemporalLogging(logger);
try {
  const tuning = loadWorkerTuning();
  const connection = await NativeConnection.connect({ address: config.address });
  const worker = await createWorker({ connection, namespace: config.namespace, taskQueue: config.taskQueue, deps: activityDeps(config), tuning });
  logger.info({ address: config.address, namespace: config.namespace, taskQueue: config.taskQueue, ...tuning }, 'pgpromote worker started');
  await worker.run(); // stops on SIGINT/SIGTERM
  await connection.close();
} catch (error) {
  logger.error({ err: error }, `pgpromote worker stopped: ${(error as Error).message}`);
  process.exitCode = 1;
}
