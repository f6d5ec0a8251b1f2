// One instance from pending to running. Admission already holds its capacity,
// address and MAC; every later step registers its undo right after it.
import { log, isCancellation, CancellationScope } from '@temporalio/workflow';
import { clc, cc, ccCleanup, ncCleanup } from './lib/hosts';
import { Saga } from './lib/saga';
import { placeAndBoot } from './lib/boot';
import { ec2Code, describeFailure } from './lib/failures';
import { retireNetwork } from './lib/networks';
import { applySecurityRules } from './applySecurityRules';
import { assignLaunchAddressStep, releaseInstanceAddressesStep } from './associateAddress';

export interface LaunchInput { instanceId: string; accountId: string; zone: string }

const LAUNCH_ATTEMPTS = 3;

export async function launchInstance({ instanceId, zone }: LaunchInput): Promise<string> {
  const saga = new Saga();
  saga.add('release capacity, address and MAC', () => clc.releaseAll(instanceId));
  try {
    const net = await clc.networkPlan(instanceId);
    const plan = await clc.bootPlan(instanceId);
    await cc(zone).ensureZoneNetwork(net);
    // Registered first: the CC may apply the entry and still fail (or time out) answering; removal is idempotent.
    saga.add('remove DHCP entry', async () => ccCleanup(zone).removeDhcpHost(net.vni, (await clc.addressing(instanceId)).mac!));
    await cc(zone).addDhcpHost(net.vni, plan.mac, plan.privateIp, plan.hostname);
    saga.add('remove metadata', async () => ccCleanup(zone).removeInstanceMetadata(net.vni, (await clc.addressing(instanceId)).privateIp!));
    await cc(zone).putInstanceMetadata(net.vni, await clc.metadataDoc(instanceId));
    // The zone's rules now include this instance (its groups' ingress and egress), before it boots.
    await applySecurityRules(zone);

    const booted = await placeAndBoot(instanceId, net, LAUNCH_ATTEMPTS);
    saga.add('destroy VM', () => ncCleanup(booted.node).destroyVm(instanceId, false));

    // A public address from the zone's pool (EC2-Classic), NATed on the CC.
    saga.add('release public address', () => releaseInstanceAddressesStep(instanceId));
    await assignLaunchAddressStep(instanceId);

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
    await CancellationScope.nonCancellable(async () => {
      await clc.transition(instanceId, ['pending', 'shutting-down', 'running'], 'terminated',
        { code, message, transition: cancelled ? 'User initiated' : 'Server error' });
      const net = await clc.networkPlan(instanceId).catch(() => undefined);
      if (net) await retireNetwork(net.networkId, zone);
      await applySecurityRules(zone).catch(() => undefined);   // a gone CC reloads its rules on start
    });
    return 'terminated';
  }
}
