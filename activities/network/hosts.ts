// Fake "hosts" on one machine: one network namespace per CC / NC, joined by an
// underlay bridge in the root namespace (see docs/CONVENTIONS.md).
import { promises as fs } from 'node:fs';
import {
  CommandError,
  checkIfname,
  getLink,
  intToIp,
  ip,
  ipv4Addrs,
  listLinks,
  listNetns,
  nsExec,
  parseCidr,
} from './ip';
import { netnsPids, stopPid } from './proc';
import { ensurePublicSegment, planPublicSegment, type PublicSegmentPlan } from './elasticIps';

export interface HostDef {
  name: string; // 'cc-<zone>' or the node name
  netns: string; // '<prefix>-cc-<zone>' or '<prefix>-<node>'
  underlayIp: string; // address of ul0 inside the namespace (no prefix length)
  rootVeth: string; // root-side veth name, enslaved to the underlay bridge
}

export interface HostPlan {
  prefix: string;
  bridge: string; // '<prefix>ul0'
  bridgeIp: string; // first address of the underlay (no prefix length)
  prefixLen: number; // underlay prefix length
  cc: HostDef;
  nodes: HostDef[];
  /** the public segment (elastic IPs), when asked for: bridge `<prefix>pub0` + the CC's `pub0` */
  public?: PublicSegmentPlan;
}

export interface HostPlanOptions {
  /** CIDR of the public segment ("the outside world"), e.g. 100.64.250.0/24; none when absent */
  publicCidr?: string;
}

/** MTU of the fake underlay: 1500 + VXLAN overhead, so overlays can keep MTU 1500. */
export const UNDERLAY_MTU = 1550;

const CC_OFFSET = 2;
const NODE_OFFSET = 11;

function checkPrefix(prefix: string): void {
  if (!/^[a-z][a-z0-9]{0,10}$/.test(prefix)) throw new Error(`bad prefix ${JSON.stringify(prefix)} (lowercase alnum, <= 11 chars)`);
}

function checkName(kind: string, s: string): void {
  if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(s)) throw new Error(`bad ${kind} ${JSON.stringify(s)}`);
}

export function planHosts(prefix: string, underlayCidr: string, zone: string, nodes: string[], opts: HostPlanOptions = {}): HostPlan {
  checkPrefix(prefix);
  checkName('zone', zone);
  nodes.forEach((n) => checkName('node name', n));
  if (new Set(nodes).size !== nodes.length) throw new Error('duplicate node names');
  const c = parseCidr(underlayCidr);
  if (NODE_OFFSET + nodes.length >= c.size - 1) throw new Error(`underlay ${underlayCidr} too small for ${nodes.length} nodes`);
  const host = (name: string, netns: string, off: number): HostDef => ({
    name,
    netns,
    underlayIp: intToIp(c.first + off),
    // For a /24 (or smaller) the offset is the last octet; using the offset keeps names unique for larger underlays.
    rootVeth: checkIfname(`${prefix}v${off}`),
  });
  const cc = host(`cc-${zone}`, `${prefix}-cc-${zone}`, CC_OFFSET);
  return {
    prefix,
    bridge: checkIfname(`${prefix}ul0`),
    bridgeIp: intToIp(c.first + 1),
    prefixLen: c.prefixLen,
    cc,
    nodes: nodes.map((n, i) => host(n, `${prefix}-${n}`, NODE_OFFSET + i)),
    ...(opts.publicCidr ? { public: planPublicSegment(prefix, opts.publicCidr, cc.netns) } : {}),
  };
}

/** Per-interface IPv4 forwarding off (the root never routes what arrives on the underlay). */
async function disableDevForwarding(dev: string): Promise<void> {
  await fs.writeFile(`/proc/sys/net/ipv4/conf/${dev}/forwarding`, '0');
}

async function ensureBridge(plan: HostPlan): Promise<void> {
  let br = await getLink(null, plan.bridge);
  if (br && br.linkinfo?.info_kind !== 'bridge') {
    await ip(null, ['link', 'del', 'dev', plan.bridge]);
    br = null;
  }
  if (!br) {
    try {
      await ip(null, ['link', 'add', 'name', plan.bridge, 'type', 'bridge', 'stp_state', '0']);
    } catch (e) {
      if (!(e instanceof CommandError && /File exists/.test(e.stderr))) throw e;
    }
    await disableDevForwarding(plan.bridge);
  }
  const want = `${plan.bridgeIp}/${plan.prefixLen}`;
  const have = await ipv4Addrs(null, plan.bridge);
  for (const a of have) if (a !== want) await ip(null, ['addr', 'del', a, 'dev', plan.bridge]);
  if (!have.includes(want)) await ip(null, ['addr', 'replace', want, 'dev', plan.bridge]);
  await ip(null, ['link', 'set', 'dev', plan.bridge, 'up']);
}

