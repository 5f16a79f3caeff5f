// Installs what pgpromote runs locally and is not on npm: the Temporal CLI.
import { installTemporalCli } from './temporal.ts';

try {
  await installTemporalCli();
} catch (error) {
  console.error(`pgpromote setup: ${(error as Error).message}`);
  process.exit(1);
}
