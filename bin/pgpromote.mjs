#!/usr/bin/env node
// Runs the CLI as compiled by the setup step (scripts/cli-build.mjs): starting it compiles nothing.
import { pathToFileURL } from 'node:url';
import { CLI_ENTRY, cliBuildProblem } from '../scripts/cli-build.mjs';

const problem = cliBuildProblem();
if (problem) {
  console.error(`pgpromote: the compiled command (dist/cli) is ${problem}: run \`npm run setup\``);
  process.exit(1);
}
// pg checks whether it runs on Cloudflare Workers as it loads: by `navigator`, which Node 20 lacks, and then by
// creating a `Response`, whose first use loads undici (~35 ms before the first query). Node 21+ has a navigator
// with this user agent.
globalThis.navigator ??= { userAgent: `Node.js/${process.versions.node.split('.')[0]}` };
const { main } = await import(pathToFileURL(CLI_ENTRY).href);
process.exitCode = await main(process.argv.slice(2));
