// CC activities (task queue `cc.<zone>`): the zone's network on the CC host.
// Each is an idempotent adapter over the data plane in the CC's namespace.
import { ensureGateway, removeGateway, setDhcpHost, removeDhcpHost, listDhcpHosts } from './vnet';
import { ensureMetadataService, ensureMetadataRedirect, removeMetadataRedirect, putInstanceMetadata, removeInstanceMetadata, syncInstanceMetadata } from './metadata';
import { nsExec } from './ip';
import { keyedMutex } from '../../lib/keyedMutex';
import type { InstanceMetadataDoc } from '../../metadata/doc';
import type { ZoneNetworkPlan } from '../../workflows/types';
import { applyNat, syncNat, type NatChange, type NatEntry } from './elasticIps';
import { config } from '../../lib/config';
import { applySecurityRules, type ZoneRuleSet } from './securityRules';

export interface CcHost { zone: string; netns: string; stateDirFor: (vni: number) => string; /** the CC's own state dir (metadata documents) */ hostDir: string }

export function createCcActivities(host: CcHost) {
  const perNetwork = keyedMutex();
  const gateway = (plan: ZoneNetworkPlan) => ({
    netns: host.netns, vni: plan.vni, peers: Object.values(plan.nodeUnderlayIps),
    subnetCidr: plan.subnet, gatewayIp: plan.gatewayIp, stateDir: host.stateDirFor(plan.vni),
  });
  return {
    ...createCcNatActivities(host),
    /** Security groups: the CC's `inet euca_sg` table becomes exactly `desired` (one nft transaction). */
    async applySecurityRules(desired: ZoneRuleSet): Promise<{ rules: number; ms: number; skipped?: boolean }> {
      return applySecurityRules(host.netns, desired);
    },
    /** Bridge + VXLAN to every node + gateway address + DHCP server, left alone when already so. */
    async ensureZoneNetwork(plan: ZoneNetworkPlan): Promise<void> {
      await perNetwork(String(plan.vni), () => ensureGateway(gateway(plan)));
      // Private-VLAN routing: guests never reach each other at L2 (isolated
      // ports on the nodes); the CC answers ARP for the whole subnet and
      // routes, so every guest packet meets the security-group rules here.
      await nsExec(host.netns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0',
        `net.ipv4.conf.vb${plan.vni}.send_redirects=0`, `net.ipv4.conf.vb${plan.vni}.proxy_arp_pvlan=1`]);
      // 169.254.169.254 from this network lands on the CC's metadata service.
      await ensureMetadataService(host.netns, host.hostDir);
      await ensureMetadataRedirect(host.netns, plan.vni, plan.gatewayIp);
    },
    /** The network's last instance is gone: gateway, DHCP, metadata redirect and documents go. */
    async removeNetwork(plan: ZoneNetworkPlan): Promise<void> {
      await perNetwork(String(plan.vni), async () => {
        await removeMetadataRedirect(host.netns, plan.vni);
        await syncInstanceMetadata(host.hostDir, plan.vni, []);
        await removeGateway({ netns: host.netns, vni: plan.vni, stateDir: host.stateDirFor(plan.vni) });
      });
    },
    async putInstanceMetadata(vni: number, doc: InstanceMetadataDoc): Promise<void> {
      await putInstanceMetadata(host.hostDir, vni, doc.privateIp, doc);
    },
    async removeInstanceMetadata(vni: number, ip: string): Promise<void> {
      await removeInstanceMetadata(host.hostDir, vni, ip);
    },
    async syncInstanceMetadata(vni: number, docs: InstanceMetadataDoc[]) {
      return syncInstanceMetadata(host.hostDir, vni, docs);
    },
    async addDhcpHost(vni: number, mac: string, ip: string, hostname: string): Promise<void> {
      await setDhcpHost(host.stateDirFor(vni), mac, ip, hostname);
    },
    async removeDhcpHost(vni: number, mac: string): Promise<void> {
      await removeDhcpHost(host.stateDirFor(vni), mac);
    },
    /** Reconcile: the DHCP table becomes exactly `entries` (from the database). */
    async syncDhcpHosts(plan: ZoneNetworkPlan, entries: { mac: string; ip: string; hostname: string }[]): Promise<{ added: number; removed: number }> {
      await perNetwork(String(plan.vni), () => ensureGateway(gateway(plan)));
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
/** Public addresses (elastic IPs) on the CC: NAT in its namespace (activities/network/elasticIps.ts). */
export function createCcNatActivities(host: Pick<CcHost, 'netns'>) {
  return {
    /** Apply these changes (one older than the last applied to its address is skipped). */
    async applyNat(changes: NatChange[]) {
      return applyNat(host.netns, changes, { privateEgress: config.privateEgress });
    },
    /** Reconcile: exactly `entries` (the database's state as of `seq`) are programmed. */
    async syncNat(entries: NatEntry[], seq: number) {
      return syncNat(host.netns, entries, seq, { privateEgress: config.privateEgress });
    },
  };
}
export type CcNatActivities = ReturnType<typeof createCcNatActivities>;
// The NAT activities are registered with the others but typed apart (workflows use
// their own proxy for them, workflows/associateAddress.ts), so fakes of the CC need not implement them.
export type CcActivities = Omit<ReturnType<typeof createCcActivities>, keyof CcNatActivities>;
