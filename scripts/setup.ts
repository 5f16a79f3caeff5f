// Installs what pgpromote runs locally and is not on npm (the Temporal CLI), and compiles the `pgpromote`
// command when its sources are newer than its build.
import { installTemporalCli } from './temporal.ts';
import { buildCli, cliBuildProblem } from './cli-build.mjs';

try {
  await installTemporalCli();
  if (cliBuildProblem()) await buildCli();
} catch (error) {
  console.error(`pgpromote setup: ${(error as Error).message}`);
  process.exit(1);
}
