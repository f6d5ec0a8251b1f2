// Host agents keep no state of their own: on start each one asks for its
// data plane to be rebuilt from the database.
import { clc, cc, nc } from './lib/hosts';
import { retireNetwork } from './lib/networks';
import { applySecurityRules } from './applySecurityRules';
import { syncZoneNat } from './associateAddress';

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
    await nc(node).prepareNodeNetwork(await clc.networkPlan(instanceId));
    const files = await nc(node).cacheImage(plan);
    await nc(node).startVm(plan, files);
    restarted.push(instanceId);
  }
  return { stray, restarted };
}

/** The CC's networks, DHCP tables and metadata documents are rebuilt from the database. */
export async function reconcileZone(zone: string): Promise<{ networks: number; added: number; removed: number }> {
  let added = 0; let removed = 0; let networks = 0;
  for (const plan of await clc.zoneNetworkPlans(zone)) {
    if (plan.retired) { await retireNetwork(plan.networkId, zone); continue; }
    networks++;
    await cc(zone).ensureZoneNetwork(plan);
    const addrs = await clc.addressesInNetwork(plan.networkId);
    const r = await cc(zone).syncDhcpHosts(plan, addrs.map((a) => ({ mac: a.mac, ip: a.ip, hostname: 'ip-' + a.ip.replace(/\./g, '-') })));
    added += r.added; removed += r.removed;
    await cc(zone).syncInstanceMetadata(plan.vni, await clc.metadataDocsInNetwork(plan.networkId));
  }
  await syncZoneNat(zone);
  await applySecurityRules(zone);
  return { networks, added, removed };
}
