// The worker's concurrency settings: read from the environment, refused when they would not be used as
// written, and handed to the Temporal SDK's worker.
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { randomUUID } from 'node:crypto';
import { NativeConnection } from '@temporalio/worker';
import { DEFAULT_TUNING, ENV, loadWorkerTuning } from '../worker/config.ts';
import { createWorker } from '../worker/worker.ts';

describe('loadWorkerTuning', () => {
  it('uses the measured defaults when nothing, or an empty value, is set', () => {
    expect(loadWorkerTuning({})).toEqual(DEFAULT_TUNING);
    expect(loadWorkerTuning({ [ENV.maxConcurrentActivities]: '', [ENV.maxCachedWorkflows]: ' ' })).toEqual(DEFAULT_TUNING);
  });

  it('reads each setting', () => {
    expect(loadWorkerTuning({
      [ENV.maxConcurrentActivities]: '3',
      [ENV.maxConcurrentWorkflowTasks]: '4',
      [ENV.maxCachedWorkflows]: '50',
    })).toEqual({ maxConcurrentActivityTaskExecutions: 3, maxConcurrentWorkflowTaskExecutions: 4, maxCachedWorkflows: 50 });
  });

  it.each(['abc', '0', '1.5', '-3', '8 workers'])('refuses %j, naming the setting and its default', (value) => {
    expect(() => loadWorkerTuning({ [ENV.maxConcurrentActivities]: value })).toThrow(
      `${ENV.maxConcurrentActivities} must be a whole number of at least 1, not "${value}": unset it to use ${DEFAULT_TUNING.maxConcurrentActivityTaskExecutions}`,
    );
  });

  it('refuses settings the SDK would quietly change', () => {
    expect(() => loadWorkerTuning({ [ENV.maxConcurrentWorkflowTasks]: '1' })).toThrow(`${ENV.maxConcurrentWorkflowTasks} must be at least 2`);
    expect(() => loadWorkerTuning({ [ENV.maxConcurrentWorkflowTasks]: '20', [ENV.maxCachedWorkflows]: '10' })).toThrow(
      `${ENV.maxCachedWorkflows} (10) must be at least ${ENV.maxConcurrentWorkflowTasks} (20)`,
    );
  });
});

describe('createWorker', () => {
  it('gives the Temporal worker the tuning it is given, and the defaults without one', async () => {
    const connection = await NativeConnection.connect({ address: inject('temporalAddress') });
    try {
      const create = (tuning?: Parameters<typeof createWorker>[0]['tuning']) =>
        createWorker({ connection, namespace: 'default', taskQueue: `test-${randomUUID()}`, deps: { secretKeys: [randomUUID()] }, tuning });
      const slots = async (tuning?: Parameters<typeof createWorker>[0]['tuning']) => {
        const worker = await create(tuning);
        await worker.runUntil(async () => {}); // a worker that never ran still holds its connection
        const { options } = worker;
        const tuner = options.tuner as { activityTaskSlotSupplier: { numSlots: number }; workflowTaskSlotSupplier: { numSlots: number } };
        return [tuner.activityTaskSlotSupplier.numSlots, tuner.workflowTaskSlotSupplier.numSlots, options.maxCachedWorkflows];
      };
      expect(await slots({ maxConcurrentActivityTaskExecutions: 3, maxConcurrentWorkflowTaskExecutions: 4, maxCachedWorkflows: 50 })).toEqual([3, 4, 50]);
      const { maxConcurrentActivityTaskExecutions, maxConcurrentWorkflowTaskExecutions, maxCachedWorkflows } = DEFAULT_TUNING;
      expect(await slots()).toEqual([maxConcurrentActivityTaskExecutions, maxConcurrentWorkflowTaskExecutions, maxCachedWorkflows]);
    } finally {
      await connection.close();
    }
  });
});
