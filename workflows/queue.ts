// The promotion's side of the prod lock (workflows/prod-lock.ts): ask for it before planning, wait in
// stage `queued` while another promotion of the same prod holds it, release it whatever happens.
import { ApplicationFailure, CancellationScope, condition, getExternalWorkflowHandle, log, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { PromoteInput, PromotionState } from './messages.ts';
import { lockNoticeSignal, lockReleaseSignal, type LockNotice } from './prod-lock.ts';

const { requestProdLock } = proxyActivities<Pick<Activities, 'requestProdLock'>>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumAttempts: 5, nonRetryableErrorTypes: ['DatabaseConfigError', 'SecretKeyError'] },
});

export interface ProdLock {
  /** Waits for the lock (in stage `queued`, `state.queuedBehind` naming the holder), or until the promotion is rejected; with `noQueue`, throws `ProdBusy` instead. */
  take(): Promise<void>;
  /** Gives the lock back, or leaves the queue; safe to call whatever happened before, even in a cancelled scope. */
  release(): Promise<void>;
}

/** Call before anything else awaits: the lock's notices are handled from then on. `onQueued` runs as `queuedBehind` changes. */
export function prodLock(input: PromoteInput, state: PromotionState, onQueued: () => void): ProdLock {
  const { workflowId: promotionId, runId } = workflowInfo();
  let notice: LockNotice | undefined;
  let lockId: string | undefined;
  setHandler(lockNoticeSignal, (received) => {
    notice = received;
  });

  return {
    async take() {
      // Not cancellable: once the request is out, the lock's id must be known here to leave the queue.
      const requested = await CancellationScope.nonCancellable(() => requestProdLock({ prod: input.prod, target: input.branch, noQueue: input.noQueue === true }));
      lockId = requested.lockId;
      state.prodIdentity = requested.prodIdentity;
      let seen: LockNotice | undefined;
      while (seen?.kind !== 'granted') {
        await condition(() => notice !== seen || !!state.rejection);
        if (state.rejection) return; // rejected while it waited: it leaves the queue in release()
        seen = notice!;
        if (seen.kind === 'busy') {
          throw ApplicationFailure.create({
            type: 'ProdBusy',
            nonRetryable: true,
            message: `prod ${requested.prodIdentity} is being promoted by ${seen.holder}, and --no-queue refuses to wait: nothing was planned or touched; deploy again once ${seen.holder} has ended, or without --no-queue to wait in line`,
          });
        }
        if (seen.kind === 'queued' && seen.holder !== state.queuedBehind) {
          state.queuedBehind = seen.holder;
          onQueued();
        }
      }
      delete state.queuedBehind;
    },

    async release() {
      if (!lockId) return; // never asked for
      const lock = getExternalWorkflowHandle(lockId);
      await CancellationScope.nonCancellable(async () => {
        try {
          await lock.signal(lockReleaseSignal, { promotionId, runId });
        } catch (error) {
          // The lock workflow is gone (terminated by hand): there is nothing left to release.
          log.warn('could not release the prod lock', { lockId, error: (error as Error).message });
        }
      });
    },
  };
}
