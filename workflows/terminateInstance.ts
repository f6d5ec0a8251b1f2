// TerminateInstances for one instance: shutting-down -> (cancel a launch or
// start in flight) -> VM destroyed -> DHCP entry removed -> capacity,
// address and MAC released -> terminated.
import { condition, allHandlersFinished } from '@temporalio/workflow';
import { clc, clcLong, ccCleanup, ncCleanup } from './lib/hosts';
import { retireNetwork } from './lib/networks';
import { applySecurityRules } from './applySecurityRules';
import { releaseInstanceAddressesStep } from './associateAddress';
import { acceptance } from './lib/accepted';

export interface InstanceOpInput {
  instanceId: string; accountId: string;
  /** 'instance': the guest powered itself off (InstanceInitiatedShutdownBehavior); absent: the user asked */
  initiatedBy?: 'instance';
}

/** The state reason of an operation: the user's (the API) or the guest's own shutdown. */
export function shutdownReason(initiatedBy: InstanceOpInput['initiatedBy']) {
  return initiatedBy === 'instance'
    ? { transition: 'Instance initiated shutdown', code: 'Client.InstanceInitiatedShutdown', message: 'Client.InstanceInitiatedShutdown: Instance initiated shutdown' }
    : { transition: 'User initiated', code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' };
}

export async function terminateInstance({ instanceId, initiatedBy }: InstanceOpInput): Promise<void> {
  const api = acceptance();
  const reason = shutdownReason(initiatedBy);
  const { previous, changed } = await clc.transition(instanceId, ['pending', 'running', 'stopping', 'stopped', 'shutting-down'], 'shutting-down', reason);
  api.accept({ instanceId, previous, current: changed ? 'shutting-down' : previous });
  if (!changed) { await condition(allHandlersFinished); return; }      // already terminated

  // A launch or start still running owns the boot; cancel it and let its compensation run first.
  await clcLong.cancelAndWaitClosed(`launch-${instanceId}`);
  await clcLong.cancelAndWaitClosed(`start-${instanceId}`);

  // Every step below is idempotent, so it runs whatever the cancelled launch already undid.
  const state = await clc.instanceState(instanceId);
  if (state) {
    if (state.node) await ncCleanup(state.node).destroyVm(instanceId, false).catch(() => undefined);   // a gone node is reconciled when it returns
    const net = await clc.networkPlan(instanceId);
    const addr = await clc.addressing(instanceId);
    // A gone CC rebuilds both from the database when it starts.
    if (addr.mac) await ccCleanup(state.zone).removeDhcpHost(net.vni, addr.mac).catch(() => undefined);
    if (addr.privateIp) await ccCleanup(state.zone).removeInstanceMetadata(net.vni, addr.privateIp).catch(() => undefined);
    await releaseInstanceAddressesStep(instanceId);
    await clc.releaseAll(instanceId);
    await clc.transition(instanceId, ['shutting-down'], 'terminated', reason);
    // The network goes away with its last instance.
    await retireNetwork(net.networkId, state.zone);
    await applySecurityRules(state.zone).catch(() => undefined);   // a gone CC reloads its rules on start
  }
  await condition(allHandlersFinished);
}
