// First step of `npm run demo` and `npm test` on a fresh machine: installs the npm dependencies
// when they are missing or stale, then the Temporal CLI, the compiled command and, given `--test-server`
// (as `npm test` does), Temporal's time-skipping test server (scripts/setup.ts). Plain JS because it
// runs before node_modules (and so tsx) exists.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const installed = path.join(root, 'node_modules', '.package-lock.json');
const lock = path.join(root, 'package-lock.json');

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`pgpromote setup: \`${command} ${args.join(' ')}\` failed (exit ${result.status ?? result.signal})`);
    process.exit(1);
  }
}

// What was installed is recorded by the lock file's content: a checkout (or a git worktree sharing
// node_modules) gives the lock file a new time without changing what it pins.
const pinned = createHash('sha256').update(readFileSync(lock)).digest('hex');
const stamp = path.join(root, 'node_modules', '.pgpromote-installed');
const recorded = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : undefined;
const stale = !existsSync(installed) || (recorded ? recorded !== pinned : statSync(lock).mtimeMs > statSync(installed).mtimeMs);
if (stale) {
  console.error('pgpromote setup: installing npm dependencies (npm ci)…');
  run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error']);
}
if (recorded !== pinned) writeFileSync(stamp, pinned);
run(path.join(root, 'node_modules', '.bin', 'tsx'), [path.join(root, 'scripts', 'setup.ts'), ...process.argv.slice(2)]);
