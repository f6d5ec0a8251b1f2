// Security groups enforced on the CC (activities/network/securityRules.ts), on a real data plane
// built from namespaces. Needs root. Everything lives in eutr-* namespaces and on loopback.
//
//   eutr-nc1 (an NC)                         eutr-cc (the CC: routes, proxy_arp_pvlan, nft)          eutr-ext
//   vb101: ta1 ta2 (isolated) + vx101 ==VXLAN over ul0== vx101 in vb101 10.201.1.1/24              (outside)
//          |    |                                       vb102 10.201.2.1/24: tb1 tb2 (isolated)     10.201.8.2
//   eutr-a1 eutr-a2 (10.201.1.11/.12)                   ext0 10.201.8.1/24 ─────────────────────────┘
//                                                       ul0  10.201.9.1/24 (control plane; nc1 is .11)
//   eutr-b1 eutr-b2 (10.201.2.11/.12) on the CC's vb102 as isolated ports.
//
// Guests can't reach each other at L2 (isolated ports, VXLAN only to the CC); the CC answers ARP for
// the subnets and routes every guest packet through its forward hook, where euca_sg filters statefully.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { CommandError, ip, listNetns, nsExec, run } from '../../activities/network/ip';
import {
  applySecurityRules, listSecurityRules, removeSecurityRules, renderSecurityRules, SG_TABLE,
  type SgRule, type ZoneRuleGroup, type ZoneRuleSet,
} from '../../activities/network/securityRules';
import { ensureMetadataRedirect, removeMetadataFirewall } from '../../activities/network/metadata';
import { zoneRuleSet, zonesOfGroup } from '../../db/securityRules';
import { closePool, getPool } from '../../db/pool';
import crypto from 'node:crypto';

const PREFIX = 'eutr-';
const CC = 'eutr-cc';
const NC = 'eutr-nc1';
const EXT = 'eutr-ext';
const BB = '/usr/bin/busybox';
const VM = {
  a1: { ns: 'eutr-a1', ip: '10.201.1.11', id: 'i-000000a1' },
  a2: { ns: 'eutr-a2', ip: '10.201.1.12', id: 'i-000000a2' },
  b1: { ns: 'eutr-b1', ip: '10.201.2.11', id: 'i-000000b1' },
  b2: { ns: 'eutr-b2', ip: '10.201.2.12', id: 'i-000000b2' },
};
const EXT_IP = '10.201.8.2';
const CC_UL = '10.201.9.1';
const NC_UL = '10.201.9.11';
const G_DEF = 'sg-00000000000000def';
const G_WEB = 'sg-00000000000000eb0';
const PORT = 8080;

const listeners: ChildProcess[] = [];
const latencies: { what: string; rules: number; ms: number }[] = [];

// ---------------------------------------------------------------- topology

async function killPidsIn(ns: string): Promise<void> {
  // processes left in one of OUR namespaces (listeners of an aborted run): ended by pid
  const out = await run('ip', ['netns', 'pids', ns]).catch(() => '');
  for (const p of out.split(/\s+/).filter(Boolean)) {
    try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ }
  }
}

async function cleanup(): Promise<void> {
  for (const l of listeners.splice(0)) if (l.pid && l.exitCode === null) { try { l.kill('SIGKILL'); } catch { /* gone */ } }
  for (const ns of (await listNetns()).filter((n) => n.startsWith(PREFIX))) {
    await killPidsIn(ns);
    await ip(null, ['netns', 'del', ns]).catch(() => undefined);
  }
}

async function addNs(ns: string): Promise<void> {
  await ip(null, ['netns', 'add', ns]);
  await ip(ns, ['link', 'set', 'dev', 'lo', 'up']);
}

const sysctl = (ns: string, kv: string) => nsExec(ns, 'sysctl', ['-qw', kv]);

