// A real browser for the approval page's test: Debian's `chromium`, driven by playwright-core (which
// never downloads a browser of its own). Setup installs it with apt-get when it can.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

/** `$PGPROMOTE_CHROMIUM`, else Debian's package. */
export const chromiumPath = () => process.env.PGPROMOTE_CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ADVICE = 'install Debian\'s chromium (`sudo apt-get update && sudo apt-get install -y chromium`), or set PGPROMOTE_CHROMIUM to a Chromium or Chrome binary';

export function hasChromium(): boolean {
  try {
    accessSync(chromiumPath(), constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Installs `chromium` with apt-get when it is missing and we are root; otherwise says how. */
export function installChromium(): void {
  if (hasChromium()) return;
  const hasAptGet = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
  if (process.getuid?.() !== 0 || !hasAptGet) {
    console.error(`pgpromote setup: the approval page's browser test needs ${chromiumPath()}: ${CHROMIUM_ADVICE}`);
    return;
  }
  console.error('pgpromote setup: installing chromium with apt-get (for the approval page\'s browser test)…');
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', 'chromium']]) {
    const result = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (result.status !== 0) throw new Error(`\`apt-get ${args.join(' ')}\` failed: ${CHROMIUM_ADVICE}`);
  }
}
