#!/usr/bin/env node
// Runs the CLI as compiled by the setup step (scripts/cli-build.mjs): starting it compiles nothing.
import { pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import { CLI_ENTRY, cliBuildProblem } from '../scripts/cli-build.mjs';

// The SQL parser is WebAssembly. V8 compiles it twice: quickly (Liftoff), then optimized on another core,
// ~0.3-0.4 s of CPU, and the process waits for that compile to end before it exits (~0.1 s after a plan's
// output). A command parses a few statements: the quick code is enough. The worker keeps V8's default.
v8.setFlagsFromString('--liftoff-only');

const problem = cliBuildProblem();
if (problem) {
  console.error(`pgpromote: the compiled command (dist/cli) is ${problem}: run \`npm run setup\``);
  process.exit(1);
}
const { main } = await import(pathToFileURL(CLI_ENTRY).href);
process.exitCode = await main(process.argv.slice(2));
