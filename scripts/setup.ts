// Installs what pgpromote runs locally and is not on npm: the Temporal CLI, and as `npm test` asks,
// Temporal's time-skipping test server (`--test-server`) and chromium for the approval page's browser
// test (`--browser`); and compiles the `pgpromote` command when its sources are newer than its build.
import { installTemporalCli } from './temporal.ts';
import { installTestServer } from './test-server.ts';
import { installChromium } from './chromium.ts';
import { buildCli, cliBuildProblem } from './cli-build.mjs';

try {
  await installTemporalCli();
  if (cliBuildProblem()) await buildCli();
  if (process.argv.includes('--test-server')) await installTestServer();
  if (process.argv.includes('--browser')) installChromium();
} catch (error) {
  console.error(`pgpromote setup: ${(error as Error).message}`);
  process.exit(1);
}
