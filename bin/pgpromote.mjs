#!/usr/bin/env node
// Runs the CLI as compiled by the setup step (scripts/cli-build.mjs): starting it compiles nothing.
import { pathToFileURL } from 'node:url';
import { CLI_ENTRY, cliBuildProblem } from '../scripts/cli-build.mjs';

const problem = cliBuildProblem();
if (problem) {
  console.error(`pgpromote: the compiled command (dist/cli) is ${problem}: run \`npm run setup\``);
  process.exit(1);
}
const { main } = await import(pathToFileURL(CLI_ENTRY).href);
process.exitCode = await main(process.argv.slice(2));
