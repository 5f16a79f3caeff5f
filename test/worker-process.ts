// A worker in a process of its own (`npm run worker`'s entry point), so that a test can freeze it
// (SIGSTOP), thaw it (SIGCONT) or kill it (SIGKILL) as an operating system would.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Config } from '../worker/config.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

export interface WorkerProcess {
  pid: number;
  signal(signal: 'SIGSTOP' | 'SIGCONT' | 'SIGKILL'): void;
  /** Kills it if it still runs, and waits for it to be gone. */
  stop(): Promise<void>;
}

export async function startWorkerProcess(config: Config): Promise<WorkerProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: config.address,
      TEMPORAL_NAMESPACE: config.namespace,
      PGPROMOTE_TASK_QUEUE: config.taskQueue,
      PGPROMOTE_SECRET_KEYS: config.secretKeys.join(','),
      PGPROMOTE_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timeout = setTimeout(() => reject(new Error(`the worker process did not start in 120 s:\n${output}`)), 120_000);
    child.stdout!.on('data', (chunk) => {
      output += chunk;
      if (output.includes('pgpromote worker started')) {
        clearTimeout(timeout);
        resolve();
      }
    });
    child.stderr!.on('data', (chunk) => (output += chunk));
    void exited.then(() => {
      clearTimeout(timeout);
      reject(new Error(`the worker process exited before it started:\n${output}`));
    });
  });
  child.stdout!.resume();
  return {
    pid: child.pid!,
    signal: (signal) => child.kill(signal),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
