// The command preview: the user's app command (`npm start`) run where the worker runs, with DATABASE_URL
// set to the branch and PORT to a free port, in its own process group, its output in a log file. It
// outlives the worker process that started it: its id names the host, process and start time, so a later
// attempt (after a worker restart) can stop it or ask whether it still answers.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { msToNumber } from '@temporalio/common/lib/time.js';
import { freePort } from '../../scripts/ports.ts';
import { PreviewFailedError, type PreviewProvider, type PreviewTarget } from './provider.ts';

const DEFAULT_TIMEOUT = '2 minutes';
/** The lines of the app's output a failure shows. */
const TAIL_LINES = 30;
/** How long the app may take to exit after SIGTERM before its group is killed. */
const STOP_GRACE_MS = 5_000;
const HEALTH_REQUEST_MS = 2_000;

interface Running {
  host: string;
  pid: number;
  /** The process' start time (from /proc): a reused pid is not our app. */
  started: string;
  port: number;
}

const encode = ({ host, pid, started, port }: Running) => `command:${host}:${pid}:${started}:${port}`;

function decode(id: string): Running {
  const [kind, host, pid, started, port] = id.split(':');
  if (kind !== 'command' || !host || !Number(pid) || !started || !Number(port)) throw new Error(`${JSON.stringify(id)} is not a command preview's id`);
  return { host, pid: Number(pid), started, port: Number(port) };
}

/** When the process started, in clock ticks since boot; undefined when it does not exist. */
function startTime(pid: number): string | undefined {
  try {
    // Field 22 of /proc/<pid>/stat, counted after the command name, which is in parentheses and may hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function groupExists(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createCommandPreviewProvider(
  target: Extract<PreviewTarget, { provider: 'command' }>,
  options: { stateDir?: string } = {},
): PreviewProvider {
  const stateDir = options.stateDir ?? path.join(tmpdir(), 'pgpromote-previews');
  const health = target.health ?? '/';
  const urlOf = (port: number) => `http://127.0.0.1:${port}`;
  const logOf = (promotionId: string) => path.join(stateDir, `${promotionId}.log`);
  /** The last preview started for a promotion: an attempt that starts again stops it first. */
  const lastOf = (promotionId: string) => path.join(stateDir, `${promotionId}.id`);

  async function answers(port: number): Promise<boolean> {
    try {
      const response = await fetch(urlOf(port) + health, { signal: AbortSignal.timeout(HEALTH_REQUEST_MS) });
      await response.body?.cancel();
      return response.ok;
    } catch {
      return false;
    }
  }

  function tail(promotionId: string): string {
    try {
      const lines = readFileSync(logOf(promotionId), 'utf8').trimEnd().split('\n');
      return lines.slice(-TAIL_LINES).join('\n') || '(no output)';
    } catch {
      return '(no output)';
    }
  }

  const provider: PreviewProvider = {
    async start(promotionId, databaseUrl) {
      mkdirSync(stateDir, { recursive: true });
      const previous = readFileSync(lastOf(promotionId), { encoding: 'utf8', flag: 'a+' }).trim();
      if (previous) await provider.stop(previous); // an attempt that died after it started the app
      const port = await freePort();
      const log = openSync(logOf(promotionId), 'w');
      const child = spawn('/bin/sh', ['-c', target.command], {
        cwd: target.cwd,
        detached: true, // its own process group: stopped as a whole, and not stopped with the worker
        stdio: ['ignore', log, log],
        env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port) },
      });
      closeSync(log);
      child.unref();
      let exit: string | undefined;
      child.on('exit', (code, signal) => (exit = signal ? `was killed by ${signal}` : `exited with code ${code}`));
      const started = await new Promise<string | undefined>((resolve) => {
        child.once('spawn', () => resolve(startTime(child.pid!)));
        child.once('error', (error) => {
          exit = `could not start (${error.message})`;
          resolve(undefined);
        });
      });
      const running: Running = { host: hostname(), pid: child.pid ?? 0, started: started ?? '0', port };
      if (child.pid) writeFileSync(lastOf(promotionId), encode(running));

      const limit = target.timeout ?? DEFAULT_TIMEOUT;
      const deadline = Date.now() + msToNumber(limit);
      for (;;) {
        if (exit) break;
        if (await answers(port)) return { id: encode(running), url: urlOf(port) };
        if (Date.now() > deadline) {
          await provider.stop(encode(running));
          exit = `did not answer 2xx on ${health} within ${limit}`;
          break;
        }
        await pause(250);
      }
      rmSync(lastOf(promotionId), { force: true });
      throw new PreviewFailedError(
        `the preview (\`${target.command}\` with DATABASE_URL on the trial branch, PORT=${port}) ${exit}; its last lines:\n${tail(promotionId)}`,
      );
    },

    async stop(id) {
      const running = decode(id);
      if (running.host !== hostname()) throw new Error(`preview ${id} runs on host ${running.host}, not ${hostname()}: a worker there stops it`);
      if (startTime(running.pid) !== running.started) return; // gone (or its pid reused by another process)
      const signal = (name: NodeJS.Signals) => {
        try {
          process.kill(-running.pid, name);
        } catch {
          // already gone
        }
      };
      signal('SIGTERM');
      const deadline = Date.now() + STOP_GRACE_MS;
      while (groupExists(running.pid) && Date.now() < deadline) await pause(100);
      if (groupExists(running.pid)) signal('SIGKILL');
      while (groupExists(running.pid)) await pause(50);
    },

    async alive(id) {
      const running = decode(id);
      return running.host === hostname() && startTime(running.pid) === running.started && (await answers(running.port));
    },
  };
  return provider;
}
