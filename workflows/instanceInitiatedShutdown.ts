// A guest powered itself off (`poweroff` inside the instance). Its node's agent
// notices (QEMU runs with -no-shutdown, so the VM stays there in the
// 'shutdown' run state; see activities/hypervisor/guestWatch.ts) and starts
// this workflow. The instance then becomes what its
// InstanceInitiatedShutdownBehavior says, through the ordinary StopInstances
// or TerminateInstances workflow (same ids, so it never runs beside a user's
// stop or terminate), which releases everything as those always do.
// DisableApiTermination does not apply: it only guards the API, as on AWS.
import { sleep, startChild, ParentClosePolicy } from '@temporalio/workflow';
import { clc, ncCleanup } from './lib/hosts';
import { stopInstance } from './stopInstance';
import { terminateInstance, type InstanceOpInput } from './terminateInstance';

export interface InstanceShutdownInput { instanceId: string; node: string }

/** A launch or start may still be between the boot marker and `running`: wait that long for it. */
const PENDING_POLLS = 60;

export async function instanceInitiatedShutdown({ instanceId, node }: InstanceShutdownInput): Promise<string> {
  for (let poll = 0; ; poll++) {
    const s = await clc.shutdownPlan(instanceId);
    if (!s) return 'unknown instance';
    if (s.node !== node || s.state === 'stopped' || s.state === 'terminated') {
      // The database does not run this VM on that node (any more): it is a leftover there.
      await ncCleanup(node).destroyVm(instanceId, false).catch(() => undefined);
      return `not running on ${node}`;
    }
    if (s.state === 'stopping' || s.state === 'shutting-down') return `already ${s.state}`;   // a user's stop or terminate owns it
    if (s.state === 'pending') {
      if (poll >= PENDING_POLLS) return 'still pending';   // the node reports it again if it stays off
      await sleep('5 seconds');
      continue;
    }
    const terminate = s.behavior === 'terminate';
    try {
      const options = {
        args: [{ instanceId, accountId: s.accountId, initiatedBy: 'instance' as const }] as [InstanceOpInput],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        searchAttributes: { InstanceId: [instanceId], AccountId: [s.accountId], Zone: [s.zone], Operation: ['InstanceInitiatedShutdown'] },
      };
      const child = terminate
        ? await startChild(terminateInstance, { ...options, workflowId: `terminate-${instanceId}` })
        : await startChild(stopInstance, { ...options, workflowId: `stop-${instanceId}` });
      await child.result();
    } catch (err: any) {
      // A stop or terminate of this instance is already running: it takes the VM down anyway.
      if (err?.name === 'WorkflowExecutionAlreadyStartedError') return 'already being stopped or terminated';
      throw err;
    }
    return terminate ? 'terminated' : 'stopped';
  }
}
