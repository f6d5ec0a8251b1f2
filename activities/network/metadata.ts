// Data plane of the instance metadata service on a CC host (169.254.169.254).
//
// - one service process per CC (metadata/server.ts), daemonised INSIDE the CC's
//   namespace with a pid file under <stateDir>/metadata/, like dnsmasq;
// - one nftables table `ip euca_md` in the CC's namespace:
//     * map @gw { vb<vni> : <gateway ip> }, one element per network; prerouting
//       DNATs tcp 169.254.169.254:80 arriving on vb<vni> to <gateway>:<port>
//       (a map lookup, so thousands of networks cost one rule);
//     * a guard on input from guest bridges (vb*): only DHCP, DNS to the gateway
//       of the bridge it came in on, and DNATed metadata connections are accepted;
//       every other connection to the CC itself is rejected. The service port is
//       closed to every other interface but lo (e.g. the underlay ul0);
//     * forward: nothing from a guest bridge is routed onto the underlay (ul0).
// - per-instance documents <stateDir>/metadata/<vni>/<ip>.json (atomic writes).
//
// Every function is idempotent; the truth is the pid file + /proc, the ruleset and the files.
import { spawn } from 'node:child_process';
import { openSync, closeSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  DEFAULT_METADATA_PORT,
  METADATA_ADDRESS,
  checkVni,
  docPath,
  metadataRoot,
  networkDir,
  validateDoc,
  type InstanceMetadataDoc,
} from '../../metadata/doc';
import { CommandError, isIpv4, nsExec } from './ip';
import { namedNetnsId, procNetnsId, readCmdline, readPidFile, sleep, stopPid } from './proc';
import { keyedMutex } from '../../lib/keyedMutex';

export type { InstanceMetadataDoc } from '../../metadata/doc';
export { DEFAULT_METADATA_PORT, METADATA_ADDRESS } from '../../metadata/doc';

const REPO = path.resolve(__dirname, '..', '..');
const SERVER = path.join(REPO, 'metadata', 'server.ts');
export const NFT_TABLE = 'euca_md';

