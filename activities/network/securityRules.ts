// Security-group enforcement on a CC host: one nftables table `inet euca_sg` in the CC's
// namespace, rendered from the zone's desired state (db/securityRules.ts) and loaded as ONE
// `nft -f` transaction (delete + re-create the table), so a change is atomic and a re-run of
// the same state is cheap and harmless.
//
// Why on the CC: the NCs' VM taps are isolated bridge ports and each NC's VXLAN peers only the
// CC, which answers ARP for the whole subnet (proxy_arp_pvlan) and routes. So every packet a
// guest sends — to a guest of the same network, of another network, or outside — crosses the
// CC's `forward` hook, where conntrack works (it does not on the NCs' bridges: no
// nf_conntrack_bridge on this kernel).
//
// Layout of the table (names are fixed; ids are validated before they reach the script):
//   set   ctrl              CIDRs/addresses guests must never reach (underlay, public address of the host)
// (in object names an id's '-' becomes '_': sg-0a1b -> grp_sg_0a1b, i-12ab34cd -> out_i_12ab34cd)
//   set   grp_<groupId>     private IPs (and public IPs, for hairpin) of the members of a group
//                           that some rule names as its peer
//   map   egress            <private ip> : jump out_<instanceId>
//   map   ingress           <private ip> : goto in_<instanceId>
//   chain ge_<groupId>      egress permissions of a group:  <match> goto to_guest
//   chain gi_<groupId>      ingress permissions of a group: <match> accept
//   chain out_<instanceId>  jump ge_<g> for each of its groups; then reject
//   chain in_<instanceId>   jump gi_<g> for each of its groups; then reject
//   chain to_guest          oif a guest bridge: daddr vmap @ingress, unknown guest -> drop; else accept
//   chain forward           (hook forward, priority 0, policy accept)
//       ct state established,related accept; ct state invalid drop
//       iif guest bridge: daddr @ctrl -> drop; saddr vmap @egress; unknown source -> drop
//       jump to_guest  (traffic from elsewhere to a guest: ingress rules only)
//   chain input             (hook input) iif guest bridge and daddr @ctrl -> drop (belt and braces:
//                           the metadata table `ip euca_md` guards input to the CC itself as well)
// Permissions are per group (a chain each), instances only jump to their groups' chains, so
// 1,000 rules and hundreds of instances stay one small, fast transaction.
//
// Coexists with `ip euca_md` (metadata.ts): a different family/table; both tables' forward
// chains see every packet, and a drop in either is final.
import { CommandError, isIpv4, nsExec, parseCidr } from './ip';
import type { RuleSpec } from '../../db/securityGroups';
import { keyedMutex } from '../../lib/keyedMutex';

export const SG_TABLE = 'euca_sg';
/** Interfaces matching this are guest bridges (vb<vni>, docs/CONVENTIONS.md). */
export const GUEST_IFNAME = 'vb*';

/** One permission of a group (the peer is a CIDR or a group), as stored in security_group_rules. */
export type SgRule = Pick<RuleSpec, 'protocol' | 'fromPort' | 'toPort' | 'cidr' | 'sourceGroupId'>;

export interface ZoneRuleInstance {
  instanceId: string;
  privateIp: string;
  publicIp?: string;
  groupIds: string[];
}

export interface ZoneRuleGroup {
  groupId: string;
  /** Private IPs of its live members in the zone (any network), and their public IPs (hairpin). */
  memberIps: string[];
  ingress: SgRule[];
  egress: SgRule[];
}

export interface ZoneRuleSet {
  /** CIDRs or addresses guests must never reach (underlay CIDR, the host's public-segment address). */
  controlPlane: string[];
  instances: ZoneRuleInstance[];
  /** Every group an instance is in, and every group a rule names as its peer. */
  groups: ZoneRuleGroup[];
  /**
   * When the desired state was read (µs since the epoch, the database's clock). An apply older
   * than the last one applied in this process is skipped, so two workflows racing each other
   * can never leave the older state loaded. Absent: always applied.
   */
  generation?: number;
}

export interface ApplyResult {
  /** nft rules in the loaded table */
  rules: number;
  /** wall time of the apply (render + nft) */
  ms: number;
  /** true when a newer generation was already loaded and this one was not */
  skipped?: boolean;
  /** permissions left out because they could not be rendered (bad data; leaving out only narrows) */
  ignored?: number;
}

// ---------------------------------------------------------------- rendering (pure)

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,60}$/;
/** nft object name of an id: 'sg-0a1b' -> 'sg_0a1b' (ids never hold '_', so this is one-to-one). */
const nm = (id: string) => id.replace(/-/g, '_');

function checkId(kind: string, id: string): string {
  if (!ID_RE.test(id)) throw new Error(`bad ${kind} id ${JSON.stringify(id)}`);
  return id;
}
function checkIp(ip: string): string {
  if (!isIpv4(ip)) throw new Error(`bad IPv4 address ${JSON.stringify(ip)}`);
  return ip;
}
/** a.b.c.d or a.b.c.d/n, normalised (host bits cleared; /32 written as an address). */
function normPrefix(s: string): string {
  if (!s.includes('/')) return checkIp(s);
  const c = parseCidr(s);
  return c.prefixLen === 32 ? c.network : `${c.network}/${c.prefixLen}`;
}
function checkInt(v: number, lo: number, hi: number, what: string): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`bad ${what} ${v}`);
  return v;
}

