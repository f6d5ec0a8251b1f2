// Activity proxies, one per host task queue. Host queues get a
// schedule-to-start timeout (a dead host never picks the task up) and bounded
// retries; long activities heartbeat so a host dying mid-step shows quickly.
import { proxyActivities, ActivityOptions, ActivityCancellationType } from '@temporalio/workflow';
import type { ClcActivities } from '../../activities/clc';
import type { CcActivities } from '../../activities/network/cc';
import type { NcActivities } from '../../activities/hypervisor/nc';

const ec2Codes = ['InvalidAMIID.NotFound', 'InvalidParameterValue', 'InsufficientInstanceCapacity',
  'IdempotentParameterMismatch', 'IncorrectInstanceState', 'InvalidInstanceID.NotFound', 'ImageChecksumMismatch'];

export const timeouts = {
  hostScheduleToStart: '15 seconds' as const,
  bootMs: 180_000,
};

export const clc = proxyActivities<ClcActivities>({
  taskQueue: 'clc',
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '5 seconds', maximumAttempts: 20, nonRetryableErrorTypes: ec2Codes },
});

/** cancelAndWaitClosed may wait for a whole compensation. */
export const clcLong = proxyActivities<ClcActivities>({
  taskQueue: 'clc', startToCloseTimeout: '10 minutes', heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 5 },
});

function hostOptions(taskQueue: string, extra: Partial<ActivityOptions> = {}): ActivityOptions {
  return {
    taskQueue,
    scheduleToStartTimeout: timeouts.hostScheduleToStart,
    startToCloseTimeout: '2 minutes',
    // A cancelled launch waits for a host step in flight to end, so its clean-up
    // never runs before (and misses) a VM that step was still starting.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { initialInterval: '500 milliseconds', maximumInterval: '5 seconds', maximumAttempts: 3, nonRetryableErrorTypes: ec2Codes },
    ...extra,
  };
}

export const cc = (zone: string) => proxyActivities<CcActivities>(hostOptions(`cc.${zone}`));

export const nc = (node: string) => proxyActivities<NcActivities>(hostOptions(`nc.${node}`, { heartbeatTimeout: '20 seconds' }));

export const ncBoot = (node: string) => proxyActivities<NcActivities>(hostOptions(`nc.${node}`, {
  startToCloseTimeout: timeouts.bootMs + 10_000, heartbeatTimeout: '10 seconds',
  retry: { maximumAttempts: 1 },
}));

/** Clean-up on a host that may be gone: one short try, failures ignored by the caller. */
export const ncCleanup = (node: string) => proxyActivities<NcActivities>(hostOptions(`nc.${node}`, {
  scheduleToStartTimeout: '10 seconds', startToCloseTimeout: '60 seconds', retry: { maximumAttempts: 2 },
}));
export const ccCleanup = (zone: string) => proxyActivities<CcActivities>(hostOptions(`cc.${zone}`, {
  scheduleToStartTimeout: '10 seconds', retry: { maximumAttempts: 2 },
}));
