// Needs root (network namespaces). Traffic stays on the test bridge eutnul0 and inside eutn-* namespaces.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { destroyHosts, ensureHosts, planHosts, type HostPlan } from '../../activities/network/hosts';
import {
  dnsmasqPid,
  ensureGateway,
  ensureVnet,
  listDhcpHosts,
  removeDhcpHost,
  removeGateway,
  setDhcpHost,
  type GatewaySpec,
} from '../../activities/network/vnet';
import { CommandError, bridgeCmd, getLink, ip, ipv4Addrs, listLinks, listNetns, nsExec, run } from '../../activities/network/ip';
import { readCmdline } from '../../activities/network/proc';

const PREFIX = 'eutn';
const UNDERLAY = '10.198.0.0/24';
const ZONE = 'test-1a';
const VNI = 4242;
const VNI2 = 4243;
const BUSYBOX = '/usr/bin/busybox';

const MAC1 = 'd0:0d:42:00:00:01';
const MAC2 = 'd0:0d:42:00:00:02';
const MAC3 = 'd0:0d:42:00:00:03';
const IP1 = '10.197.42.21';
const IP2 = '10.197.42.22';
const IP3 = '10.197.42.23';
const GW = '10.197.42.1';

let plan: HostPlan;
let tmp: string;
let gw: GatewaySpec;
let script: string;

async function makeVm(nodeNs: string, vmNs: string, hostIf: string, mac: string): Promise<void> {
  await ip(null, ['netns', 'add', vmNs]);
  await ip(vmNs, ['link', 'set', 'dev', 'lo', 'up']);
  await ip(nodeNs, ['link', 'add', 'name', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'address', mac, 'netns', vmNs]);
  await ip(nodeNs, ['link', 'set', 'dev', hostIf, 'master', `vb${VNI}`, 'up']);
  await ip(vmNs, ['link', 'set', 'dev', 'eth0', 'up']);
}

/** Runs udhcpc in the vm namespace; returns what the script saw, or null when no lease. */
async function dhcp(vmNs: string, tries = 5): Promise<Record<string, string> | null> {
  const out = path.join(tmp, `${vmNs}.lease`);
  await fs.rm(out, { force: true });
  try {
    await nsExec(vmNs, BUSYBOX, ['udhcpc', '-i', 'eth0', '-f', '-n', '-q', '-t', String(tries), '-T', '1', '-s', script], {
      env: { ...process.env, UDHCPC_OUT: out },
      timeoutMs: 20_000,
    });
  } catch (e) {
    if (e instanceof CommandError) return null;
    throw e;
  }
  const kv: Record<string, string> = {};
  for (const l of (await fs.readFile(out, 'utf8')).split('\n')) {
    const i = l.indexOf('=');
    if (i > 0) kv[l.slice(0, i)] = l.slice(i + 1);
  }
  return kv;
}

async function ping(fromNs: string, to: string): Promise<void> {
  // one echo at a time (busybox ping waits 1 s between echoes); retry a few times for ARP/learning
  for (let i = 0; ; i++) {
    try {
      await nsExec(fromNs, BUSYBOX, ['ping', '-c', '1', '-W', '1', to], { timeoutMs: 5_000 });
      return;
    } catch (e) {
      if (i >= 4) throw e;
    }
  }
}

async function floodPeers(ns: string): Promise<string[]> {
  const rows = JSON.parse((await bridgeCmd(ns, ['fdb', 'show', 'dev', `vx${VNI}`], true)).trim() || '[]') as { mac: string; dst?: string }[];
  return rows.filter((r) => r.mac === '00:00:00:00:00:00' && r.dst).map((r) => r.dst!).sort();
}

async function ourDnsmasqs(): Promise<number[]> {
  const pids: number[] = [];
  for (const d of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const argv = await readCmdline(Number(d));
    if (argv && path.basename(argv[0] ?? '') === 'dnsmasq' && argv.some((a) => a.startsWith('--pid-file=') && a.includes(tmp)))
      pids.push(Number(d));
  }
  return pids;
}

