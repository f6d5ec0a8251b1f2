// One virtual network on a host: bridge vb<vni> + VXLAN vx<vni> (full-mesh FDB),
// and on the CC the network's gateway address and its own dnsmasq (DHCP).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  CommandError,
  bridgeCmd,
  getLink,
  ip,
  ipv4Addrs,
  isIpv4,
  nsExec,
  parseCidr,
  run,
} from './ip';
import { namedNetnsId, procNetnsId, readCmdline, readPidFile, sleep, stopPid } from './proc';
import { keyedMutex } from '../../lib/keyedMutex';

export interface VnetSpec {
  netns: string;
  vni: number;
  peers: string[]; // underlay IPs of the OTHER hosts of this network
}

export interface GatewaySpec extends VnetSpec {
  subnetCidr: string;
  gatewayIp: string;
  stateDir: string; // <EUCA_HOME>/hosts/cc-<zone>/net/vb<vni>
  dnsDomain?: string;
}

export interface DhcpHost {
  mac: string;
  ip: string;
  hostname: string;
}

export const VXLAN_PORT = 4789;
const ZERO_MAC = '00:00:00:00:00:00';

export const bridgeName = (vni: number) => `vb${vni}`;
export const vxlanName = (vni: number) => `vx${vni}`;

function checkVni(vni: number): void {
  if (!Number.isInteger(vni) || vni < 1 || vni > 16_777_215) throw new Error(`bad VNI ${vni}`);
}

function checkNetns(ns: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(ns)) throw new Error(`bad netns name ${JSON.stringify(ns)}`);
}

async function ulAddress(netns: string): Promise<string> {
  const a = await ipv4Addrs(netns, 'ul0');
  if (!a.length) throw new Error(`${netns}: ul0 has no IPv4 address`);
  return a[0]!.split('/')[0]!;
}

