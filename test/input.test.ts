// A promotion's input is checked before anything starts: by the client, and by the workflow itself
// when something else (the Temporal UI, another client) starts it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { promoteInputProblems } from '../workflows/input.ts';
import type { PromoteInput } from '../workflows/messages.ts';
import { startWorker, type TestWorker } from './worker.ts';

const valid: PromoteInput = {
  dev: 'sealed:v2:0123abcd:xxxx',
  prod: 'sealed:v2:0123abcd:yyyy',
  devLabel: 'postgres://app@dev/app',
  prodLabel: 'postgres://app@prod/app',
  branch: { provider: 'local' },
};
const problems = (change: Partial<PromoteInput> | Record<string, unknown>, id = 'promote-app-1234abcd') =>
  promoteInputProblems({ ...valid, ...change } as PromoteInput, id);

describe('promotion input', () => {
  it('accepts a whole, sensible input', () => {
    expect(problems({ approvalTimeout: '30 minutes', revertWindow: '1 hour', schemas: ['public'], renames: ['users.name=users.full_name'], answers: { q: 'drop' } })).toEqual([]);
    expect(problems({ branch: { provider: 'neon', projectId: 'p', branchId: 'b', databaseName: 'd', roleName: 'r' } })).toEqual([]);
  });

  it('refuses durations that are not durations, or absurdly short or long', () => {
    for (const duration of ['one hour', 'soon', '', '1h30m', ' 1h']) {
      expect(problems({ revertWindow: duration })).toEqual([`revert window ${JSON.stringify(duration)} (--revert-window) is not a duration: write it like "30 minutes", "1 hour" or "7 days"`]);
    }
    // "100" is 100 ms to Temporal; 0 and negative would end the wait at once.
    for (const duration of ['0', '-1 hour', '100', '0.5s', '366 days']) {
      expect(problems({ approvalTimeout: duration })).toEqual([`approval timeout ${JSON.stringify(duration)} (--approval-timeout) must be between 1 second and 365 days: write it like "30 minutes", "1 hour" or "7 days"`]);
    }
    expect(problems({ approvalTimeout: 3600 as never })).toHaveLength(1);
  });

  it('refuses ids that cannot name a workflow and its branches', () => {
    expect(problems({}, 'a'.repeat(44))).toEqual([]);
    expect(problems({}, 'a'.repeat(45))[0]).toMatch(/is 45 characters long: use at most 44/);
    for (const id of ['', '-x', 'a b', 'a"b', 'a/b', 'ünïcode', 'a.b']) expect(problems({}, id)).toHaveLength(1);
  });

  it('names each missing Neon field by its option', () => {
    expect(problems({ branch: { provider: 'neon', projectId: 'p', branchId: '', databaseName: ' ', roleName: 'r' } })).toEqual([
      "a Neon branch target needs branchId (--neon-branch), databaseName (--neon-database): see the Neon console for prod's project, branch, database and role",
    ]);
    expect(problems({ branch: { provider: 'aws' } as never })[0]).toMatch(/must be \{"provider": "local"\} or a Neon project/);
    expect(problems({ branch: undefined })).toHaveLength(1);
    expect(problems({ branch: { provider: 'local', copy: 'template' } })).toEqual([]);
    expect(problems({ branch: { provider: 'local', copy: 'rsync' } as never })).toEqual([
      'local copy "rsync" (--local-copy) must be "dump" (the default: prod stays usable) or "template" (fast; new prod connections wait for the copy)',
    ]);
  });

  it('refuses empty schemas, malformed renames and answers, unsealed connection strings', () => {
    expect(problems({ schemas: ['public', ''] })).toHaveLength(1);
    expect(problems({ renames: ['a=b', 'a', 'a=b=c', '=b', 'a= '] })).toHaveLength(4);
    expect(problems({ answers: { q: 1 } as never })).toHaveLength(1);
    expect(problems({ prod: 'postgres://app:hunter2@prod/app' as never })[0]).toMatch(/^prod must be a sealed connection string/);
    expect(promoteInputProblems(undefined, 'x')).toEqual([expect.stringMatching(/^the promotion has no input/)]);
  });

  it('takes --online or an --online-threshold in bytes, not both', () => {
    expect(problems({ online: 'always' })).toEqual([]);
    expect(problems({ onlineThresholdBytes: 0 })).toEqual([]);
    expect(problems({ online: true as never })).toEqual(['online true (--online) must be "always": plan every change online, whatever the table\'s size']);
    for (const bytes of [-1, 1.5, '64MB']) expect(problems({ onlineThresholdBytes: bytes as never })[0]).toMatch(/\(--online-threshold\) must be a size in bytes/);
    expect(problems({ online: 'always', onlineThresholdBytes: 1 })).toEqual(['--online and --online-threshold exclude each other: --online plans every table online, whatever its size']);
  });
});

describe('a promotion started with invalid input by another client', () => {
  let worker: TestWorker;
  beforeAll(async () => {
    worker = await startWorker();
  });
  afterAll(async () => {
    await worker?.stop();
  });

  it('fails first thing, with every problem, before any activity runs', async () => {
    const handle = await worker.client.temporal.workflow.start('promote', {
      taskQueue: worker.config.taskQueue,
      workflowId: `input-${randomUUID().slice(0, 8)}`,
      args: [{ ...valid, revertWindow: 'one hour', branch: { provider: 'neon', projectId: 'p' } }],
    });
    const failure = await handle.result().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const cause = (failure as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause.type).toBe('InvalidInput');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toContain('revert window "one hour" (--revert-window) is not a duration');
    expect(cause.message).toContain('a Neon branch target needs branchId (--neon-branch), databaseName (--neon-database), roleName (--neon-role)');
    const { events } = await handle.fetchHistory();
    expect(events!.filter((event) => event.activityTaskScheduledEventAttributes)).toEqual([]);
    // `status` still answers: the workflow never set its query handler, so the client reads what the server kept.
    expect(await worker.client.status(handle.workflowId)).toMatchObject({ stage: 'finished', outcome: 'failed', prod: valid.prodLabel, error: expect.stringContaining('invalid promotion input') });
  });
});