/** A "VM": namespace with eth0 (veth) whose peer `port` is an isolated port of `bridge` in `hostNs`. */
async function addVm(hostNs: string, bridge: string, port: string, vm: { ns: string; ip: string }, gw: string): Promise<void> {
  await addNs(vm.ns);
  await ip(hostNs, ['link', 'add', 'name', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vm.ns]);
  await ip(hostNs, ['link', 'set', 'dev', port, 'master', bridge]);
  await ip(hostNs, ['link', 'set', 'dev', port, 'type', 'bridge_slave', 'isolated', 'on']);
  await ip(hostNs, ['link', 'set', 'dev', port, 'up']);
  await ip(vm.ns, ['addr', 'add', `${vm.ip}/24`, 'dev', 'eth0']);
  await ip(vm.ns, ['link', 'set', 'dev', 'eth0', 'mtu', '1400', 'up']);
  await ip(vm.ns, ['route', 'add', 'default', 'via', gw]);
}

async function bridge(ns: string, name: string): Promise<void> {
  await ip(ns, ['link', 'add', 'name', name, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
  await ip(ns, ['link', 'set', 'dev', name, 'up']);
}

async function buildTopology(): Promise<void> {
  for (const ns of [CC, NC, EXT]) await addNs(ns);
  // underlay CC <-> NC (stands for the control plane)
  await ip(CC, ['link', 'add', 'name', 'ul0', 'type', 'veth', 'peer', 'name', 'ul0', 'netns', NC]);
  await ip(CC, ['addr', 'add', `${CC_UL}/24`, 'dev', 'ul0']);
  await ip(NC, ['addr', 'add', `${NC_UL}/24`, 'dev', 'ul0']);
  await ip(CC, ['link', 'set', 'dev', 'ul0', 'up']);
  await ip(NC, ['link', 'set', 'dev', 'ul0', 'up']);
  await ip(NC, ['route', 'add', 'default', 'via', CC_UL]); // so that only the rules keep guests out
  // outside host
  await ip(CC, ['link', 'add', 'name', 'ext0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', EXT]);
  await ip(CC, ['addr', 'add', '10.201.8.1/24', 'dev', 'ext0']);
  await ip(CC, ['link', 'set', 'dev', 'ext0', 'up']);
  await ip(EXT, ['addr', 'add', `${EXT_IP}/24`, 'dev', 'eth0']);
  await ip(EXT, ['link', 'set', 'dev', 'eth0', 'up']);
  await ip(EXT, ['route', 'add', 'default', 'via', '10.201.8.1']);
  // network A: CC bridge + VXLAN to the NC, whose bridge holds the VMs as isolated ports
  await bridge(CC, 'vb101');
  await ip(CC, ['addr', 'add', '10.201.1.1/24', 'dev', 'vb101']);
  await bridge(NC, 'vb101');
  for (const [ns, local, remote] of [[CC, CC_UL, NC_UL], [NC, NC_UL, CC_UL]] as const) {
    await ip(ns, ['link', 'add', 'name', 'vx101', 'type', 'vxlan', 'id', '101', 'dstport', '4789', 'dev', 'ul0', 'local', local, 'remote', remote]);
    await ip(ns, ['link', 'set', 'dev', 'vx101', 'master', 'vb101']);
    await ip(ns, ['link', 'set', 'dev', 'vx101', 'up']);
  }
  await addVm(NC, 'vb101', 'ta1', VM.a1, '10.201.1.1');
  await addVm(NC, 'vb101', 'ta2', VM.a2, '10.201.1.1');
  // network B: VMs directly on the CC's bridge, isolated ports (the same L2/L3 behaviour)
  await bridge(CC, 'vb102');
  await ip(CC, ['addr', 'add', '10.201.2.1/24', 'dev', 'vb102']);
  await addVm(CC, 'vb102', 'tb1', VM.b1, '10.201.2.1');
  await addVm(CC, 'vb102', 'tb2', VM.b2, '10.201.2.1');
  // the CC routes for the guests and answers ARP for their whole subnet
  await sysctl(CC, 'net.ipv4.ip_forward=1');
  for (const dev of ['all', 'default', 'vb101', 'vb102']) await sysctl(CC, `net.ipv4.conf.${dev}.send_redirects=0`);
  for (const dev of ['vb101', 'vb102']) await sysctl(CC, `net.ipv4.conf.${dev}.proxy_arp_pvlan=1`);
  // a listener on every VM and outside
  for (const ns of [...Object.values(VM).map((v) => v.ns), EXT]) {
    const l = spawn('ip', ['netns', 'exec', ns, BB, 'nc', '-ll', '-p', String(PORT), '-e', '/bin/echo', 'OPEN'], { stdio: 'ignore' });
    listeners.push(l);
  }
  await new Promise((r) => setTimeout(r, 300));
}

// ---------------------------------------------------------------- probes

async function ping(fromNs: string, to: string, tries = 1): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    try {
      await nsExec(fromNs, BB, ['ping', '-c', '1', '-W', '1', to], { timeoutMs: 5_000 });
      return true;
    } catch (e) {
      if (!(e instanceof CommandError)) throw e;
    }
  }
  return false;
}