async function ensureBridge(netns: string, br: string): Promise<void> {
  let l = await getLink(netns, br);
  if (l && l.linkinfo?.info_kind !== 'bridge') {
    await ip(netns, ['link', 'del', 'dev', br]);
    l = null;
  }
  if (!l) {
    try {
      await ip(netns, ['link', 'add', 'name', br, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    } catch (e) {
      if (!(e instanceof CommandError && /File exists/.test(e.stderr))) throw e;
    }
  }
  if (!l || !(l.flags ?? []).includes('UP')) await ip(netns, ['link', 'set', 'dev', br, 'up']);
}

async function ensureVxlan(netns: string, vni: number, br: string): Promise<string> {
  const vx = vxlanName(vni);
  const local = await ulAddress(netns);
  let l = await getLink(netns, vx);
  if (l) {
    const d = l.linkinfo?.info_data ?? {};
    const ok =
      l.linkinfo?.info_kind === 'vxlan' && d.id === vni && d.port === VXLAN_PORT && d.local === local && d.link === 'ul0';
    if (!ok) {
      await ip(netns, ['link', 'del', 'dev', vx]);
      l = null;
    }
  }
  if (!l) {
    try {
      await ip(netns, [
        'link', 'add', 'name', vx, 'type', 'vxlan', 'id', String(vni), 'dstport', String(VXLAN_PORT),
        'dev', 'ul0', 'local', local, 'learning',
      ]);
    } catch (e) {
      if (!(e instanceof CommandError && /File exists/.test(e.stderr))) throw e;
    }
  }
  if (!l || l.master !== br) await ip(netns, ['link', 'set', 'dev', vx, 'master', br]);
  if (!l || !(l.flags ?? []).includes('UP')) await ip(netns, ['link', 'set', 'dev', vx, 'up']);
  return vx;
}

/** Current all-zero (flood) FDB destinations of a VXLAN device. */
async function floodPeers(netns: string, vx: string): Promise<string[]> {
  const out = await bridgeCmd(netns, ['fdb', 'show', 'dev', vx], true);
  const t = out.trim();
  if (!t) return [];
  const rows = JSON.parse(t) as { mac: string; dst?: string }[];
  return rows.filter((r) => r.mac === ZERO_MAC && r.dst).map((r) => r.dst!);
}

async function syncFdb(netns: string, vx: string, peers: string[]): Promise<void> {
  const want = new Set(peers);
  const have = new Set(await floodPeers(netns, vx));
  for (const p of want) {
    if (!have.has(p)) {
      await bridgeCmd(netns, ['fdb', 'append', ZERO_MAC, 'dev', vx, 'dst', p]).catch((e) => {
        if (!(e instanceof CommandError && /File exists/.test(e.stderr))) throw e;
      });
    }
  }
  for (const p of have) {
    if (!want.has(p)) await bridgeCmd(netns, ['fdb', 'del', ZERO_MAC, 'dev', vx, 'dst', p]).catch(() => undefined);
  }
}

/** Bridge vb<vni> + vxlan vx<vni> in it, flood FDB = exactly `peers`. Idempotent. */
export async function ensureVnet(spec: VnetSpec): Promise<void> {
  checkNetns(spec.netns);
  checkVni(spec.vni);
  for (const p of spec.peers) if (!isIpv4(p)) throw new Error(`bad peer address ${p}`);
  const br = bridgeName(spec.vni);
  await ensureBridge(spec.netns, br);
  const vx = await ensureVxlan(spec.netns, spec.vni, br);
  await syncFdb(spec.netns, vx, [...new Set(spec.peers)]);
}

/** Delete vx<vni> and vb<vni> (ports such as taps are released, not deleted). */
export async function removeVnet(netns: string, vni: number): Promise<void> {
  checkNetns(netns);
  checkVni(vni);
  for (const dev of [vxlanName(vni), bridgeName(vni)]) {
    await ip(netns, ['link', 'del', 'dev', dev]).catch((e) => {
      if (e instanceof CommandError && /Cannot find device|does not exist|Cannot open network namespace/.test(e.stderr)) return;
      throw e;
    });
  }
}

// ---------------------------------------------------------------- gateway + dnsmasq

const files = (stateDir: string) => ({
  hosts: path.join(stateDir, 'hosts'),
  leases: path.join(stateDir, 'leases'),
  pid: path.join(stateDir, 'dnsmasq.pid'),
  log: path.join(stateDir, 'dnsmasq.log'),
});

/**
 * Pid of the live dnsmasq that serves this stateDir (pid file + /proc/PID/cmdline check),
 * optionally also checking it runs in `netns`. null when none.
 */
export async function dnsmasqPid(stateDir: string, netns?: string): Promise<number | null> {
  const f = files(path.resolve(stateDir));
  const pid = await readPidFile(f.pid);
  if (!pid) return null;
  const argv = await readCmdline(pid);
  if (!argv || path.basename(argv[0] ?? '') !== 'dnsmasq' || !argv.includes(`--pid-file=${f.pid}`)) return null;
  if (netns) {
    const [a, b] = await Promise.all([procNetnsId(pid), namedNetnsId(netns)]);
    if (!a || a !== b) return null;
  }
  return pid;
}

async function ensureFile(p: string): Promise<void> {
  try {
    await fs.writeFile(p, '', { flag: 'wx', mode: 0o644 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}

/** ensureVnet + gateway address on vb<vni> + one dnsmasq bound only to vb<vni>. Never restarts a live one. */
export async function ensureGateway(spec: GatewaySpec): Promise<void> {
  await ensureVnet(spec);
  const c = parseCidr(spec.subnetCidr);
  if (!isIpv4(spec.gatewayIp)) throw new Error(`bad gateway ${spec.gatewayIp}`);
  if (spec.dnsDomain !== undefined && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(spec.dnsDomain))
    throw new Error(`bad dnsDomain ${spec.dnsDomain}`);
  const br = bridgeName(spec.vni);

  const want = `${spec.gatewayIp}/${c.prefixLen}`;
  const have = await ipv4Addrs(spec.netns, br);
  for (const a of have) if (a !== want) await ip(spec.netns, ['addr', 'del', a, 'dev', br]);
  if (!have.includes(want)) await ip(spec.netns, ['addr', 'replace', want, 'dev', br]);

  const stateDir = path.resolve(spec.stateDir);
  await fs.mkdir(stateDir, { recursive: true });
  const f = files(stateDir);
  await ensureFile(f.hosts);
  await ensureFile(f.leases);

  if (await dnsmasqPid(stateDir, spec.netns)) return; // live: leave it alone
  // A dnsmasq for this stateDir alive in some other namespace (its host namespace was
  // recreated under it) serves nobody and holds our files: stop it before starting ours.
  const orphan = await dnsmasqPid(stateDir);
  if (orphan) await stopPid(orphan);

  const mtu = (await getLink(spec.netns, vxlanName(spec.vni)))?.mtu ?? 1450;
  const args = [
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--user=root', // re-reads the hosts file on SIGHUP; no privilege-drop surprises with EUCA_HOME permissions
    '--bind-interfaces',
    `--interface=${br}`,
    '--except-interface=lo',
    `--dhcp-range=${c.network},static,${c.netmask},12h`,
    `--dhcp-hostsfile=${f.hosts}`,
    `--dhcp-leasefile=${f.leases}`,
    `--pid-file=${f.pid}`,
    `--log-facility=${f.log}`,
    '--log-dhcp',
    '--dhcp-authoritative',
    `--dhcp-option=option:router,${spec.gatewayIp}`,
    `--dhcp-option=option:mtu,${mtu}`,
  ];
  if (spec.dnsDomain) {
    // DNS only on the gateway address of this bridge, for names of this network.
    args.push(`--domain=${spec.dnsDomain}`, `--local=/${spec.dnsDomain}/`, '--expand-hosts', `--dhcp-option=option:dns-server,${spec.gatewayIp}`);
  } else {
    args.push('--port=0');
  }
  await fs.rm(f.pid, { force: true });
  await nsExec(spec.netns, 'dnsmasq', args);
  // dnsmasq daemonizes after writing its pid file; make sure it is really up.
  for (let i = 0; i < 100; i++) {
    if (await dnsmasqPid(stateDir, spec.netns)) return;
    await sleep(20);
  }
  throw new Error(`dnsmasq for ${br} in ${spec.netns} did not start; see ${f.log}`);
}

// hosts file: one "mac,ip,hostname" per line (dnsmasq --dhcp-hostsfile format)

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const HOSTNAME_RE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function normMac(mac: string): string {
  const m = mac.toLowerCase();
  if (!MAC_RE.test(m)) throw new Error(`bad MAC ${mac}`);
  return m;
}

function parseHosts(text: string): DhcpHost[] {
  const out: DhcpHost[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const [mac, ipAddr, hostname] = t.split(',');
    if (mac && ipAddr) out.push({ mac: mac.toLowerCase(), ip: ipAddr, hostname: hostname ?? '' });
  }
  return out;
}

function formatHosts(hosts: DhcpHost[]): string {
  return hosts.map((h) => [h.mac, h.ip, h.hostname].filter((x) => x).join(',') + '\n').join('');
}

// Serialise read-modify-write of one hosts file inside this process.
const withLock = keyedMutex();

async function readHosts(stateDir: string): Promise<DhcpHost[]> {
  try {
    return parseHosts(await fs.readFile(files(stateDir).hosts, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

async function writeHostsAndReload(stateDir: string, hosts: DhcpHost[]): Promise<void> {
  await fs.mkdir(stateDir, { recursive: true });
  const f = files(stateDir);
  const tmp = `${f.hosts}.tmp-${process.pid}-${Date.now()}`;
  await fs.writeFile(tmp, formatHosts(hosts), { mode: 0o644 });
  await fs.rename(tmp, f.hosts);
  // Always signal (cheap): a retry after a crash between rename and HUP still reloads.
  const pid = await dnsmasqPid(stateDir);
  if (pid) {
    try {
      process.kill(pid, 'SIGHUP');
    } catch {
      /* exited meanwhile */
    }
  }
}

/**
 * Set the static lease of `mac` (one line per MAC; any other line holding the same IP is
 * dropped, an address belongs to one MAC). Atomic write + SIGHUP. Idempotent.
 */
export async function setDhcpHost(stateDir: string, mac: string, ipAddr: string, hostname: string): Promise<void> {
  const m = normMac(mac);
  if (!isIpv4(ipAddr)) throw new Error(`bad IP ${ipAddr}`);
  if (!HOSTNAME_RE.test(hostname)) throw new Error(`bad hostname ${hostname}`);
  const dir = path.resolve(stateDir);
  await withLock(dir, async () => {
    const hosts = (await readHosts(dir)).filter((h) => h.mac !== m && h.ip !== ipAddr);
    hosts.push({ mac: m, ip: ipAddr, hostname });
    await writeHostsAndReload(dir, hosts);
    // An address reused from a terminated instance may still be leased to its old MAC.
    await releaseLeases(dir, (l) => (l.ip === ipAddr && l.mac !== m) || (l.mac === m && l.ip !== ipAddr));
  });
}

interface Lease { mac: string; ip: string }

/**
 * dnsmasq keeps leases in memory and refuses a configured address while it is
 * leased to another MAC; `dhcp_release` (dnsmasq-utils) makes it drop a lease,
 * sent from inside the network's namespace (entered through dnsmasq's own pid).
 */
async function releaseLeases(dir: string, which: (l: Lease) => boolean): Promise<void> {
  const f = files(dir);
  let text = '';
  try { text = await fs.readFile(f.leases, 'utf8'); } catch { return; }
  const leases = text.split('\n').map((l) => l.trim().split(/\s+/)).filter((p) => p.length >= 3).map((p) => ({ mac: p[1].toLowerCase(), ip: p[2] }));
  const pid = await dnsmasqPid(dir);
  if (!pid) return;
  const iface = path.basename(dir);   // stateDir is .../net/vb<vni>, the bridge dnsmasq serves
  for (const l of leases.filter(which)) {
    await run('nsenter', [`--net=/proc/${pid}/ns/net`, 'dhcp_release', iface, l.ip, l.mac]).catch(() => undefined);
  }
}

export async function removeDhcpHost(stateDir: string, mac: string): Promise<void> {
  const m = normMac(mac);
  const dir = path.resolve(stateDir);
  await withLock(dir, async () => {
    const before = await readHosts(dir);
    const after = before.filter((h) => h.mac !== m);
    await writeHostsAndReload(dir, after);
    await releaseLeases(dir, (l) => l.mac === m);
  });
}

export async function listDhcpHosts(stateDir: string): Promise<DhcpHost[]> {
  return readHosts(path.resolve(stateDir));
}

/** Stop this network's dnsmasq (pid file, verified), remove the vnet, delete stateDir. */
export async function removeGateway(spec: { netns: string; vni: number; stateDir: string }): Promise<void> {
  const dir = path.resolve(spec.stateDir);
  const pid = await dnsmasqPid(dir); // not netns-checked: stop it even if its namespace is gone
  if (pid) await stopPid(pid);
  await removeVnet(spec.netns, spec.vni);
  await fs.rm(dir, { recursive: true, force: true });
}

// re-exported for callers that want to run things in a host namespace
export { run, nsExec };
