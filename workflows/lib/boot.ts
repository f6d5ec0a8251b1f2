// Place an instance on a node and boot it there; a node that is gone (never
// picks up, or stops heartbeating) is left for another, a bounded number of times.
import { log, CancellationScope } from '@temporalio/workflow';
import { clc, cc, ccCleanup, nc, ncBoot, ncCleanup, timeouts } from './hosts';
import { isHostGone, describeFailure } from './failures';
import type { ZoneNetworkPlan } from '../types';

export interface Booted { node: string; ip: string; movedFrom: string[] }

export async function placeAndBoot(instanceId: string, net: ZoneNetworkPlan, attempts: number): Promise<Booted> {
  const exclude: string[] = [];
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const before = attempt > 1 ? await clc.bootPlan(instanceId) : undefined;
    const node = await clc.placeInstance(instanceId, exclude);     // holds capacity on `node`
    const plan = await clc.bootPlan(instanceId);
    if (before && before.mac !== plan.mac) {
      // Moved off a gone node with a new MAC and address: DHCP follows.
      await ccCleanup(net.zone).removeDhcpHost(net.vni, before.mac).catch(() => undefined);
      await ccCleanup(net.zone).removeInstanceMetadata(net.vni, before.privateIp).catch(() => undefined);
      await cc(net.zone).addDhcpHost(net.vni, plan.mac, plan.privateIp, plan.hostname);
      await cc(net.zone).putInstanceMetadata(net.vni, await clc.metadataDoc(instanceId));
    }
    log.info('booting', { instanceId, node, attempt });
    try {
      await nc(node).prepareNodeNetwork(net);
      const files = await nc(node).cacheImage(plan);
      await nc(node).startVm(plan, files);
      const { ip } = await ncBoot(node).waitForBoot(instanceId, timeouts.bootMs);
      return { node, ip, movedFrom: exclude };
    } catch (err) {
      lastError = err;
      // Undo this attempt on this node before anything else happens.
      await CancellationScope.nonCancellable(() => ncCleanup(node).destroyVm(instanceId, false).catch(() => undefined));
      if (!isHostGone(err) || attempt === attempts) throw err;
      log.warn('node gone, moving the launch', { instanceId, node, error: describeFailure(err) });
      await clc.releaseCapacity(instanceId);
      exclude.push(node);
    }
  }
  throw lastError;
}
