// One promotion per prod at a time: a lock workflow per prod identity (as in Temporal's mutex sample).
// Promotions reach it with signal-with-start (the activity `requestProdLock`); it grants the lock in
// arrival order by signalling the holder, tells the others whom they wait behind, and takes the lock
// back when the holder releases it, or when the holder's run has closed without releasing it
// (terminated, timed out: no `finally` ran). It ends when nobody holds it and nobody waits.
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';

/** One run of a promotion: a promotion id may be used again once its run has ended. */
export interface LockRequester {
  promotionId: string;
  runId: string;
}

export interface LockRequest extends LockRequester {
  /** Refuse at once (a `busy` notice) instead of waiting when another promotion holds the lock. */
  noQueue?: boolean;
}

/** What the lock tells a promotion: it holds the lock, it waits behind `holder`, or (noQueue) it may not wait. */
export type LockNotice = { kind: 'granted' } | { kind: 'queued'; holder: string } | { kind: 'busy'; holder: string };

export interface ProdLockState {
  prodIdentity: string;
  holder?: LockRequester;
  /** Waiting, in arrival order. */
  queue: LockRequester[];
  /** Continue as new at this many events (MAX_HISTORY_LENGTH when absent; tests give a small one). */
  historyLimit?: number;
}

export const lockRequestSignal = defineSignal<[LockRequest]>('request');
/** From the holder, or from a waiting promotion that leaves the queue (it was cancelled). */
export const lockReleaseSignal = defineSignal<[LockRequester]>('release');
/** Sent by the lock to a promotion. */
export const lockNoticeSignal = defineSignal<[LockNotice]>('prod-lock');
export const lockStateQuery = defineQuery<ProdLockState>('state');

/** How often the holder's run is checked while promotions wait: a holder that closed without releasing blocks them this long at most. */
const HOLDER_CHECK_MS = 15_000;
/** Well below Temporal's limits; each check of the holder adds about ten events. */
const MAX_HISTORY_LENGTH = 2_000;

const { promotionRunning } = proxyActivities<Pick<Activities, 'promotionRunning'>>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 3 },
});

const same = (a: LockRequester, b: LockRequester) => a.promotionId === b.promotionId && a.runId === b.runId;
const key = (requester: LockRequester) => `${requester.promotionId}/${requester.runId}`;

export async function prodLock(start: ProdLockState): Promise<void> {
  const lock: ProdLockState = { ...start, queue: [...start.queue] };
  /** The last notice each promotion was sent: a notice goes out only when it changes. */
  const told = new Map<string, string>();
  let changes = 0;

  async function tell(requester: LockRequester, notice: LockNotice): Promise<boolean> {
    try {
      await getExternalWorkflowHandle(requester.promotionId, requester.runId).signal(lockNoticeSignal, notice);
      told.set(key(requester), JSON.stringify(notice));
      return true;
    } catch (error) {
      // Only a run that has closed cannot be signalled: it neither holds nor waits any more.
      log.info('prod lock: a promotion could not be told, its run has closed', { ...requester, notice: notice.kind, error: (error as Error).message });
      return false;
    }
  }

  setHandler(lockStateQuery, () => lock);
  setHandler(lockRequestSignal, async (request) => {
    changes++;
    const requester: LockRequester = { promotionId: request.promotionId, runId: request.runId };
    const known = [lock.holder, ...lock.queue].some((other) => other && same(other, requester));
    if (known) {
      told.delete(key(requester)); // a retried request: it is told again where it stands
      return;
    }
    const holder = lock.holder ?? lock.queue[0];
    if (request.noQueue && holder) await tell(requester, { kind: 'busy', holder: holder.promotionId });
    else lock.queue.push(requester);
  });
  setHandler(lockReleaseSignal, (requester) => {
    changes++;
    if (lock.holder && same(lock.holder, requester)) lock.holder = undefined;
    lock.queue = lock.queue.filter((waiting) => !same(waiting, requester));
  });

  let checkDue = Date.now() + HOLDER_CHECK_MS; // a busy queue must not put the check off
  const historyLimit = lock.historyLimit ?? MAX_HISTORY_LENGTH;
  while (workflowInfo().historyLength < historyLimit && !workflowInfo().continueAsNewSuggested) {
    const seen = changes;
    await grantNext();
    if (!lock.holder) break; // nobody holds it and nobody waits
    await tellWaiters(lock.holder.promotionId);
    if (!lock.queue.length) {
      // Nobody waits: nothing to check the holder for (and no timer, so that an idle lock costs nothing,
      // and a time-skipping test server can jump days ahead). A newcomer has the holder checked at once.
      await condition(() => changes !== seen);
      checkDue = Date.now();
      continue;
    }
    const untilCheck = checkDue - Date.now();
    if (untilCheck <= 0 || !(await condition(() => changes !== seen, untilCheck))) {
      await dropClosedHolder();
      checkDue = Date.now() + HOLDER_CHECK_MS;
    }
  }
  await condition(allHandlersFinished);
  if (lock.holder || lock.queue.length) await continueAsNew<typeof prodLock>(lock);

  async function grantNext() {
    while (!lock.holder && lock.queue.length) {
      const next = lock.queue.shift()!;
      lock.holder = next;
      const granted = await tell(next, { kind: 'granted' });
      if (!granted && lock.holder && same(lock.holder, next)) lock.holder = undefined;
    }
  }

  async function tellWaiters(holder: string) {
    for (const waiting of [...lock.queue]) {
      const notice: LockNotice = { kind: 'queued', holder };
      if (told.get(key(waiting)) === JSON.stringify(notice)) continue;
      if (!(await tell(waiting, notice))) lock.queue = lock.queue.filter((other) => !same(other, waiting));
    }
  }

  async function dropClosedHolder() {
    const holder = lock.holder;
    if (!holder) return; // released while the waiters were told
    let running: boolean;
    try {
      running = await promotionRunning(holder);
    } catch (error) {
      log.warn('prod lock: could not check the holder; it keeps the lock', { ...holder, error: (error as Error).message });
      return;
    }
    if (!running && lock.holder && same(lock.holder, holder)) {
      log.info('prod lock: the holder has closed without releasing the lock; it is dropped', { ...holder });
      lock.holder = undefined;
    }
  }
}
