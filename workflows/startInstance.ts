// StartInstances for one instance: pending -> placed on a node (capacity held)
// -> booted -> running; on failure back to stopped with nothing held but its address.
import { condition, allHandlersFinished, isCancellation, CancellationScope, patched } from '@temporalio/workflow';
import { clc, cc, ncCleanup } from './lib/hosts';
import { acceptance } from './lib/accepted';
import { Saga } from './lib/saga';
import { placeAndBoot } from './lib/boot';
import { describeFailure, ec2Code } from './lib/failures';
import type { InstanceOpInput } from './terminateInstance';
import { assignLaunchAddressStep, releaseInstanceAddressesStep } from './associateAddress';

export async function startInstance({ instanceId }: InstanceOpInput): Promise<string> {
  const api = acceptance();
  const { previous, changed } = await clc.transition(instanceId, ['stopped'], 'pending', { transition: '' });
  if (!changed) {
    if (previous === 'running' || previous === 'pending') api.accept({ instanceId, previous, current: previous });
    else throw api.reject('IncorrectInstanceState', `The instance '${instanceId}' is not in a state from which it can be started.`);
    await condition(allHandlersFinished);
    return previous;
  }
  api.accept({ instanceId, previous, current: 'pending' });
  const saga = new Saga();
  saga.add('release capacity', () => clc.releaseCapacity(instanceId));
  try {
    const state = (await clc.instanceState(instanceId))!;
    const net = await clc.networkPlan(instanceId);
    const plan = await clc.bootPlan(instanceId);
    await cc(state.zone).ensureZoneNetwork(net);
    await cc(state.zone).addDhcpHost(net.vni, plan.mac, plan.privateIp, plan.hostname);
    // The metadata service serves what the instance is now: attributes modified while
    // it was stopped (user data, instance type, kernel) take effect with this boot.
    if (patched('start-refreshes-metadata')) await cc(state.zone).putInstanceMetadata(net.vni, await clc.metadataDoc(instanceId));
    const booted = await placeAndBoot(instanceId, net, 3);
    saga.add('destroy VM', () => ncCleanup(booted.node).destroyVm(instanceId, false));
    saga.add('release public address', () => releaseInstanceAddressesStep(instanceId));
    await assignLaunchAddressStep(instanceId);
    const r = await clc.transition(instanceId, ['pending'], 'running');
    if (!r.changed) throw new Error(`instance left pending while starting (now ${r.previous})`);
    await condition(allHandlersFinished);
    return 'running';
  } catch (err) {
    await saga.compensate();
    const cancelled = isCancellation(err);
    await CancellationScope.nonCancellable(() => clc.transition(instanceId, ['pending'], 'stopped',
      { code: `Server.${ec2Code(err) ?? 'InternalError'}`, message: describeFailure(err).slice(0, 200) }));
    if (cancelled) return 'cancelled';
    return 'stopped';
  }
}
