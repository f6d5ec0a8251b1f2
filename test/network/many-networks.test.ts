// Twenty private networks at once on one CC and one node, each with two
// guests (veth "VMs" on isolated ports) that lease their address by DHCP:
// members of a network reach each other through the CC, nobody reaches
// another network (no rule allows it). Needs root; traffic stays inside the
// eutk-* namespaces and the test's own underlay bridge.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { destroyHosts, ensureHosts, planHosts, type HostPlan } from '../../activities/network/hosts';
import { ensureGateway, ensureVnet, setDhcpHost, dnsmasqPid } from '../../activities/network/vnet';
import { applySecurityRules, type ZoneRuleSet } from '../../activities/network/securityRules';
import { ip, nsExec, listNetns } from '../../activities/network/ip';

const PREFIX = 'eutk';
const N = 20;
const BUSYBOX = '/usr/bin/busybox';
const vni = (n: number) => 6100 + n;
const subnet = (n: number) => `10.189.${n}.0/24`;
const gwOf = (n: number) => `10.189.${n}.1`;
const vmIp = (n: number, k: number) => `10.189.${n}.${10 + k}`;
const vmNs = (n: number, k: number) => `${PREFIX}-vm${n}x${k}`;
const mac = (n: number, k: number) => `d0:0d:61:00:${n.toString(16).padStart(2, '0')}:0${k}`;

let plan: HostPlan;
let tmp: string;
let script: string;

async function cleanup() {
  for (const ns of await listNetns()) if (ns.startsWith(`${PREFIX}-vm`)) await ip(null, ['netns', 'del', ns]).catch(() => undefined);
  await destroyHosts(PREFIX);
}

async function ping(from: string, to: string, tries: number): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    try { await nsExec(from, BUSYBOX, ['ping', '-c', '1', '-W', '1', to], { timeoutMs: 5_000 }); return true; } catch { /* again */ }
  }
  return false;
}

describe(`${N} networks at once, no cross-talk`, { timeout: 300_000 }, () => {
  before(async () => {
    await cleanup();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'eutk-'));
    script = path.join(tmp, 'udhcpc.sh');
    await fs.writeFile(script, '#!/bin/sh\n[ "$1" = bound ] && ip addr add "$ip/$mask" dev "$interface" && ip route add default via "$router"\nexit 0\n', { mode: 0o755 });
    plan = planHosts(PREFIX, '10.188.0.0/24', 'k-1a', ['nc1']);
    await ensureHosts(plan);
    const cc = plan.cc; const node = plan.nodes[0];
    await nsExec(cc.netns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0']);
    for (let n = 1; n <= N; n++) {
      const stateDir = path.join(tmp, `vb${vni(n)}`);
      await ensureGateway({ netns: cc.netns, vni: vni(n), peers: [node.underlayIp], subnetCidr: subnet(n), gatewayIp: gwOf(n), stateDir });
      await nsExec(cc.netns, 'sysctl', ['-qw', `net.ipv4.conf.vb${vni(n)}.proxy_arp_pvlan=1`, `net.ipv4.conf.vb${vni(n)}.send_redirects=0`]);
      await ensureVnet({ netns: node.netns, vni: vni(n), peers: [cc.underlayIp] });
      for (const k of [1, 2]) {
        const ns = vmNs(n, k); const port = `p${n}x${k}`;
        await ip(null, ['netns', 'add', ns]);
        await ip(ns, ['link', 'set', 'dev', 'lo', 'up']);
        await ip(node.netns, ['link', 'add', 'name', port, 'type', 'veth', 'peer', 'name', 'eth0', 'address', mac(n, k), 'netns', ns]);
        await ip(node.netns, ['link', 'set', 'dev', port, 'master', `vb${vni(n)}`, 'up']);
        await ip(node.netns, ['link', 'set', 'dev', port, 'type', 'bridge_slave', 'isolated', 'on']);
        await ip(ns, ['link', 'set', 'dev', 'eth0', 'up']);
        await setDhcpHost(stateDir, mac(n, k), vmIp(n, k), `vm${n}x${k}`);
      }
    }
    // One group per network, admitting its own members (the default group's rule).
    const desired: ZoneRuleSet = { controlPlane: ['10.188.0.0/24'], instances: [], groups: [] };
    for (let n = 1; n <= N; n++) {
      const g = `sg-net${n}`;
      desired.groups.push({ groupId: g, memberIps: [vmIp(n, 1), vmIp(n, 2)], ingress: [{ protocol: '-1', fromPort: -1, toPort: -1, sourceGroupId: g }], egress: [{ protocol: '-1', fromPort: -1, toPort: -1, cidr: '0.0.0.0/0' }] });
      for (const k of [1, 2]) desired.instances.push({ instanceId: `i-000${n.toString(16).padStart(3, '0')}${k}0`, privateIp: vmIp(n, k), groupIds: [g] });
    }
    await applySecurityRules(cc.netns, desired);
  });
  after(async () => { await cleanup(); if (tmp) await fs.rm(tmp, { recursive: true, force: true }); });

  it('every guest leases its fixed address from its own network\'s DHCP', async () => {
    const dnsmasqs = new Set<number>();
    await Promise.all(Array.from({ length: N }, (_, i) => i + 1).flatMap((n) => [1, 2].map(async (k) => {
      await nsExec(vmNs(n, k), BUSYBOX, ['udhcpc', '-i', 'eth0', '-f', '-n', '-q', '-t', '8', '-T', '1', '-s', script], { timeoutMs: 30_000 });
      const addrs = await nsExec(vmNs(n, k), 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0']);
      assert.match(addrs, new RegExp(`inet ${vmIp(n, k).replace(/\./g, '\\.')}/24`), `vm${n}x${k} got its address`);
    })));
    for (let n = 1; n <= N; n++) dnsmasqs.add((await dnsmasqPid(path.join(tmp, `vb${vni(n)}`)))!);
    assert.equal(dnsmasqs.size, N, 'one DHCP server per network');
  });

  it('members reach each other; no guest reaches another network', async () => {
    const results = await Promise.all(Array.from({ length: N }, (_, i) => i + 1).map(async (n) => {
      const next = (n % N) + 1;
      return {
        n,
        own: await ping(vmNs(n, 1), vmIp(n, 2), 4),
        other: await ping(vmNs(n, 1), vmIp(next, 1), 1),
      };
    }));
    for (const r of results) {
      assert.ok(r.own, `network ${r.n}: members reach each other`);
      assert.ok(!r.other, `network ${r.n}: no cross-talk to network ${(r.n % N) + 1}`);
    }
  });
});