/**
 * The nft match of one permission, without the peer and the verdict:
 * '' (all traffic), 'meta l4proto icmp', 'icmp type 8 icmp code 0', 'tcp dport 22', 'udp dport 1000-2000'.
 */
export function protoMatch(r: SgRule): string {
  switch (r.protocol) {
    case '-1':
      return '';
    case 'tcp':
    case 'udp': {
      if (r.fromPort === -1 || r.toPort === -1) return `meta l4proto ${r.protocol}`;
      const from = checkInt(r.fromPort, 0, 65535, 'port');
      const to = checkInt(r.toPort, 0, 65535, 'port');
      if (from === 0 && to === 65535) return `meta l4proto ${r.protocol}`;
      if (from > to) throw new Error(`bad port range ${from}-${to}`);
      return `${r.protocol} dport ${from === to ? from : `${from}-${to}`}`;
    }
    case 'icmp': {
      const type = checkInt(r.fromPort, -1, 255, 'icmp type');
      const code = checkInt(r.toPort, -1, 255, 'icmp code');
      if (type === -1) return 'meta l4proto icmp';
      return code === -1 ? `icmp type ${type}` : `icmp type ${type} icmp code ${code}`;
    }
    default:
      throw new Error(`bad protocol ${JSON.stringify(r.protocol)}`);
  }
}

const elems = (xs: Iterable<string>) => {
  const a = [...xs];
  return a.length ? ` elements = { ${a.join(', ')} }` : '';
};

/**
 * The whole table as one nft script (delete + define), the number of rules in it, and the number
 * of permissions left out as unrenderable. Throws on anything whose omission would WIDEN access
 * (a bad control-plane entry, instance address or id, two instances on one private IP).
 */
export function renderSecurityRules(desired: ZoneRuleSet): { script: string; rules: number; ignored: number } {
  const t = `inet ${SG_TABLE}`;
  const groups = new Map<string, ZoneRuleGroup>();
  for (const g of desired.groups) groups.set(checkId('group', g.groupId), g);

  // Peer groups referenced by some rule get a set; a peer group unknown here is an empty set.
  const peerSets = new Map<string, Set<string>>();
  const peer = (gid: string) => {
    checkId('group', gid);
    if (!peerSets.has(gid)) {
      const ips = new Set<string>();
      for (const ip of groups.get(gid)?.memberIps ?? []) ips.add(checkIp(ip));
      peerSets.set(gid, ips);
    }
    return `@grp_${nm(gid)}`;
  };

  const ctrl = new Set<string>();
  for (const c of desired.controlPlane) ctrl.add(normPrefix(c));

  const body: string[] = [];
  let rules = 0;
  let ignored = 0;
  const rule = (chain: string, r: string) => { body.push(`add rule ${t} ${chain} ${r}`); rules++; };
  const chainDefs: string[] = [];
  const chain = (name: string) => chainDefs.push(`add chain ${t} ${name}`);

  // group chains: only groups some live instance is in (others are never jumped to)
  const used = new Set<string>();
  for (const i of desired.instances) for (const g of i.groupIds) used.add(checkId('group', g));
  for (const gid of [...used].sort()) {
    const g = groups.get(gid);
    const ge = `ge_${nm(gid)}`;
    const gi = `gi_${nm(gid)}`;
    chain(ge);
    chain(gi);
    // A permission that cannot be rendered (bad data in a row) is left out: that only ever
    // narrows access, whereas failing the whole apply would freeze the zone's rules.
    const permission = (r: SgRule, dir: 'saddr' | 'daddr', verdict: string): string | null => {
      try {
        const m = protoMatch(r);
        const p = r.sourceGroupId ? `ip ${dir} ${peer(r.sourceGroupId)}`
          : r.cidr ? (normPrefix(r.cidr) === '0.0.0.0/0' ? '' : `ip ${dir} ${normPrefix(r.cidr)}`) : null;
        if (p === null) return null; // a permission without a peer matches nothing
        return [p, m, verdict].filter(Boolean).join(' ');
      } catch {
        ignored++;
        return null;
      }
    };
    for (const r of g?.egress ?? []) {
      const line = permission(r, 'daddr', 'goto to_guest');
      if (line) rule(ge, line);
    }
    for (const r of g?.ingress ?? []) {
      const line = permission(r, 'saddr', 'accept');
      if (line) rule(gi, line);
    }
  }

  // per-instance chains and map elements
  const egressEl: string[] = [];
  const ingressEl: string[] = [];
  const seenIp = new Set<string>();
  for (const i of [...desired.instances].sort((a, b) => (a.instanceId < b.instanceId ? -1 : 1))) {
    const id = checkId('instance', i.instanceId);
    const ip = checkIp(i.privateIp);
    if (i.publicIp !== undefined) checkIp(i.publicIp);
    if (seenIp.has(ip)) throw new Error(`private IP ${ip} is held by two instances`);
    seenIp.add(ip);
    const out = `out_${nm(id)}`;
    const inn = `in_${nm(id)}`;
    chain(out);
    chain(inn);
    for (const g of [...new Set(i.groupIds)].sort()) {
      rule(out, `jump ge_${nm(g)}`);
      rule(inn, `jump gi_${nm(g)}`);
    }
    rule(out, 'meta l4proto tcp reject with tcp reset');
    rule(out, 'reject with icmpx type admin-prohibited');
    rule(inn, 'meta l4proto tcp reject with tcp reset');
    rule(inn, 'reject with icmpx type admin-prohibited');
    egressEl.push(`${ip} : jump ${out}`);
    ingressEl.push(`${ip} : goto ${inn}`);
  }

  const head: string[] = [
    `add table ${t}`, // so that the delete below never fails
    `delete table ${t}`,
    `add table ${t}`,
    `add set ${t} ctrl { type ipv4_addr; flags interval;${elems(ctrl)} }`,
  ];
  for (const [gid, ips] of [...peerSets].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    head.push(`add set ${t} grp_${nm(gid)} { type ipv4_addr;${elems(ips)} }`);
  }
  head.push(
    `add chain ${t} to_guest`,
    ...chainDefs,
    `add map ${t} egress { type ipv4_addr : verdict;${elems(egressEl)} }`,
    `add map ${t} ingress { type ipv4_addr : verdict;${elems(ingressEl)} }`,
    `add chain ${t} forward { type filter hook forward priority filter; policy accept; }`,
    `add chain ${t} input { type filter hook input priority filter; policy accept; }`,
  );
  const tail: string[] = [];
  const base = (chainName: string, r: string) => { tail.push(`add rule ${t} ${chainName} ${r}`); rules++; };
  const guest = `iifname "${GUEST_IFNAME}"`;
  const toGuest = `oifname "${GUEST_IFNAME}"`;
  base('to_guest', `${toGuest} ip daddr vmap @ingress`);
  base('to_guest', `${toGuest} drop`);
  base('to_guest', 'accept');
  base('forward', 'ct state established,related accept');
  base('forward', 'ct state invalid drop');
  base('forward', `${guest} ip daddr @ctrl drop`);
  base('forward', `${guest} ip saddr vmap @egress`);
  base('forward', `${guest} drop`); // a source that is no live instance (spoofed, or not yet applied)
  base('forward', 'jump to_guest');
  base('input', `${guest} ip daddr @ctrl drop`);

  return { script: [...head, ...tail, ...body].join('\n') + '\n', rules, ignored };
}

