// StopInstances for one instance: stopping -> guest powered down (ACPI, then
// forced) -> node capacity released (address and MAC kept) -> stopped.
import { condition, allHandlersFinished } from '@temporalio/workflow';
import { clc, nc, ncCleanup } from './lib/hosts';
import { acceptance } from './lib/accepted';
import { shutdownReason, type InstanceOpInput } from './terminateInstance';
import { releaseInstanceAddressesStep } from './associateAddress';

export async function stopInstance({ instanceId, initiatedBy }: InstanceOpInput & { force?: boolean }): Promise<void> {
  const api = acceptance();
  const reason = shutdownReason(initiatedBy);
  const { previous, changed } = await clc.transition(instanceId, ['running', 'stopping'], 'stopping', { transition: reason.transition });
  if (!changed) {
    if (previous === 'stopped') api.accept({ instanceId, previous, current: 'stopped' });
    else throw api.reject('IncorrectInstanceState', `The instance '${instanceId}' is not in a state from which it can be stopped.`);
    await condition(allHandlersFinished);
    return;
  }
  api.accept({ instanceId, previous, current: 'stopping' });
  const state = await clc.instanceState(instanceId);
  if (state?.node) {
    try { await nc(state.node).powerdownVm(instanceId); }
    catch { /* a gone node: nothing runs there that we could stop gracefully */ }
    await ncCleanup(state.node).destroyVm(instanceId, false).catch(() => undefined);
  }
  await clc.releaseCapacity(instanceId);
  await releaseInstanceAddressesStep(instanceId);   // Classic: the launch address goes back, an elastic IP is disassociated
  await clc.transition(instanceId, ['stopping'], 'stopped', reason);
  await condition(allHandlersFinished);
}
