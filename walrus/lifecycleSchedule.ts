// The Temporal Schedule that runs Walrus' S3 lifecycle (workflows/walrus/lifecycle.ts)
// every EUCA_LIFECYCLE_INTERVAL_S seconds (default 300). The CLC worker makes sure
// it exists each time it starts: created if missing, its interval and action
// brought up to date if not. The schedule lives in Temporal, so runs keep coming
// while workers restart; one that finds no worker waits on the task queue, and
// overlapping runs are skipped. `temporal schedule trigger --schedule-id
// walrus-lifecycle` (or handle.trigger()) runs it now.
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptionsAction } from '@temporalio/client';
import type { LifecycleRunInput } from '../workflows/walrus/lifecycle';

export const LIFECYCLE_SCHEDULE_ID = 'walrus-lifecycle';

export interface LifecycleScheduleOptions {
  scheduleId?: string;
  taskQueue?: string;
  intervalSeconds?: number;
  /** arguments of each run (tests: only their buckets) */
  input?: LifecycleRunInput;
}

export const intervalFromEnv = () => {
  const v = Number(process.env.EUCA_LIFECYCLE_INTERVAL_S);
  return Number.isFinite(v) && v >= 1 ? Math.floor(v) : 300;
};

/** Creates the schedule, or updates it to these settings; returns its id. Idempotent. */
export async function ensureLifecycleSchedule(client: Client, o: LifecycleScheduleOptions = {}): Promise<string> {
  const scheduleId = o.scheduleId ?? LIFECYCLE_SCHEDULE_ID;
  const every = (o.intervalSeconds ?? intervalFromEnv()) * 1000;   // ms
  const action: ScheduleOptionsAction = {
    type: 'startWorkflow', workflowType: 'walrusLifecycle', taskQueue: o.taskQueue ?? 'clc',
    workflowId: scheduleId, args: [o.input ?? {}], workflowExecutionTimeout: '1 day',
  };
  const spec = { intervals: [{ every }] };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: every, pauseOnFailure: false };
  try {
    await client.schedule.create({ scheduleId, spec, action, policies, memo: { purpose: 'Walrus S3 lifecycle rules (expiration, noncurrent versions, delete markers, incomplete uploads)' } });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(scheduleId).update((prev) => ({ spec, action, policies: { ...prev.policies, ...policies }, state: prev.state }));
  }
  return scheduleId;
}
