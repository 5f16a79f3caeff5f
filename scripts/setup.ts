// Installs what pgpromote runs locally and is not on npm: the Temporal CLI.
import { installTemporalCli } from './temporal.ts';
import { installChromium } from './chromium.ts';

try {
  await installTemporalCli();
  if (process.argv.includes('--browser')) installChromium(); // `npm test` asks: the approval page's browser test
} catch (error) {
  console.error(`pgpromote setup: ${(error as Error).message}`);
  process.exit(1);
}
