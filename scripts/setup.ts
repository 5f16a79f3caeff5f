// Installs what pgpromote runs locally and is not on npm: the Temporal CLI, and with `--test-server`
// (as `npm test` asks) Temporal's time-skipping test server.
import { installTemporalCli } from './temporal.ts';
import { installTestServer } from './test-server.ts';

try {
  await installTemporalCli();
  if (process.argv.includes('--test-server')) await installTestServer();
} catch (error) {
  console.error(`pgpromote setup: ${(error as Error).message}`);
  process.exit(1);
}
