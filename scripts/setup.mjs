// First step of `npm run demo` and `npm test` on a fresh machine: installs the npm dependencies
// when they are missing or stale, then the Temporal CLI and the compiled command (scripts/setup.ts). Plain JS because it
// runs before node_modules (and so tsx) exists.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
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

if (!existsSync(installed) || statSync(lock).mtimeMs > statSync(installed).mtimeMs) {
  console.error('pgpromote setup: installing npm dependencies (npm ci)…');
  run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error']);
}
run(path.join(root, 'node_modules', '.bin', 'tsx'), [path.join(root, 'scripts', 'setup.ts')]);
