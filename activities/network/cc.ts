// CC activities (task queue `cc.<zone>`): the zone's network on the CC host.
// Each is an idempotent adapter over the data plane in the CC's namespace.
import { ensureGateway, setDhcpHost, removeDhcpHost, listDhcpHosts } from './vnet';
import type { ZoneNetworkPlan } from '../../workflows/types';

export interface CcHost { zone: string; netns: string; stateDirFor: (vni: number) => string }

export function createCcActivities(host: CcHost) {
  const gateway = (plan: ZoneNetworkPlan) => ({
    netns: host.netns, vni: plan.vni, peers: Object.values(plan.nodeUnderlayIps),
    subnetCidr: plan.subnet, gatewayIp: plan.gatewayIp, stateDir: host.stateDirFor(plan.vni),
  });
  return {
    /** Bridge + VXLAN to every node + gateway address + DHCP server, left alone when already so. */
    async ensureZoneNetwork(plan: ZoneNetworkPlan): Promise<void> {
      await ensureGateway(gateway(plan));
    },
    async addDhcpHost(vni: number, mac: string, ip: string, hostname: string): Promise<void> {
      await setDhcpHost(host.stateDirFor(vni), mac, ip, hostname);
    },
    async removeDhcpHost(vni: number, mac: string): Promise<void> {
      await removeDhcpHost(host.stateDirFor(vni), mac);
    },
    /** Reconcile: the DHCP table becomes exactly `entries` (from the database). */
    async syncDhcpHosts(plan: ZoneNetworkPlan, entries: { mac: string; ip: string; hostname: string }[]): Promise<{ added: number; removed: number }> {
      await ensureGateway(gateway(plan));
      const dir = host.stateDirFor(plan.vni);
      const current = await listDhcpHosts(dir);
      const want = new Map(entries.map((e) => [e.mac, e]));
      let removed = 0; let added = 0;
      for (const c of current) if (!want.has(c.mac)) { await removeDhcpHost(dir, c.mac); removed++; }
      for (const e of entries) {
        const c = current.find((x) => x.mac === e.mac);
        if (!c || c.ip !== e.ip || c.hostname !== e.hostname) { await setDhcpHost(dir, e.mac, e.ip, e.hostname); added++; }
      }
      return { added, removed };
    },
  };
}
export type CcActivities = ReturnType<typeof createCcActivities>;
