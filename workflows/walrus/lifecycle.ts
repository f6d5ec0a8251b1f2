// One run of Walrus' S3 lifecycle: every bucket that has a lifecycle
// configuration, one after the other, a page of keys per activity (CLC worker,
// activities/clc/lifecycle.ts), then its incomplete multipart uploads. Started
// by the Temporal Schedule `walrus-lifecycle` (walrus/lifecycleSchedule.ts,
// created when the CLC worker starts); each run shows in the Temporal UI with
// what it did as its result. Activities run on the task queue of the run itself.
import { proxyActivities, workflowInfo, continueAsNew, isCancellation, ContinueAsNew, log } from '@temporalio/workflow';
import type { LifecycleActivities } from '../../activities/clc/lifecycle';
import type { LifecycleCounts } from '../../walrus/lifecycle';

export interface LifecycleRunInput {
  /** only these buckets (tests); all buckets with rules when absent */
  buckets?: string[];
  /** carried over a continue-as-new: the run's evaluation time, progress and totals */
  now?: number; next?: { buckets: string[]; bucket: number; cursor: string | null; uploadsDone: boolean }; totals?: LifecycleRunResult;
}

export interface LifecycleRunResult extends LifecycleCounts {
  /** the instant the rules were evaluated at (ISO) */
  evaluatedAt: string;
  buckets: number;
  failed: string[];
}

const KEYS: Array<keyof LifecycleCounts> = ['expired', 'noncurrentExpired', 'deleteMarkersRemoved', 'uploadsAborted', 'lockedSkipped'];

export async function walrusLifecycle(input: LifecycleRunInput = {}): Promise<LifecycleRunResult> {
  const act = proxyActivities<LifecycleActivities>({
    taskQueue: workflowInfo().taskQueue,
    startToCloseTimeout: '10 minutes', heartbeatTimeout: '2 minutes',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 8 },
  });
  // One instant for the whole run (workflow time, the same on replay), so every bucket is judged alike.
  const now = input.now ?? Date.now();
  const totals: LifecycleRunResult = input.totals ?? {
    evaluatedAt: new Date(now).toISOString(), buckets: 0, failed: [],
    expired: 0, noncurrentExpired: 0, deleteMarkersRemoved: 0, uploadsAborted: 0, lockedSkipped: 0,
  };
  const buckets = input.next?.buckets ?? await act.lifecycleBuckets(input.buckets ?? null);
  for (let i = input.next?.bucket ?? 0; i < buckets.length; i++) {
    const resumed = input.next && i === input.next.bucket ? input.next : undefined;
    let cursor = resumed ? resumed.cursor : null;
    let uploadsDone = resumed?.uploadsDone ?? false;
    try {
      if (!uploadsDone) { totals.uploadsAborted += await act.abortExpiredUploads(buckets[i], now); uploadsDone = true; }
      do {
        // a long history (many buckets, huge ones) goes on in a fresh run, from this very page
        if (workflowInfo().continueAsNewSuggested) {
          return await continueAsNew<typeof walrusLifecycle>({ now, totals, next: { buckets, bucket: i, cursor, uploadsDone } });
        }
        const r = await act.applyLifecycleBatch(buckets[i], now, cursor);
        for (const k of KEYS) totals[k] += r.counts[k];
        cursor = r.cursor;
      } while (cursor !== null);
      totals.buckets++;
    } catch (err) {
      if (isCancellation(err) || err instanceof ContinueAsNew) throw err;
      // one bucket that keeps failing does not hold the others back; the next run tries it again
      log.warn('lifecycle of a bucket failed', { bucket: buckets[i], error: String((err as Error)?.message ?? err) });
      totals.failed.push(buckets[i]);
    }
  }
  return totals;
}
