// Replays a recorded history of each path of the promotion workflow (test/histories/<path>.json)
// against the current workflow code: a change that would break running promotions (nondeterminism)
// fails here. After changing the workflow's shape on purpose (and draining running promotions, or
// guarding the change with `patched()`), record the histories again with one command:
//
//   npx tsx test/histories/record.ts
//
// The recorder runs each path once (approved-applied, rejected, expired, cancelled, reverted,
// failed-trial) on Temporal's time-skipping test server with a real worker and Postgres.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Worker } from '@temporalio/worker';
import { workflowsPath } from '../worker/worker.ts';
import { historyFromJSON } from './histories/history-json.ts';

const PATHS = ['approved-applied', 'rejected', 'expired', 'cancelled', 'reverted', 'failed-trial'];
const historyOf = (path: string) => historyFromJSON(readFileSync(new URL(`./histories/${path}.json`, import.meta.url), 'utf8'));

describe('recorded histories replay on the current workflow code', () => {
  it('replays every path without nondeterminism', async () => {
    const replayed: Record<string, string> = {};
    const histories = PATHS.map((path) => ({ workflowId: `replay-${path}`, history: historyOf(path) }));
    for await (const result of Worker.runReplayHistories({ workflowsPath }, histories)) {
      replayed[result.workflowId.replace('replay-', '')] = result.error ? `${result.error.name}: ${result.error.message}` : 'ok';
    }
    expect(replayed).toEqual(Object.fromEntries(PATHS.map((path) => [path, 'ok'])));
  });
});
