// Needs root (network namespaces). Elastic IPs on the CC: the public segment (a bridge in
// the root namespace with 100.64.252.0/24, routed nowhere else), NAT in the CC namespace,
// a "client" namespace on the segment standing for the internet, and "VMs" (namespaces
// with a veth into the CC's guest bridge). Everything is named eute*; stale objects of an
// earlier run are removed first and everything is removed after.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { destroyHosts, ensureHosts, planHosts, type HostPlan } from '../../activities/network/hosts';
import {
  NAT_TABLE, applyNat, ensureNat, listNat, listPublicAddresses, publicPool, removeNat, syncNat,
} from '../../activities/network/elasticIps';
import { ensureMetadataRedirect, removeMetadataFirewall } from '../../activities/network/metadata';
import { CommandError, getLink, ip, ipv4Addrs, nsExec, run } from '../../activities/network/ip';

const PREFIX = 'eute';
const UNDERLAY = '10.193.0.0/24';
const PUBLIC = '100.64.252.0/24';
const HOST = '100.64.252.1';
const CC_PUB = '100.64.252.2';
const CLIENT = '100.64.252.3';
const CLIENT_ECHO = CLIENT;
const EIP1 = '100.64.252.10';
const EIP2 = '100.64.252.11';
const EIP3 = '100.64.252.12';
const VNI = 4300;
const BR = `vb${VNI}`;
const GW = '10.192.7.1';
const VM = { vm1: '10.192.7.11', vm2: '10.192.7.12', vm3: '10.192.7.13' } as const;
type VmName = keyof typeof VM;
const BUSYBOX = '/usr/bin/busybox';
const PORT = 8080;

let plan: HostPlan;
let cc: string;
const clientNs = `${PREFIX}-client`;
const vmNs = (v: VmName) => `${PREFIX}-${v}`;
const servers: ChildProcess[] = [];
let seq = 0;
const next = () => ++seq;