/** One `busybox nc` connect (stdin /dev/null), resolving to what it printed. */
function ncOnce(fromNs: string, to: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn('ip', ['netns', 'exec', fromNs, BB, 'nc', '-w', '1', to, String(port)], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    const kill = setTimeout(() => c.kill('SIGKILL'), 5_000);
    c.stdout.on('data', (d) => { out += String(d); });
    c.on('close', () => { clearTimeout(kill); resolve(out); });
    c.on('error', () => { clearTimeout(kill); resolve(out); });
  });
}

/** TCP connect to `to`:`port` and read the listener's greeting: the whole round trip works. */
async function tcp(fromNs: string, to: string, port = PORT, tries = 1): Promise<boolean> {
  for (let i = 0; i < tries; i++) if ((await ncOnce(fromNs, to, port)).includes('OPEN')) return true;
  return false;
}

// ---------------------------------------------------------------- desired state

const all = (peer: Partial<SgRule>): SgRule => ({ protocol: '-1', fromPort: -1, toPort: -1, ...peer });
const tcpRule = (port: number, peer: Partial<SgRule>): SgRule => ({ protocol: 'tcp', fromPort: port, toPort: port, ...peer });

let groups: Record<string, ZoneRuleGroup>;
let membership: Record<keyof typeof VM, string[]>;
let controlPlane: string[];

function resetDesired(): void {
  groups = {
    // the default group: members reach each other, egress anywhere
    [G_DEF]: { groupId: G_DEF, memberIps: [], ingress: [all({ sourceGroupId: G_DEF })], egress: [all({ cidr: '0.0.0.0/0' })] },
    // a group with no ingress yet
    [G_WEB]: { groupId: G_WEB, memberIps: [], ingress: [], egress: [all({ cidr: '0.0.0.0/0' })] },
  };
  membership = { a1: [G_DEF], b1: [G_DEF], a2: [G_WEB], b2: [G_WEB] };
  controlPlane = ['10.201.9.0/24'];
}

function desired(extra: Partial<ZoneRuleSet> = {}): ZoneRuleSet {
  const gs = Object.values(groups).map((g) => ({ ...g, memberIps: [] as string[] }));
  const instances = (Object.keys(VM) as (keyof typeof VM)[]).map((k) => ({ instanceId: VM[k].id, privateIp: VM[k].ip, groupIds: membership[k] }));
  for (const i of instances) for (const gid of i.groupIds) gs.find((g) => g.groupId === gid)!.memberIps.push(i.privateIp);
  return { controlPlane, instances, groups: gs, ...extra };
}

async function apply(what: string, d = desired()): Promise<void> {
  const r = await applySecurityRules(CC, d);
  latencies.push({ what, rules: r.rules, ms: r.ms });
  assert.ok(r.ms < 2_000, `apply took ${r.ms} ms`);
}

// ---------------------------------------------------------------- tests

