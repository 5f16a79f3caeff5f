#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx: no build step between a checkout and a working command.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../client/cli.ts');
process.exitCode = await main(process.argv.slice(2));
