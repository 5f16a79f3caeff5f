// The `pgpromote` command as a user runs it, for tests: a real process, its exit code and output.
import { inject } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestWorker } from './worker.ts';

export const root = fileURLToPath(new URL('..', import.meta.url));

/** Runs a process to its end without blocking this one: the test workers live in this process. */
export function run(command: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, timeout: 90_000 });
  const output = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output.stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output.stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, ...output }));
  });
}

export const pgpromote = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ['bin/pgpromote.mjs', ...args], { TEMPORAL_ADDRESS: inject('temporalAddress'), ...env });

/** The settings that reach `worker`'s task queue, with the keys given (the worker's own by default). */
export const workerEnv = (worker: TestWorker, keys = worker.config.secretKeys) => ({
  PGPROMOTE_TASK_QUEUE: worker.config.taskQueue,
  PGPROMOTE_SECRET_KEYS: keys.join(','),
});