function checkNetns(ns: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(ns)) throw new Error(`bad netns name ${JSON.stringify(ns)}`);
}
function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad port ${port}`);
}

const files = (stateDir: string) => {
  const root = metadataRoot(stateDir);
  return { root, pid: path.join(root, 'server.pid'), log: path.join(root, 'server.log') };
};

// Serialise operations on one key inside this process.
const withLock = keyedMutex();

// ---------------------------------------------------------------- service process

function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT; // started from a node:test file, the service is no test child
  return env;
}

function serverArgs(argv: string[] | null, stateDir: string): { ours: boolean; port: number | null } {
  if (!argv) return { ours: false, port: null };
  const ours = argv.includes(SERVER) && argv.includes(`--state-dir=${stateDir}`);
  const p = argv.find((a) => a.startsWith('--port='));
  return { ours, port: p ? Number(p.slice(7)) : null };
}

/**
 * Pid of the live metadata service of this state dir (pid file + /proc cmdline check),
 * optionally also checking it runs in `netns` and listens on `port`. null when none.
 */
export async function metadataServicePid(stateDir: string, netns?: string, port?: number): Promise<number | null> {
  const dir = path.resolve(stateDir);
  const pid = await readPidFile(files(dir).pid);
  if (!pid) return null;
  const a = serverArgs(await readCmdline(pid), dir);
  if (!a.ours) return null;
  if (port !== undefined && a.port !== port) return null;
  if (netns) {
    const [x, y] = await Promise.all([procNetnsId(pid), namedNetnsId(netns)]);
    if (!x || x !== y) return null;
  }
  return pid;
}

/**
 * The CC's metadata service runs in `netns`, serving documents under `stateDir`, on `port`
 * (all addresses of the namespace; the nft guard admits only DNATed guest connections and lo).
 * Leaves a live one alone; replaces one in another namespace or on another port.
 */
export async function ensureMetadataService(
  netns: string,
  stateDir: string,
  opts: { port?: number; startTimeoutMs?: number } = {},
): Promise<{ pid: number; port: number }> {
  checkNetns(netns);
  const port = opts.port ?? DEFAULT_METADATA_PORT;
  checkPort(port);
  const dir = path.resolve(stateDir);
  return withLock(`svc:${dir}`, async () => {
    const live = await metadataServicePid(dir, netns, port);
    if (live) return { pid: live, port };
    const stale = await metadataServicePid(dir); // other netns (namespace recreated) or other port
    if (stale) await stopPid(stale);

    const f = files(dir);
    await fs.mkdir(f.root, { recursive: true, mode: 0o700 });
    await fs.rm(f.pid, { force: true });
    const log = openSync(f.log, 'a', 0o600);
    let exited: number | null = null;
    try {
      const child = spawn(
        'ip',
        ['netns', 'exec', netns, process.execPath, '--import', 'tsx', SERVER, `--state-dir=${dir}`, `--port=${port}`],
        { cwd: REPO, detached: true, stdio: ['ignore', log, log], env: childEnv() },
      );
      child.once('exit', (code) => { exited = code ?? -1; });
      child.once('error', () => { exited = -1; });
      child.unref();
    } finally {
      closeSync(log);
    }
    const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
    while (Date.now() < deadline) {
      const pid = await metadataServicePid(dir, netns, port);
      if (pid) return { pid, port };
      if (exited !== null) break;
      await sleep(50);
    }
    const tail = (await fs.readFile(f.log, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
    throw new Error(`metadata service in ${netns} did not start (exit ${exited}); ${f.log}:\n${tail}`);
  });
}

/** Stop the state dir's metadata service (verified by its cmdline, in whatever namespace). Idempotent. */
export async function stopMetadataService(stateDir: string): Promise<void> {
  const dir = path.resolve(stateDir);
  await withLock(`svc:${dir}`, async () => {
    const pid = await metadataServicePid(dir);
    if (pid) await stopPid(pid);
    await fs.rm(files(dir).pid, { force: true });
  });
}

// ---------------------------------------------------------------- nftables redirect + guard

function tableScript(port: number): string {
  const t = `ip ${NFT_TABLE}`;
  return [
    `add table ${t}`,
    `add map ${t} gw { type ifname : ipv4_addr; }`,
    `add chain ${t} prerouting { type nat hook prerouting priority dstnat; policy accept; }`,
    `add chain ${t} input { type filter hook input priority filter; policy accept; }`,
    `add chain ${t} guest_in`,
    `add chain ${t} forward { type filter hook forward priority filter; policy accept; }`,
    `flush chain ${t} prerouting`,
    `flush chain ${t} input`,
    `flush chain ${t} guest_in`,
    `flush chain ${t} forward`,
    `add rule ${t} prerouting iifname "vb*" ip daddr ${METADATA_ADDRESS} tcp dport 80 dnat ip to iifname map @gw : ${port}`,
    `add rule ${t} input iifname "vb*" jump guest_in`,
    `add rule ${t} input iifname != "lo" tcp dport ${port} reject with tcp reset`,
    `add rule ${t} guest_in ct state established,related accept`,
    `add rule ${t} guest_in udp dport 67 accept`,
    `add rule ${t} guest_in meta l4proto { tcp, udp } th dport 53 fib daddr . iif type local accept`,
    `add rule ${t} guest_in tcp dport ${port} ct status dnat ct original ip daddr ${METADATA_ADDRESS} accept`,
    `add rule ${t} guest_in meta l4proto tcp reject with tcp reset`,
    `add rule ${t} guest_in reject with icmp type admin-prohibited`,
    `add rule ${t} forward iifname "vb*" oifname "ul0" drop`,
  ].join('\n') + '\n';
}

async function nft(netns: string, args: string[], input?: string): Promise<string> {
  return nsExec(netns, 'nft', args, input === undefined ? {} : { input });
}

/** Current { bridge: gateway } elements of the redirect map; {} when the table is absent. */
export async function listMetadataRedirects(netns: string): Promise<Record<string, string>> {
  checkNetns(netns);
  let out: string;
  try {
    out = await nft(netns, ['-j', 'list', 'map', 'ip', NFT_TABLE, 'gw']);
  } catch (e) {
    if (e instanceof CommandError && /No such file or directory|does not exist/i.test(e.stderr)) return {};
    throw e;
  }
  const res: Record<string, string> = {};
  for (const o of (JSON.parse(out) as { nftables: any[] }).nftables) {
    for (const el of o.map?.elem ?? []) if (Array.isArray(el)) res[String(el[0])] = String(el[1]);
  }
  return res;
}

/**
 * 169.254.169.254:80 from guests on vb<vni> goes to <gatewayIp>:<port> in `netns`, and the
 * guard rules are in place. Rewrites the (small, fixed) chains each time in one nft
 * transaction; the per-network map element is added or corrected. Idempotent.
 */
export async function ensureMetadataRedirect(netns: string, vni: number, gatewayIp: string, port = DEFAULT_METADATA_PORT): Promise<void> {
  checkNetns(netns);
  checkVni(vni);
  checkPort(port);
  if (!isIpv4(gatewayIp)) throw new Error(`bad gateway ${gatewayIp}`);
  await withLock(`nft:${netns}`, async () => {
    const br = `vb${vni}`;
    const have = (await listMetadataRedirects(netns))[br];
    let script = tableScript(port);
    if (have && have !== gatewayIp) script += `delete element ip ${NFT_TABLE} gw { "${br}" }\n`;
    if (have !== gatewayIp) script += `add element ip ${NFT_TABLE} gw { "${br}" : ${gatewayIp} }\n`;
    await nft(netns, ['-f', '-'], script);
  });
}

/** Drop the redirect of one network (the guard stays). Idempotent. */
export async function removeMetadataRedirect(netns: string, vni: number): Promise<void> {
  checkNetns(netns);
  checkVni(vni);
  await withLock(`nft:${netns}`, async () => {
    const br = `vb${vni}`;
    if (!((await listMetadataRedirects(netns).catch(() => ({}) as Record<string, string>))[br])) return;
    await nft(netns, ['delete', 'element', 'ip', NFT_TABLE, 'gw', `{ "${br}" }`]).catch((e) => {
      if (!(e instanceof CommandError && /No such file or directory/i.test(e.stderr))) throw e;
    });
  });
}

/** Remove the whole nft table (redirects and guard) from `netns`. Idempotent. */
export async function removeMetadataFirewall(netns: string): Promise<void> {
  checkNetns(netns);
  await withLock(`nft:${netns}`, async () => {
    await nft(netns, ['delete', 'table', 'ip', NFT_TABLE]).catch((e) => {
      if (e instanceof CommandError && /No such file or directory|Cannot open network namespace/i.test(e.stderr)) return;
      throw e;
    });
  });
}

// ---------------------------------------------------------------- documents

/** Write (atomically) the document the service answers `ip` on network `vni` with. Idempotent. */
export async function putInstanceMetadata(stateDir: string, vni: number, ip: string, doc: InstanceMetadataDoc): Promise<void> {
  const file = docPath(stateDir, vni, ip);
  validateDoc(doc);
  if (doc.privateIp !== ip) throw new Error(`document of ${doc.instanceId} has privateIp ${doc.privateIp}, not ${ip}`);
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  await fs.writeFile(tmp, JSON.stringify(doc), { mode: 0o600 }); // user data may carry secrets
  await fs.rename(tmp, file);
}

/** Forget `ip` on network `vni` (its requests then get 404). Idempotent. */
export async function removeInstanceMetadata(stateDir: string, vni: number, ip: string): Promise<void> {
  await fs.rm(docPath(stateDir, vni, ip), { force: true });
}

/** Documents currently served on network `vni`, by IP. */
export async function listInstanceMetadata(stateDir: string, vni: number): Promise<Record<string, InstanceMetadataDoc>> {
  checkVni(vni);
  const dir = networkDir(stateDir, vni);
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
  const out: Record<string, InstanceMetadataDoc> = {};
  for (const n of names) {
    const m = /^(\d+\.\d+\.\d+\.\d+)\.json$/.exec(n);
    if (!m) continue;
    try {
      out[m[1]!] = validateDoc(JSON.parse(await fs.readFile(path.join(dir, n), 'utf8')));
    } catch {
      /* removed meanwhile or corrupt: reconcile rewrites it */
    }
  }
  return out;
}

/** Reconcile: network `vni` serves exactly `docs` (keyed by their privateIp). */
export async function syncInstanceMetadata(stateDir: string, vni: number, docs: InstanceMetadataDoc[]): Promise<{ written: number; removed: number }> {
  const want = new Map(docs.map((d) => [d.privateIp, d]));
  const have = await listInstanceMetadata(stateDir, vni);
  let written = 0;
  let removed = 0;
  for (const ip of Object.keys(have)) if (!want.has(ip)) { await removeInstanceMetadata(stateDir, vni, ip); removed++; }
  for (const [ip, d] of want) {
    if (JSON.stringify(have[ip]) !== JSON.stringify(d)) { await putInstanceMetadata(stateDir, vni, ip, d); written++; }
  }
  // leftovers of interrupted writes
  const dir = networkDir(stateDir, vni);
  for (const n of await fs.readdir(dir).catch(() => [] as string[])) if (n.includes('.json.tmp-')) await fs.rm(path.join(dir, n), { force: true });
  return { written, removed };
}