// ---------------------------------------------------------------- loading

function checkNetns(ns: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(ns)) throw new Error(`bad netns name ${JSON.stringify(ns)}`);
}

const elapsed = (t0: number) => Math.round((performance.now() - t0) * 10) / 10;

// One apply at a time per namespace in this process, and the newest generation wins.
const applied = new Map<string, number>();
const withLock = keyedMutex();

/**
 * The CC namespace `netns` enforces exactly `desired`: table `inet euca_sg` is replaced in one
 * nft transaction (all or nothing; conntrack entries of flows already allowed survive it).
 * Idempotent. A desired state older than one already applied by this process is skipped.
 */
export async function applySecurityRules(netns: string, desired: ZoneRuleSet): Promise<ApplyResult> {
  checkNetns(netns);
  const t0 = performance.now();
  return withLock(netns, async () => {
    const gen = desired.generation;
    const last = applied.get(netns);
    if (gen !== undefined && last !== undefined && gen < last) {
      return { rules: 0, ms: elapsed(t0), skipped: true };
    }
    const { script, rules, ignored } = renderSecurityRules(desired);
    await nsExec(netns, 'nft', ['-f', '-'], { input: script, timeoutMs: 60_000 });
    if (gen !== undefined) applied.set(netns, gen);
    return { rules, ms: elapsed(t0), ...(ignored ? { ignored } : {}) };
  });
}

/** Remove the table (guests' traffic is then unfiltered by security groups). Idempotent. */
export async function removeSecurityRules(netns: string): Promise<void> {
  checkNetns(netns);
  await withLock(netns, async () => {
    applied.delete(netns);
    await nsExec(netns, 'nft', ['delete', 'table', 'inet', SG_TABLE]).catch((e) => {
      if (e instanceof CommandError && /No such file or directory|Cannot open network namespace/i.test(e.stderr)) return;
      throw e;
    });
  });
}

/** The loaded table as nft prints it ('' when there is none), for operators and tests. */
export async function listSecurityRules(netns: string): Promise<string> {
  checkNetns(netns);
  try {
    return await nsExec(netns, 'nft', ['list', 'table', 'inet', SG_TABLE]);
  } catch (e) {
    if (e instanceof CommandError && /No such file or directory/i.test(e.stderr)) return '';
    throw e;
  }
}