/** A TCP server in `ns` answering every connection with "<name> <peer address>". */
async function startServer(ns: string, name: string): Promise<void> {
  const py = [
    'import socket, sys',
    's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
    `s.bind(("0.0.0.0", ${PORT})); s.listen(64)`,
    'print("ready", flush=True)',
    'while True:',
    '    c, a = s.accept()',
    `    c.sendall(("${name} " + a[0] + "\\n").encode()); c.close()`,
  ].join('\n');
  const child = spawn('ip', ['netns', 'exec', ns, 'python3', '-c', py], { stdio: ['ignore', 'pipe', 'inherit'] });
  servers.push(child);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server in ${ns} did not start`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) { clearTimeout(t); resolve(); } });
    child.once('exit', (c) => { clearTimeout(t); reject(new Error(`server in ${ns} exited ${c}`)); });
  });
}

const ECHO_PORT = 8081;
/** A TCP echo server in `ns` (keeps connections open). */
async function startEcho(ns: string): Promise<void> {
  const py = [
    'import socket, threading',
    's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
    `s.bind(("0.0.0.0", ${ECHO_PORT})); s.listen(16)`,
    'def serve(c):',
    '    try:',
    '        while True:',
    '            d = c.recv(100)',
    '            if not d: break',
    '            c.sendall(d)',
    '    except OSError: pass',
    'print("ready", flush=True)',
    'while True:',
    '    c, a = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()',
  ].join('\n');
  const child = spawn('ip', ['netns', 'exec', ns, 'python3', '-c', py], { stdio: ['ignore', 'pipe', 'inherit'] });
  servers.push(child);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`echo server in ${ns} did not start`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) { clearTimeout(t); resolve(); } });
  });
}

/**
 * A long-lived connection from `ns` to addr:ECHO_PORT: `send(x)` resolves with the echo,
 * or 'timeout' / 'closed' when none comes within 2 s.
 */
async function openFlow(ns: string, addr: string) {
  const py = [
    'import socket, sys',
    `c = socket.create_connection(("${addr}", ${ECHO_PORT}), timeout=3); c.settimeout(2)`,
    'print("open", flush=True)',
    'for line in sys.stdin:',
    '    try:',
    '        c.sendall(line.strip().encode()); d = c.recv(100)',
    '        print(d.decode() if d else "closed", flush=True)',
    '    except socket.timeout:',
    '        print("timeout", flush=True)',
    '    except OSError as e:',
    '        print("closed", flush=True)',
  ].join('\n');
  const child = spawn('ip', ['netns', 'exec', ns, 'python3', '-c', py], { stdio: ['pipe', 'pipe', 'inherit'] });
  servers.push(child);
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) { lines.push(buf.slice(0, i)); buf = buf.slice(i + 1); wake?.(); }
  });
  const next = async (ms = 8000) => {
    const end = Date.now() + ms;
    while (!lines.length) {
      if (Date.now() > end || child.exitCode !== null) return 'exited';
      await new Promise<void>((r) => { wake = r; setTimeout(r, 100); });
    }
    return lines.shift()!;
  };
  assert.equal(await next(), 'open');
  return {
    send: async (x: string) => { child.stdin!.write(`${x}\n`); return next(); },
    close: () => { child.stdin!.end(); child.kill('SIGKILL'); },
  };
}

/** Connect from `ns` to addr:PORT; the server's answer, or null when nothing answers. */
async function tcp(ns: string | null, addr: string, timeoutS = 2): Promise<string | null> {
  const args = ['-c', `${BUSYBOX} nc -w ${timeoutS} ${addr} ${PORT} </dev/null`];
  try {
    const out = ns ? await nsExec(ns, 'sh', args, { timeoutMs: (timeoutS + 3) * 1000 })
      : await run('sh', args, { timeoutMs: (timeoutS + 3) * 1000 });
    return out.trim() || null;
  } catch (e) {
    if (e instanceof CommandError) return null;
    throw e;
  }
}

async function pings(ns: string, to: string, tries = 3): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    try {
      await nsExec(ns, BUSYBOX, ['ping', '-c', '1', '-W', '1', to], { timeoutMs: 5_000 });
      return true;
    } catch { /* retry: ARP */ }
  }
  return false;
}

async function makeVm(v: VmName): Promise<void> {
  const ns = vmNs(v);
  await ip(null, ['netns', 'add', ns]);
  await ip(ns, ['link', 'set', 'dev', 'lo', 'up']);
  await ip(cc, ['link', 'add', 'name', `t${v}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await ip(cc, ['link', 'set', 'dev', `t${v}`, 'master', BR, 'up']);
  await ip(ns, ['addr', 'add', `${VM[v]}/24`, 'dev', 'eth0']);
  await ip(ns, ['link', 'set', 'dev', 'eth0', 'up']);
  await ip(ns, ['route', 'add', 'default', 'via', GW]);
}

/** Guest ports isolated from each other (the CC answers ARP for the subnet: proxy_arp_pvlan), or a plain bridge. */
async function isolate(on: boolean): Promise<void> {
  for (const v of Object.keys(VM) as VmName[]) await run('bridge', ['-n', cc, 'link', 'set', 'dev', `t${v}`, 'isolated', on ? 'on' : 'off']);
  await nsExec(cc, 'sysctl', ['-qw', `net.ipv4.conf.${BR}.proxy_arp_pvlan=${on ? 1 : 0}`]);
  for (const v of Object.keys(VM) as VmName[]) await ip(vmNs(v), ['neigh', 'flush', 'dev', 'eth0']).catch(() => undefined);
}

async function cleanup(): Promise<void> {
  await destroyHosts(PREFIX); // every eute-* namespace (CC, VMs, client) and eutepub0 / eutepv* / euteul0
}

