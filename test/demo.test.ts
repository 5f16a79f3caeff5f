// The README's main command, as CI and a user without a terminal run it: it must finish a promotion.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));

function demo(...args: string[]) {
  const state = mkdtempSync(path.join(tmpdir(), 'pgpromote-demo-'));
  try {
    // stdin is not a terminal here, so the demo approves itself.
    return spawnSync(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', ...args], {
      cwd: root,
      encoding: 'utf8',
      timeout: 300_000,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PGPROMOTE_STATE_DIR: state },
    });
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
}

// A whole promotion in a fresh process: minutes on a loaded 2-core machine, seconds on a quiet one.
describe('npm run demo', { timeout: 320_000 }, () => {
  it.each([[[]], [['--provider', 'neon']]])('promotes dev to prod end to end (%j)', (args: string[]) => {
    const result = demo(...args);
    const output = `--- stdout\n${result.stdout.slice(-3000)}\n--- stderr\n${result.stderr.slice(-3000)}`;
    expect(result.status, output).toBe(0);
    expect(result.stdout).toMatch(/preview: the app's release 2 runs on the migrated branch with prod's data \(display names and task priorities\) at http:\/\/127\.0\.0\.1:\d+/);
    expect(result.stdout).toContain('not interactive: approving as "demo"');
    expect(result.stdout).toMatch(/finished \(applied\)/);
    expect(result.stdout).toContain('prod now: 200 users kept their names as display_name, 5000 tasks have the new priority column');
  });

  it('refuses an unknown provider', () => {
    const result = demo('--provider', 'aws');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--provider must be local or neon, not aws');
  });
});