describe('security groups enforced on the CC (isolated ports + proxy_arp_pvlan + inet forward)', { timeout: 240_000 }, () => {
  before(async () => {
    await cleanup(); // stale eutr-* objects of an earlier run
    await buildTopology();
    resetDesired();
  });

  beforeEach(() => resetDesired());

  after(async () => {
    await closePool().catch(() => undefined);
    await cleanup().catch((e) => console.error('cleanup failed', e));
    if (latencies.length) {
      console.log('# apply latency (render + one nft transaction):');
      for (const l of latencies) console.log(`#   ${l.what.padEnd(44)} ${String(l.rules).padStart(6)} rules ${l.ms.toFixed(1).padStart(8)} ms`);
    }
  });

  it('without the table the topology routes everything through the CC (positive control)', async () => {
    assert.equal(await ping(VM.a1.ns, VM.a2.ip, 3), true, 'a1 -> a2 (same network, via the CC)');
    assert.equal(await ping(VM.a1.ns, VM.b1.ip, 3), true, 'a1 -> b1 (across networks)');
    assert.equal(await ping(VM.b1.ns, VM.b2.ip, 3), true, 'b1 -> b2');
    assert.equal(await tcp(EXT, VM.a2.ip, PORT, 3), true, 'outside -> a2');
    assert.equal(await ping(VM.a1.ns, NC_UL, 3), true, 'a1 -> the underlay (only the rules will stop this)');
    // a1's neighbour entry for a2 is the CC's MAC: guests never talk at L2
    const neigh = await ip(VM.a1.ns, ['neigh', 'show', VM.a2.ip]);
    const ccMac = JSON.parse(await ip(CC, ['-j', 'link', 'show', 'dev', 'vb101']))[0].address as string;
    assert.match(neigh, new RegExp(ccMac), `a1 resolves a2 to the CC (${neigh.trim()})`);
  });

  it('coexists with the metadata table (ip euca_md) in the same namespace', async () => {
    await ensureMetadataRedirect(CC, 101, '10.201.1.1', 18080);
    await apply('default groups');
    const tables = await nsExec(CC, 'nft', ['list', 'tables']);
    assert.match(tables, /table ip euca_md/);
    assert.match(tables, new RegExp(`table inet ${SG_TABLE}`));
  });

  it('default group: members reach each other across networks, outsiders do not', async () => {
    assert.equal(await ping(VM.a1.ns, VM.b1.ip, 3), true, 'a1 -> b1 (both default, two networks)');
    assert.equal(await ping(VM.b1.ns, VM.a1.ip, 3), true, 'b1 -> a1');
    assert.equal(await tcp(VM.b1.ns, VM.a1.ip, PORT, 2), true, 'b1 -> a1 tcp');
    assert.equal(await ping(VM.a2.ns, VM.a1.ip), false, 'a2 (web) -> a1 (default)');
    assert.equal(await tcp(EXT, VM.a1.ip), false, 'outside -> a1');
    assert.equal(await ping(VM.a1.ns, VM.a2.ip), false, 'a1 -> a2: web has no ingress');
    assert.equal(await ping(VM.a2.ns, VM.b2.ip), false, 'a2 -> b2: web members have no self rule');
  });

  it('replies of allowed flows pass; egress to anywhere works and its replies come back', async () => {
    assert.equal(await tcp(VM.a1.ns, EXT_IP, PORT, 2), true, 'a1 -> outside (egress all)');
    assert.equal(await ping(VM.b2.ns, EXT_IP, 2), true, 'b2 -> outside, reply passes although web has no ingress');
  });

  it('a blocked connection fails fast (tcp reset / icmp admin-prohibited, not a timeout)', async () => {
    const t0 = performance.now();
    assert.equal(await tcp(VM.a2.ns, VM.a1.ip), false);
    const dt = performance.now() - t0;
    assert.ok(dt < 700, `refused after ${dt.toFixed(0)} ms`);
  });

  it('a CIDR rule opens tcp/8080 from network B only; revoking closes it again', async () => {
    groups[G_WEB]!.ingress.push(tcpRule(PORT, { cidr: '10.201.2.0/24' }));
    await apply('+ tcp 8080 from 10.201.2.0/24');
    assert.equal(await tcp(VM.b1.ns, VM.a2.ip, PORT, 2), true, 'b1 (network B) -> a2:8080');
    assert.equal(await tcp(VM.a1.ns, VM.a2.ip), false, 'a1 (network A) -> a2:8080');
    assert.equal(await tcp(VM.b1.ns, VM.a2.ip, PORT + 1), false, 'b1 -> a2:8081');
    assert.equal(await ping(VM.b1.ns, VM.a2.ip), false, 'b1 -> a2 icmp');
    groups[G_WEB]!.ingress.pop();
    await apply('- tcp 8080 from 10.201.2.0/24');
    assert.equal(await tcp(VM.b1.ns, VM.a2.ip), false, 'revoked: b1 -> a2:8080');
  });

  it('replies pass even when the answering instance has no egress rule at all', async () => {
    groups[G_WEB]!.ingress.push(tcpRule(PORT, { cidr: '0.0.0.0/0' }));
    groups[G_WEB]!.egress = [];
    await apply('web: tcp 8080 in, no egress');
    assert.equal(await tcp(VM.b1.ns, VM.a2.ip, PORT, 2), true, 'b1 -> a2:8080 and back');
    assert.equal(await tcp(EXT, VM.b2.ip, PORT, 2), true, 'outside -> b2:8080 and back');
    assert.equal(await ping(VM.a2.ns, EXT_IP), false, 'a2 may not start anything');
    assert.equal(await tcp(VM.a2.ns, VM.b1.ip), false, 'a2 -> b1: a2 may not start anything');
    resetDesired();
    await apply('reset');
  });

  it('icmp rules: echo-request by type, all icmp by -1, other types refused', async () => {
    groups[G_WEB]!.ingress.push({ protocol: 'icmp', fromPort: 8, toPort: -1, cidr: '10.201.8.0/24' });
    await apply('+ icmp echo-request from outside');
    assert.equal(await ping(EXT, VM.a2.ip, 2), true, 'outside pings a2');
    assert.equal(await ping(VM.a1.ns, VM.a2.ip), false, 'a1 is not 10.201.8.0/24');
    groups[G_WEB]!.ingress = [{ protocol: 'icmp', fromPort: 0, toPort: -1, cidr: '0.0.0.0/0' }]; // echo-reply only
    await apply('icmp type 0 only');
    assert.equal(await ping(EXT, VM.a2.ip), false, 'echo-request is not type 0');
    groups[G_WEB]!.ingress = [{ protocol: 'icmp', fromPort: -1, toPort: -1, cidr: '0.0.0.0/0' }];
    await apply('all icmp');
    assert.equal(await ping(VM.a1.ns, VM.a2.ip, 2), true, 'a1 pings a2');
    assert.equal(await tcp(VM.a1.ns, VM.a2.ip), false, 'icmp opens no tcp');
    resetDesired();
    await apply('reset');
  });

  it('group-to-group rule across networks: web admits tcp 8080 from members of default', async () => {
    groups[G_WEB]!.ingress.push(tcpRule(PORT, { sourceGroupId: G_DEF }));
    await apply('+ tcp 8080 from group default');
    assert.equal(await tcp(VM.a1.ns, VM.b2.ip, PORT, 2), true, 'a1 (default, network A) -> b2 (web, network B)');
    assert.equal(await tcp(VM.b1.ns, VM.a2.ip, PORT, 2), true, 'b1 (default, network B) -> a2 (web, network A)');
    assert.equal(await tcp(VM.a2.ns, VM.b2.ip), false, 'a2 (web) is not in default');
    assert.equal(await tcp(EXT, VM.b2.ip), false, 'outside is not in default');
    // membership moves: b1 leaves default (terminated, say) -> its access goes with it
    membership.b1 = [];
    await apply('b1 in no group');
    assert.equal(await tcp(VM.b1.ns, VM.a2.ip), false, 'b1 no longer a member');
    assert.equal(await ping(VM.b1.ns, VM.a1.ip), false, 'b1 without groups: no egress at all');
    resetDesired();
    await apply('reset');
  });

  it('egress rules restrict outbound traffic', async () => {
    groups[G_DEF]!.egress = [tcpRule(PORT, { cidr: '10.201.8.0/24' })];
    await apply('default egress: tcp 8080 to outside only');
    assert.equal(await tcp(VM.a1.ns, EXT_IP, PORT, 2), true, 'a1 -> outside:8080');
    assert.equal(await ping(VM.a1.ns, EXT_IP), false, 'a1 -> outside icmp');
    assert.equal(await tcp(VM.a1.ns, EXT_IP, PORT + 1), false, 'a1 -> outside:8081');
    assert.equal(await ping(VM.a1.ns, VM.b1.ip), false, 'a1 -> b1: b1 would admit it, a1 may not send it');
    assert.equal(await ping(VM.b1.ns, EXT_IP), false, 'b1 (same group) -> outside icmp');
    groups[G_DEF]!.egress.push(all({ sourceGroupId: G_DEF }));
    await apply('+ egress all to group default');
    assert.equal(await ping(VM.a1.ns, VM.b1.ip, 2), true, 'a1 -> b1 by group egress');
    assert.equal(await ping(VM.a1.ns, VM.a2.ip), false, 'a2 is not in default');
    resetDesired();
    await apply('reset');
  });

  it('the control plane is unreachable even with egress to anywhere', async () => {
    assert.equal(await ping(VM.a1.ns, NC_UL), false, 'a1 -> an NC underlay address (routed)');
    assert.equal(await tcp(VM.b1.ns, NC_UL), false, 'b1 -> NC underlay tcp');
    assert.equal(await ping(VM.a1.ns, CC_UL), false, "a1 -> the CC's own underlay address (input)");
    assert.equal(await ping(VM.a1.ns, EXT_IP, 2), true, 'while the outside is reachable');
    controlPlane = ['10.201.9.0/24', EXT_IP];
    await apply('control plane += outside host');
    assert.equal(await ping(VM.a1.ns, EXT_IP), false, 'a single address in the control-plane set');
    resetDesired();
    await apply('reset');
  });

  it('a source that is no known instance is dropped (spoofing, or not yet applied)', async () => {
    await ip(VM.b2.ns, ['addr', 'add', '10.201.2.99/24', 'dev', 'eth0']);
    try {
      assert.equal(await ping(VM.b2.ns, EXT_IP, 2), true);
      const spoofed = await nsExec(VM.b2.ns, BB, ['ping', '-c', '1', '-W', '1', '-I', '10.201.2.99', EXT_IP]).then(() => true, () => false);
      assert.equal(spoofed, false, 'from an address no instance holds');
    } finally {
      await ip(VM.b2.ns, ['addr', 'del', '10.201.2.99/24', 'dev', 'eth0']);
    }
  });

  it('idempotent, atomic replacement; an older generation never overwrites a newer one', async () => {
    await apply('gen 10', desired({ generation: 10 }));
    const a = await listSecurityRules(CC);
    await apply('gen 10 again', desired({ generation: 10 }));
    assert.equal(await listSecurityRules(CC), a, 'same state, same table');
    groups[G_WEB]!.ingress.push(tcpRule(PORT, { cidr: '0.0.0.0/0' }));
    const stale = await applySecurityRules(CC, desired({ generation: 9 }));
    assert.equal(stale.skipped, true);
    assert.equal(await tcp(EXT, VM.a2.ip), false, 'the older state was not loaded');
    await apply('gen 11', desired({ generation: 11 }));
    assert.equal(await tcp(EXT, VM.a2.ip, PORT, 2), true, 'the newer one is');
    // a bad state is refused before nft runs; the loaded table stays as it was
    await assert.rejects(applySecurityRules(CC, desired({ generation: 12, controlPlane: ['10.0.0.0/33'] })));
    await assert.rejects(applySecurityRules(CC, { ...desired({ generation: 12 }), instances: [{ instanceId: 'i-1;flush ruleset', privateIp: '10.0.0.1', groupIds: [] }] }));
    assert.equal(await tcp(EXT, VM.a2.ip, PORT, 2), true);
    // an unrenderable permission (bad row) is left out -- that only narrows -- and the rest applies
    groups[G_WEB]!.ingress = [{ protocol: 'gre', fromPort: -1, toPort: -1, cidr: '0.0.0.0/0' }, tcpRule(PORT, { cidr: '10.201.8.300/24' }), tcpRule(PORT, { cidr: '10.201.2.0/24' })];
    const r = await applySecurityRules(CC, desired({ generation: 12 }));
    assert.equal(r.ignored, 2);
    assert.equal(await tcp(EXT, VM.a2.ip), false, 'the broken rules admit nothing');
    assert.equal(await tcp(VM.b1.ns, VM.a2.ip, PORT, 2), true, 'the good one works');
    resetDesired();
    await apply('reset', desired({ generation: 13 }));
  });

  it('1,000 rules and 300 instances: one fast transaction, semantics intact', async () => {
    const big = desired({ generation: 20 });
    const web = big.groups.find((g) => g.groupId === G_WEB)!;
    for (let i = 0; i < 1000; i++) web.ingress.push(tcpRule(10000 + i, { cidr: `172.${16 + (i >> 8)}.${i & 255}.0/24` }));
    web.ingress.push(tcpRule(PORT, { sourceGroupId: G_DEF }));
    for (let i = 0; i < 300; i++) {
      const gid = `sg-${(i % 30).toString(16).padStart(17, '0')}`;
      big.instances.push({ instanceId: `i-${(0x1000 + i).toString(16).padStart(8, '0')}`, privateIp: `10.202.${i >> 7}.${(i & 127) + 1}`, groupIds: [gid, G_WEB] });
      let g = big.groups.find((x) => x.groupId === gid);
      if (!g) big.groups.push((g = { groupId: gid, memberIps: [], ingress: [all({ sourceGroupId: gid }), tcpRule(22, { cidr: '0.0.0.0/0' })], egress: [all({ cidr: '0.0.0.0/0' })] }));
      g.memberIps.push(`10.202.${i >> 7}.${(i & 127) + 1}`);
    }
    assert.ok(renderSecurityRules(big).rules > 1000);
    await apply('1,000 rules, 304 instances', big);
    assert.equal(await tcp(VM.a1.ns, VM.a2.ip, PORT, 2), true, 'group rule still works');
    assert.equal(await tcp(EXT, VM.a2.ip), false, 'the outside is in no rule for 8080');
    resetDesired();
    await apply('reset', desired({ generation: 21 }));
  });

  it('from the database: zoneRuleSet(zone) -> applySecurityRules (skipped without a database)', async (t) => {
    // Only a database named on purpose (npm test sets MYSQL_URL to the test cloud's): never the default cloud's.
    if (!process.env.MYSQL_URL) { t.skip('MYSQL_URL not set'); return; }
    const pool = getPool();
    try {
      await pool.query('SELECT 1 FROM security_group_rules LIMIT 1');
    } catch (e) {
      t.skip(`no database (${(e as Error).message})`);
      return;
    }
    const hex = crypto.randomBytes(4).toString('hex');
    const zone = `eutr-${hex}`;
    const other = `eutr-${hex}-b`;
    const account = String(900000000000 + crypto.randomInt(1e9));
    const res = `r-${hex}`;
    const gDef = `sg-${hex}000000def`;
    const gWeb = `sg-${hex}000000eb0`;
    const iid = (n: number) => `i-${hex.slice(0, 6)}${n.toString(16).padStart(2, '0')}`;
    const rows = [
      { id: iid(1), ip: VM.a1.ip, g: gDef, zone, state: 'running' },
      { id: iid(2), ip: VM.a2.ip, g: gWeb, zone, state: 'running' },
      { id: iid(3), ip: VM.b1.ip, g: gDef, zone, state: 'pending' },
      { id: iid(4), ip: VM.b2.ip, g: gWeb, zone, state: 'running' },
      { id: iid(5), ip: '10.201.2.50', g: gDef, zone, state: 'terminated' },   // gone: not in the set
      { id: iid(6), ip: '10.201.2.51', g: gDef, zone: other, state: 'running' }, // another zone
    ];
    try {
      await pool.query('INSERT INTO reservations (id, account_id, params_hash, workflow_id) VALUES (?, ?, ?, ?)', [res, account, '0'.repeat(64), `eutr-${hex}`]);
      await pool.query('INSERT INTO security_groups (id, account_id, name, description) VALUES (?, ?, ?, ?), (?, ?, ?, ?)',
        [gDef, account, 'default', 'default group', gWeb, account, 'web', 'web']);
      const rule = (id: string, g: string, egress: boolean, proto: string, from: number, to: number, cidr: string, src: string) =>
        pool.query(`INSERT INTO security_group_rules (id, group_id, is_egress, protocol, from_port, to_port, cidr, source_group_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          [id, g, egress, proto, from, to, cidr, src]);
      await rule(`sgr-${hex}00000001`, gDef, false, '-1', -1, -1, '', gDef);
      await rule(`sgr-${hex}00000002`, gDef, true, '-1', -1, -1, '0.0.0.0/0', '');
      await rule(`sgr-${hex}00000003`, gWeb, false, 'tcp', PORT, PORT, '', gDef);
      await rule(`sgr-${hex}00000004`, gWeb, true, '-1', -1, -1, '0.0.0.0/0', '');
      for (const [n, r] of rows.entries()) {
        await pool.query(
          `INSERT INTO instances (id, reservation_id, account_id, launch_index, image_id, instance_type, zone, state, private_ip)
           VALUES (?, ?, ?, ?, 'emi-00000000', 'm1.small', ?, ?, ?)`, [r.id, res, account, n, r.zone, r.state, r.ip]);
        await pool.query('INSERT INTO instance_security_groups (instance_id, group_id) VALUES (?, ?)', [r.id, r.g]);
      }
      // a public address of a1 (elastic IPs, migration 005), when that table exists
      const hasAddresses = await pool.query(
        `INSERT INTO addresses (public_ip, zone, account_id, allocation_id, instance_id, private_ip) VALUES ('192.0.2.11', ?, ?, ?, ?, ?)`,
        [zone, account, `eipalloc-${hex}000000000`, iid(1), VM.a1.ip]).then(() => true, (e) => { if (e?.code === 'ER_NO_SUCH_TABLE') return false; throw e; });
      const d = await zoneRuleSet(zone);
      assert.deepEqual(d.instances.map((i) => [i.instanceId, i.privateIp, i.groupIds]).sort(),
        rows.slice(0, 4).map((r) => [r.id, r.ip, [r.g]]).sort());
      const def = d.groups.find((g) => g.groupId === gDef)!;
      // members in any zone (subnets are unique cloud-wide), never terminated ones; public IPs for hairpin
      assert.deepEqual([...def.memberIps].sort(), [VM.a1.ip, VM.b1.ip, '10.201.2.51', ...(hasAddresses ? ['192.0.2.11'] : [])].sort());
      if (hasAddresses) assert.equal(d.instances.find((i) => i.instanceId === iid(1))!.publicIp, '192.0.2.11');
      assert.deepEqual(def.ingress, [{ protocol: '-1', fromPort: -1, toPort: -1, cidr: undefined, sourceGroupId: gDef }]);
      assert.deepEqual(d.groups.find((g) => g.groupId === gWeb)!.ingress, [{ protocol: 'tcp', fromPort: PORT, toPort: PORT, cidr: undefined, sourceGroupId: gDef }]);
      assert.ok(d.controlPlane.length >= 1);
      assert.deepEqual(await zonesOfGroup(gDef), [zone, other].sort());
      const d2 = await zoneRuleSet(zone);
      assert.ok(d2.generation! > d.generation!, 'generations grow');

      // what the database says is what the CC enforces
      await apply('from the database', { ...d2, controlPlane: ['10.201.9.0/24'], generation: undefined });
      assert.equal(await tcp(VM.a1.ns, VM.b2.ip, PORT, 2), true, 'a1 (default) -> b2 (web):8080');
      assert.equal(await ping(VM.a1.ns, VM.b1.ip, 2), true, 'a1 -> b1 (default members)');
      assert.equal(await tcp(EXT, VM.b2.ip), false, 'outside -> b2');
      assert.equal(await ping(VM.a2.ns, VM.a1.ip), false, 'web -> default');
    } finally {
      const ids = rows.map((r) => r.id);
      await pool.query('DELETE FROM addresses WHERE instance_id IN (?)', [ids]).catch(() => undefined);
      await pool.query('DELETE FROM instance_security_groups WHERE instance_id IN (?)', [ids]);
      await pool.query('DELETE FROM instances WHERE id IN (?)', [ids]);
      await pool.query('DELETE FROM security_group_rules WHERE group_id IN (?)', [[gDef, gWeb]]);
      await pool.query('DELETE FROM security_groups WHERE id IN (?)', [[gDef, gWeb]]);
      await pool.query('DELETE FROM reservations WHERE id = ?', [res]);
      resetDesired();
    }
  });

  it('removal leaves the metadata table alone', async () => {
    await removeSecurityRules(CC);
    await removeSecurityRules(CC); // idempotent
    assert.equal(await listSecurityRules(CC), '');
    assert.match(await nsExec(CC, 'nft', ['list', 'tables']), /table ip euca_md/);
    await removeMetadataFirewall(CC);
  });
});
