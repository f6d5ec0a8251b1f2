// Host agents keep no state of their own: on start each one asks for its
// data plane to be rebuilt from the database.
import { clc, cc, nc } from './lib/hosts';

/**
 * The NC runs exactly the VMs the database places there: strays (from moved
 * or failed launches) are destroyed, and running instances whose VM is gone
 * (the host restarted) are booted again on the capacity they still hold.
 */
export async function reconcileNode(node: string): Promise<{ stray: string[]; restarted: string[] }> {
  const expected = await clc.instancesExpectedOnNode(node);
  const stray = await nc(node).reconcileVms(expected);
  const restarted: string[] = [];
  for (const instanceId of expected) {
    const state = await clc.instanceState(instanceId);
    if (state?.state !== 'running' || (await nc(node).vmStatus(instanceId)) !== 'absent') continue;
    const plan = await clc.bootPlan(instanceId);
    await nc(node).prepareNodeNetwork(await clc.zoneNetworkPlan(plan.zone));
    const files = await nc(node).cacheImage(plan);
    await nc(node).startVm(plan, files);
    restarted.push(instanceId);
  }
  return { stray, restarted };
}

/** The CC's zone network and DHCP table are rebuilt from the database. */
export async function reconcileZone(zone: string): Promise<{ added: number; removed: number }> {
  const net = await clc.zoneNetworkPlan(zone);
  const addrs = await clc.addressesInZone(zone);
  return cc(zone).syncDhcpHosts(net, addrs.map((a) => ({ mac: a.mac, ip: a.ip, hostname: 'ip-' + a.ip.replace(/\./g, '-') })));
}