describe('network: elastic IPs (public segment, DNAT/SNAT, hairpin) on the CC', { timeout: 240_000 }, () => {
  before(async () => {
    await cleanup();
    plan = planHosts(PREFIX, UNDERLAY, 'test-1a', [], { publicCidr: PUBLIC });
    cc = plan.cc.netns;
  });
  after(async () => {
    for (const s of servers) if (s.pid && s.exitCode === null) s.kill('SIGKILL');
    if (process.env.EUTE_KEEP) return; // debugging: leave the namespaces
    await cleanup().catch((e) => console.error('cleanup failed', e));
  });

  it('plans the public segment', () => {
    assert.deepEqual(plan.public, {
      cidr: PUBLIC, prefixLen: 24, bridge: 'eutepub0', hostIp: HOST, ccIp: CC_PUB, rootVeth: 'eutepv2', ccNetns: 'eute-cc-test-1a',
    });
    const pool = publicPool(PUBLIC);
    assert.equal(pool[0], '100.64.252.10');
    assert.equal(pool.at(-1), '100.64.252.254');
    assert.deepEqual(publicPool(PUBLIC, '100.64.252.1-100.64.252.4,100.64.252.20'), ['100.64.252.3', '100.64.252.4', '100.64.252.20']);
    assert.throws(() => publicPool(PUBLIC, '100.64.253.1'));
  });

  it('ensureHosts builds the segment (twice: idempotent); the host reaches the CC', async () => {
    await ensureHosts(plan);
    await ensureHosts(plan);
    assert.deepEqual(await ipv4Addrs(null, 'eutepub0'), [`${HOST}/24`]);
    assert.deepEqual(await ipv4Addrs(cc, 'pub0'), [`${CC_PUB}/24`]);
    assert.equal((await getLink(null, 'eutepv2'))?.master, 'eutepub0');
    // guest network + VMs + client
    await ip(cc, ['link', 'add', 'name', BR, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    await ip(cc, ['addr', 'add', `${GW}/24`, 'dev', BR]);
    await ip(cc, ['link', 'set', 'dev', BR, 'up']);
    for (const v of Object.keys(VM) as VmName[]) await makeVm(v);
    await ip(null, ['netns', 'add', clientNs]);
    await ip(clientNs, ['link', 'set', 'dev', 'lo', 'up']);
    await ip(null, ['link', 'add', 'name', 'eutepv3', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', clientNs]);
    await ip(null, ['link', 'set', 'dev', 'eutepv3', 'master', 'eutepub0', 'up']);
    await ip(clientNs, ['addr', 'add', `${CLIENT}/24`, 'dev', 'eth0']);
    await ip(clientNs, ['link', 'set', 'dev', 'eth0', 'up']);
    await isolate(true);
    // the metadata service's table is there too: both tables coexist in the CC namespace
    await ensureMetadataRedirect(cc, VNI, GW);
    await ensureNat(cc);
    await ensureNat(cc);
    assert.equal((await nsExec(cc, 'sysctl', ['-n', 'net.ipv4.ip_forward'])).trim(), '1');
    assert.ok(await pings(clientNs, CC_PUB), 'client pings the CC');
    for (const v of Object.keys(VM) as VmName[]) await startServer(vmNs(v), v);
    await startServer(clientNs, 'client');
    await startEcho(clientNs);
  });

  it('an unassociated public address answers nothing; a private one is not routable from outside', async () => {
    assert.equal(await pings(clientNs, EIP1, 1), false);
    assert.equal(await tcp(clientNs, EIP1, 1), null);
    await ip(clientNs, ['route', 'add', '10.192.7.0/24', 'via', CC_PUB]);
    assert.equal(await tcp(clientNs, VM.vm1, 1), null, 'routing through the CC to a private address is dropped');
    assert.equal(await pings(clientNs, VM.vm1, 1), false);
    await ip(clientNs, ['route', 'del', '10.192.7.0/24']);
  });

  it('associated: ping and tcp from the client and from the host reach the VM, which sees the real source', async () => {
    const t0 = Date.now();
    const r = await applyNat(cc, [{ publicIp: EIP1, privateIp: VM.vm1, seq: next() }]);
    const dt = Date.now() - t0;
    assert.deepEqual(r, { applied: 1, skipped: 0 });
    assert.equal(await tcp(clientNs, EIP1), `vm1 ${CLIENT}`);
    console.log(`# applyNat ${dt} ms; client tcp answered ${Date.now() - t0} ms after the change started`);
    assert.ok(await pings(clientNs, EIP1));
    assert.equal(await tcp(null, EIP1), `vm1 ${HOST}`, 'the host itself reaches the public address');
    assert.deepEqual(await listNat(cc), [{ publicIp: EIP1, privateIp: VM.vm1 }]);
    assert.deepEqual(await listPublicAddresses(cc), [EIP1]);
  });

  it('outbound: a VM with a public address leaves with it; one without, with the CC\'s address', async () => {
    assert.equal(await tcp(vmNs('vm1'), CLIENT), `client ${EIP1}`);
    assert.equal(await tcp(vmNs('vm2'), CLIENT), `client ${CC_PUB}`);
    assert.ok(await pings(vmNs('vm1'), HOST), 'VM pings the host');
  });

  it('re-association moves the address (vm1 loses it, vm2 gets it)', async () => {
    await applyNat(cc, [{ publicIp: EIP1, privateIp: VM.vm2, seq: next() }]);
    assert.equal(await tcp(clientNs, EIP1), `vm2 ${CLIENT}`);
    assert.equal(await tcp(vmNs('vm2'), CLIENT), `client ${EIP1}`);
    assert.equal(await tcp(vmNs('vm1'), CLIENT), `client ${CC_PUB}`);
    // a second public address for vm2 replaces the first one (one per instance)
    await applyNat(cc, [{ publicIp: EIP3, privateIp: VM.vm2, seq: next() }]);
    assert.deepEqual(await listNat(cc), [{ publicIp: EIP3, privateIp: VM.vm2 }]);
    assert.equal(await tcp(clientNs, EIP1, 1), null);
    assert.equal(await tcp(clientNs, EIP3), `vm2 ${CLIENT}`);
  });

  it('a change older than the last applied one is ignored', async () => {
    const old = seq - 1;
    const r = await applyNat(cc, [{ publicIp: EIP3, privateIp: VM.vm1, seq: old }]);
    assert.deepEqual(r, { applied: 0, skipped: 1 });
    assert.deepEqual(await listNat(cc), [{ publicIp: EIP3, privateIp: VM.vm2 }]);
  });

  it('an open connection (inbound and outbound) stops when its address moves to another instance', async () => {
    await startEcho(vmNs('vm1'));
    await startEcho(vmNs('vm2'));
    await applyNat(cc, [{ publicIp: EIP2, privateIp: VM.vm1, seq: next() }]);
    const inbound = await openFlow(clientNs, EIP2);
    const outbound = await openFlow(vmNs('vm1'), CLIENT_ECHO);
    assert.equal(await inbound.send('a1'), 'a1');
    assert.equal(await outbound.send('b1'), 'b1');
    await applyNat(cc, [{ publicIp: EIP2, privateIp: VM.vm2, seq: next() }]);   // moved: both old flows are cut
    assert.match(await inbound.send('a2'), /timeout|closed/);
    assert.match(await outbound.send('b2'), /timeout|closed/);
    assert.equal(await tcp(clientNs, EIP2), `vm2 ${CLIENT}`, 'new connections reach the new holder');
    await applyNat(cc, [{ publicIp: EIP2, privateIp: null, seq: next() }]);
    inbound.close(); outbound.close();
  });

  it('disassociation stops it', async () => {
    await applyNat(cc, [{ publicIp: EIP3, privateIp: null, seq: next() }]);
    assert.equal(await tcp(clientNs, EIP3, 1), null);
    assert.equal(await pings(clientNs, EIP3, 1), false);
    assert.deepEqual(await listNat(cc), []);
    assert.deepEqual(await listPublicAddresses(cc), []);
    assert.equal(await tcp(vmNs('vm2'), CLIENT), `client ${CC_PUB}`);
  });

  for (const isolated of [true, false]) {
    it(`hairpin: VMs reach each other's public addresses (${isolated ? 'isolated ports, proxy_arp_pvlan' : 'plain bridge'})`, async () => {
      await isolate(isolated);
      await applyNat(cc, [{ publicIp: EIP1, privateIp: VM.vm1, seq: next() }, { publicIp: EIP2, privateIp: VM.vm2, seq: next() }]);
      assert.equal(await tcp(vmNs('vm2'), EIP1), `vm1 ${EIP2}`, 'a VM with a public address appears with it');
      assert.equal(await tcp(vmNs('vm1'), EIP2), `vm2 ${EIP1}`);
      assert.equal(await tcp(vmNs('vm3'), EIP1), `vm1 ${GW}`, 'a VM without one appears as the gateway');
      assert.equal(await tcp(vmNs('vm1'), EIP1), `vm1 ${EIP1}`, 'a VM reaches its own public address');
      assert.ok(await pings(vmNs('vm3'), EIP2));
      assert.equal(await tcp(clientNs, EIP2), `vm2 ${CLIENT}`);
    });
  }

  it('syncNat from the desired state is idempotent, and removes strays', async () => {
    const desired = [{ publicIp: EIP1, privateIp: VM.vm3 }, { publicIp: EIP2, privateIp: VM.vm2 }];
    const s1 = await syncNat(cc, desired, next());
    assert.ok(s1.changed > 0);
    const ruleset = await nsExec(cc, 'nft', ['list', 'table', 'ip', NAT_TABLE]);
    const s2 = await syncNat(cc, desired, seq);
    assert.equal(s2.changed, 0);
    assert.equal(await nsExec(cc, 'nft', ['list', 'table', 'ip', NAT_TABLE]), ruleset);
    assert.equal(await tcp(clientNs, EIP1), `vm3 ${CLIENT}`);
    // strays: an address and a map element nobody wants
    await ip(cc, ['addr', 'add', `${EIP3}/32`, 'dev', 'pub0']);
    await nsExec(cc, 'nft', ['add', 'element', 'ip', NAT_TABLE, 'pub2priv', `{ ${EIP3} : ${VM.vm1} }`]);
    const s3 = await syncNat(cc, desired, seq);
    assert.ok(s3.changed >= 1);
    assert.deepEqual(await listNat(cc), desired);
    assert.deepEqual(await listPublicAddresses(cc), [EIP1, EIP2]);
    assert.equal(await tcp(clientNs, EIP3, 1), null);
    // changes older than the sync are ignored, newer ones apply
    assert.deepEqual(await applyNat(cc, [{ publicIp: EIP3, privateIp: VM.vm1, seq: seq - 1 }]), { applied: 0, skipped: 1 });
    assert.deepEqual(await applyNat(cc, [{ publicIp: EIP3, privateIp: VM.vm1, seq: next() }]), { applied: 1, skipped: 0 });
    assert.equal(await tcp(clientNs, EIP3), `vm1 ${CLIENT}`);
  });

  it('the NAT table is rebuilt after it is lost (CC restart), the metadata table is untouched', async () => {
    const md = await nsExec(cc, 'nft', ['list', 'table', 'ip', 'euca_md']);
    await removeNat(cc);
    assert.equal(await tcp(clientNs, EIP1, 1), null);
    const desired = [{ publicIp: EIP1, privateIp: VM.vm1 }];
    await syncNat(cc, desired, next());
    assert.equal(await tcp(clientNs, EIP1), `vm1 ${CLIENT}`);
    assert.equal(await nsExec(cc, 'nft', ['list', 'table', 'ip', 'euca_md']), md);
    await removeMetadataFirewall(cc);
    assert.equal(await tcp(clientNs, EIP1), `vm1 ${CLIENT}`);
  });
});
