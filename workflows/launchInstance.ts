// One instance from pending to running. Admission already holds its capacity,
// address and MAC; every later step registers its undo right after it.
import { log, isCancellation, CancellationScope } from '@temporalio/workflow';
import { clc, cc, ccCleanup, ncCleanup } from './lib/hosts';
import { Saga } from './lib/saga';
import { placeAndBoot } from './lib/boot';
import { ec2Code, describeFailure } from './lib/failures';

export interface LaunchInput { instanceId: string; accountId: string; zone: string }

const LAUNCH_ATTEMPTS = 3;

export async function launchInstance({ instanceId, zone }: LaunchInput): Promise<string> {
  const saga = new Saga();
  saga.add('release capacity, address and MAC', () => clc.releaseAll(instanceId));
  try {
    const net = await clc.zoneNetworkPlan(zone);
    const plan = await clc.bootPlan(instanceId);
    await cc(zone).ensureZoneNetwork(net);
    // Registered first: the CC may apply the entry and still fail (or time out) answering; removal is idempotent.
    saga.add('remove DHCP entry', async () => ccCleanup(zone).removeDhcpHost(net.vni, (await clc.bootPlan(instanceId)).mac));
    await cc(zone).addDhcpHost(net.vni, plan.mac, plan.privateIp, plan.hostname);

    const booted = await placeAndBoot(instanceId, net, LAUNCH_ATTEMPTS);
    saga.add('destroy VM', () => ncCleanup(booted.node).destroyVm(instanceId, false));

    const { changed, previous } = await clc.transition(instanceId, ['pending'], 'running');
    if (!changed) throw new Error(`instance left pending while booting (now ${previous})`);
    log.info('instance running', { instanceId, node: booted.node, ip: booted.ip });
    return 'running';
  } catch (err) {
    const cancelled = isCancellation(err);
    log.warn('launch failed, compensating', { instanceId, error: describeFailure(err), cancelled });
    await saga.compensate();
    const code = cancelled ? 'Client.UserInitiatedShutdown' : `Server.${ec2Code(err) ?? 'InternalError'}`;
    const message = cancelled ? 'Client.UserInitiatedShutdown: User initiated shutdown' : `${code}: ${describeFailure(err).slice(0, 200)}`;
    await CancellationScope.nonCancellable(() => clc.transition(instanceId, ['pending', 'shutting-down', 'running'], 'terminated',
      { code, message, transition: cancelled ? 'User initiated' : 'Server error' }));
    return 'terminated';
  }
}