async function ensureNetns(ns: string): Promise<void> {
  if ((await listNetns()).includes(ns)) return;
  try {
    await ip(null, ['netns', 'add', ns]);
  } catch (e) {
    if (!(e instanceof CommandError && /File exists/.test(e.stderr))) throw e;
    return; // someone else created it concurrently
  }
  // Fresh namespace: forwarding off by default (a CC may turn it on later for NAT; we never reset it).
  await nsExec(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=0']);
}

async function ensureHost(plan: HostPlan, h: HostDef): Promise<void> {
  await ensureNetns(h.netns);
  await ip(h.netns, ['link', 'set', 'dev', 'lo', 'up']);

  // veth pair: root side h.rootVeth <-> namespace side ul0
  const root = await getLink(null, h.rootVeth);
  const inner = await getLink(h.netns, 'ul0');
  const paired = !!root && !!inner && root.linkinfo?.info_kind === 'veth' && root.link_index === inner.ifindex;
  if (!paired) {
    if (root) await ip(null, ['link', 'del', 'dev', h.rootVeth]).catch(() => undefined);
    if (inner) await ip(h.netns, ['link', 'del', 'dev', 'ul0']).catch(() => undefined);
    await ip(null, ['link', 'add', 'name', h.rootVeth, 'mtu', String(UNDERLAY_MTU), 'type', 'veth', 'peer', 'name', 'ul0', 'mtu', String(UNDERLAY_MTU), 'netns', h.netns]);
    await disableDevForwarding(h.rootVeth);
  }
  if (!paired || root?.master !== plan.bridge) await ip(null, ['link', 'set', 'dev', h.rootVeth, 'master', plan.bridge]);
  await ip(null, ['link', 'set', 'dev', h.rootVeth, 'up']);

  const want = `${h.underlayIp}/${plan.prefixLen}`;
  const have = await ipv4Addrs(h.netns, 'ul0');
  for (const a of have) if (a !== want) await ip(h.netns, ['addr', 'del', a, 'dev', 'ul0']);
  if (!have.includes(want)) await ip(h.netns, ['addr', 'replace', want, 'dev', 'ul0']);
  await ip(h.netns, ['link', 'set', 'dev', 'ul0', 'up']);
}

/** Idempotent: underlay bridge in the root namespace, one namespace per host with lo and ul0. */
export async function ensureHosts(plan: HostPlan): Promise<void> {
  await ensureBridge(plan);
  await Promise.all([plan.cc, ...plan.nodes].map((h) => ensureHost(plan, h)));
  if (plan.public) await ensurePublicSegment(plan.public);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Kill every process inside namespaces `${prefix}-*`, delete those namespaces and the
 * root links `${prefix}ul0` / `${prefix}v<n>` / `${prefix}pub0` / `${prefix}pv<n>`. Safe when nothing exists.
 */
export async function destroyHosts(prefix: string): Promise<void> {
  checkPrefix(prefix);
  const nss = (await listNetns()).filter((n) => n.startsWith(`${prefix}-`));
  await Promise.all(
    nss.map(async (ns) => {
      for (let round = 0; round < 3; round++) {
        const pids = await netnsPids(ns);
        if (!pids.length) break;
        await Promise.all(pids.map((p) => stopPid(p, 1000)));
      }
      await ip(null, ['netns', 'del', ns]).catch((e) => {
        if (!(e instanceof CommandError && /No such file/.test(e.stderr))) throw e;
      });
    }),
  );
  const re = new RegExp(`^${escapeRe(prefix)}(ul0|v\\d+|pub0|pv\\d+)$`);
  const links = (await listLinks(null)).filter((l) => re.test(l.ifname));
  // veths first (most vanish with their namespace), then the bridge
  const isBridge = (n: string) => n.endsWith('ul0') || n.endsWith('pub0');
  links.sort((a, b) => (isBridge(a.ifname) ? 1 : 0) - (isBridge(b.ifname) ? 1 : 0));
  for (const l of links) {
    await ip(null, ['link', 'del', 'dev', l.ifname]).catch((e) => {
      if (!(e instanceof CommandError && /Cannot find device|does not exist/.test(e.stderr))) throw e;
    });
  }
}