async function cleanup(): Promise<void> {
  await destroyHosts(PREFIX);
}

describe('network: fake hosts, VXLAN vnet, gateway + DHCP', { timeout: 180_000 }, () => {
  before(async () => {
    await cleanup(); // stale eutn* objects from an earlier run
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'eutn-'));
    script = path.join(tmp, 'udhcpc.sh');
    await fs.writeFile(
      script,
      [
        '#!/bin/sh',
        `BB=${BUSYBOX}`,
        'case "$1" in',
        '  deconfig) $BB ip -4 addr flush dev "$interface"; $BB ip link set dev "$interface" up ;;',
        '  bound|renew)',
        '    $BB ip -4 addr flush dev "$interface"',
        '    $BB ip addr add "$ip/${mask:-24}" dev "$interface"',
        '    [ -n "$router" ] && $BB ip route replace default via "${router%% *}" dev "$interface"',
        '    printf "ip=%s\\nrouter=%s\\nmask=%s\\n" "$ip" "$router" "$mask" > "$UDHCPC_OUT" ;;',
        'esac',
        'exit 0',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    plan = planHosts(PREFIX, UNDERLAY, ZONE, ['nc1', 'nc2']);
    gw = {
      netns: plan.cc.netns,
      vni: VNI,
      peers: plan.nodes.map((n) => n.underlayIp),
      subnetCidr: '10.197.42.0/24',
      gatewayIp: GW,
      stateDir: path.join(tmp, 'hosts', plan.cc.name, 'net', `vb${VNI}`),
    };
  });

  after(async () => {
    await cleanup().catch((e) => console.error('cleanup failed', e));
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('plans names per the conventions', () => {
    assert.equal(plan.bridge, 'eutnul0');
    assert.equal(plan.bridgeIp, '10.198.0.1');
    assert.deepEqual(plan.cc, { name: 'cc-test-1a', netns: 'eutn-cc-test-1a', underlayIp: '10.198.0.2', rootVeth: 'eutnv2' });
    assert.deepEqual(plan.nodes[1], { name: 'nc2', netns: 'eutn-nc2', underlayIp: '10.198.0.12', rootVeth: 'eutnv12' });
  });

  it('ensureHosts builds the underlay (twice: idempotent)', async () => {
    await ensureHosts(plan);
    await ensureHosts(plan);
    const nss = await listNetns();
    for (const h of [plan.cc, ...plan.nodes]) {
      assert.ok(nss.includes(h.netns), h.netns);
      assert.deepEqual(await ipv4Addrs(h.netns, 'ul0'), [`${h.underlayIp}/24`]);
      assert.equal((await nsExec(h.netns, 'sysctl', ['-n', 'net.ipv4.ip_forward'])).trim(), '0');
      assert.equal((await getLink(null, h.rootVeth))?.master, plan.bridge);
    }
    assert.deepEqual(await ipv4Addrs(null, plan.bridge), ['10.198.0.1/24']);
    await ping(plan.nodes[0]!.netns, plan.cc.underlayIp);
  });

  it('ensureGateway on the CC, ensureVnet on the nodes (full mesh)', async () => {
    await ensureGateway(gw);
    const all = [plan.cc, ...plan.nodes];
    for (const n of plan.nodes) {
      await ensureVnet({ netns: n.netns, vni: VNI, peers: all.filter((h) => h !== n).map((h) => h.underlayIp) });
    }
    assert.deepEqual(await floodPeers(plan.cc.netns), ['10.198.0.11', '10.198.0.12']);
    assert.deepEqual(await floodPeers(plan.nodes[0]!.netns), ['10.198.0.12', '10.198.0.2']);
    const vx = await getLink(plan.nodes[0]!.netns, `vx${VNI}`);
    assert.equal(vx?.linkinfo?.info_data?.id, VNI);
    assert.equal(vx?.linkinfo?.info_data?.port, 4789);
    assert.equal(vx?.linkinfo?.info_data?.local, '10.198.0.11');
    assert.equal(vx?.master, `vb${VNI}`);
    assert.equal(vx?.mtu, 1500);
    assert.deepEqual(await ipv4Addrs(plan.cc.netns, `vb${VNI}`), [`${GW}/24`]);
    assert.ok(await dnsmasqPid(gw.stateDir, gw.netns), 'dnsmasq running');
  });

  it('ensureVnet twice changes nothing; stale peers are removed', async () => {
    const n = plan.nodes[0]!;
    const peers = ['10.198.0.2', '10.198.0.12'];
    const pick = (l: Awaited<ReturnType<typeof getLink>>) => {
      const d = { ...(l?.linkinfo?.info_data ?? {}) };
      for (const k of Object.keys(d)) if (k.endsWith('_timer')) delete d[k];
      return [l?.ifindex, l?.ifname, l?.master, l?.mtu, l?.flags, l?.address, d];
    };
    const snap = async () =>
      JSON.stringify([pick(await getLink(n.netns, `vb${VNI}`)), pick(await getLink(n.netns, `vx${VNI}`)), await floodPeers(n.netns)]);
    const before1 = await snap();
    const t0 = Date.now();
    await ensureVnet({ netns: n.netns, vni: VNI, peers });
    await ensureVnet({ netns: n.netns, vni: VNI, peers });
    const dt = (Date.now() - t0) / 2;
    assert.equal(await snap(), before1);
    console.log(`# ensureVnet no-op: ${dt.toFixed(1)} ms`);
    // a stale peer is added then removed again (no traffic is sent meanwhile)
    await ensureVnet({ netns: n.netns, vni: VNI, peers: [...peers, '10.198.0.99'] });
    assert.deepEqual(await floodPeers(n.netns), ['10.198.0.12', '10.198.0.2', '10.198.0.99']);
    await ensureVnet({ netns: n.netns, vni: VNI, peers });
    assert.equal(await snap(), before1);
  });

  it('VMs get their fixed addresses over VXLAN and reach each other and the gateway', async () => {
    await makeVm(plan.nodes[0]!.netns, 'eutn-vm1', 'vm1p', MAC1);
    await makeVm(plan.nodes[1]!.netns, 'eutn-vm2', 'vm2p', MAC2);
    await setDhcpHost(gw.stateDir, MAC1, IP1, 'i-00000001');
    await setDhcpHost(gw.stateDir, MAC2, IP2, 'i-00000002');
    await setDhcpHost(gw.stateDir, MAC2, IP2, 'i-00000002'); // idempotent
    assert.deepEqual(await listDhcpHosts(gw.stateDir), [
      { mac: MAC1, ip: IP1, hostname: 'i-00000001' },
      { mac: MAC2, ip: IP2, hostname: 'i-00000002' },
    ]);
    const t0 = Date.now();
    const [l1, l2] = await Promise.all([dhcp('eutn-vm1'), dhcp('eutn-vm2')]);
    console.log(`# two DHCP leases: ${Date.now() - t0} ms`);
    assert.equal(l1?.ip, IP1);
    assert.equal(l2?.ip, IP2);
    assert.equal(l1?.router, GW);
    assert.deepEqual(await ipv4Addrs('eutn-vm1', 'eth0'), [`${IP1}/24`]);
    await ping('eutn-vm1', IP2); // nc1 -> nc2 through VXLAN
    await ping('eutn-vm2', IP1);
    await ping('eutn-vm1', GW);
    await ping('eutn-vm2', GW);
  });

  it('host changes reload dnsmasq without restarting it', async () => {
    const pid = await dnsmasqPid(gw.stateDir, gw.netns);
    assert.ok(pid);
    await ensureGateway(gw); // live: left alone
    assert.equal(await dnsmasqPid(gw.stateDir, gw.netns), pid);

    await removeDhcpHost(gw.stateDir, MAC2);
    await removeDhcpHost(gw.stateDir, MAC2); // idempotent
    assert.deepEqual((await listDhcpHosts(gw.stateDir)).map((h) => h.mac), [MAC1]);
    // vm2 now becomes a new VM with a third MAC
    await ip('eutn-vm2', ['addr', 'flush', 'dev', 'eth0']);
    assert.equal(await dhcp('eutn-vm2', 2), null, 'removed MAC gets no lease');
    await ip('eutn-vm2', ['link', 'set', 'dev', 'eth0', 'down']);
    await ip('eutn-vm2', ['link', 'set', 'dev', 'eth0', 'address', MAC3]);
    await ip('eutn-vm2', ['link', 'set', 'dev', 'eth0', 'up']);
    await setDhcpHost(gw.stateDir, MAC3, IP3, 'i-00000003');
    const l3 = await dhcp('eutn-vm2');
    assert.equal(l3?.ip, IP3);
    await ping('eutn-vm1', IP3);
    assert.equal(await dnsmasqPid(gw.stateDir, gw.netns), pid, 'dnsmasq not restarted');
    assert.deepEqual(await ourDnsmasqs(), [pid]);
  });

  it('a second network comes and goes without disturbing the first', async () => {
    const pid = await dnsmasqPid(gw.stateDir, gw.netns);
    const gw2: GatewaySpec = {
      ...gw,
      vni: VNI2,
      subnetCidr: '10.197.43.0/24',
      gatewayIp: '10.197.43.1',
      stateDir: path.join(tmp, 'hosts', plan.cc.name, 'net', `vb${VNI2}`),
      dnsDomain: 'eutn.internal',
    };
    await ensureGateway(gw2);
    const pid2 = await dnsmasqPid(gw2.stateDir, gw2.netns);
    assert.ok(pid2 && pid2 !== pid);
    // two dnsmasqs in one namespace: each serves DHCP on its own bridge only
    const mac4 = 'd0:0d:43:00:00:04';
    await ip(null, ['netns', 'add', 'eutn-vm4']);
    await ip(plan.cc.netns, ['link', 'add', 'name', 'vm4p', 'type', 'veth', 'peer', 'name', 'eth0', 'address', mac4, 'netns', 'eutn-vm4']);
    await ip(plan.cc.netns, ['link', 'set', 'dev', 'vm4p', 'master', `vb${VNI2}`, 'up']);
    await ip('eutn-vm4', ['link', 'set', 'dev', 'eth0', 'up']);
    await setDhcpHost(gw2.stateDir, mac4, '10.197.43.44', 'i-00000004');
    assert.equal((await dhcp('eutn-vm4'))?.ip, '10.197.43.44');
    // DNS (dnsDomain set) answers names of this network on its gateway address
    const ns = await nsExec('eutn-vm4', BUSYBOX, ['nslookup', 'i-00000004.eutn.internal', '10.197.43.1']);
    assert.match(ns, /10\.197\.43\.44/);
    await ping('eutn-vm4', '10.197.43.1');
    await removeGateway(gw2);
    await removeGateway(gw2); // idempotent
    assert.equal(await getLink(plan.cc.netns, `vb${VNI2}`), null);
    assert.equal(await getLink(plan.cc.netns, `vx${VNI2}`), null);
    await assert.rejects(fs.stat(gw2.stateDir));
    assert.equal(await dnsmasqPid(gw.stateDir, gw.netns), pid);
    assert.deepEqual(await ourDnsmasqs(), [pid]);
    await ping('eutn-vm1', GW);
  });

  it('destroyHosts leaves nothing behind', async () => {
    await destroyHosts(PREFIX);
    await destroyHosts(PREFIX); // safe when nothing exists
    assert.deepEqual((await listNetns()).filter((n) => n.startsWith(`${PREFIX}-`)), []);
    assert.deepEqual((await listLinks(null)).filter((l) => l.ifname.startsWith(PREFIX)).map((l) => l.ifname), []);
    assert.deepEqual(await ourDnsmasqs(), []);
    assert.equal((await run('ip', ['route', 'show', UNDERLAY])).trim(), '');
  });
});
