// Data plane of public (elastic and launch-assigned) addresses on a CC host.
//
// The public segment ("the outside world" on one machine):
//   - a bridge `${prefix}pub0` in the ROOT namespace with the first address of the
//     public CIDR (the host itself stands for the internet), forwarding off on it;
//   - a veth from it into the CC's namespace: root side `${prefix}pv2`, namespace side
//     `pub0` with the CC's own public address (second address of the CIDR).
// A public address in use is a /32 on the CC's `pub0` (so ARP for it is answered by the
// CC and the segment needs neither routes nor NAT in the root namespace), plus NAT in
// the CC's namespace, nft table `ip euca_nat`:
//   - map  @pub2priv { public : private }   prerouting DNAT (from pub0 and from guest bridges: hairpin)
//   - map  @priv2pub { private : public }   postrouting SNAT leaving through pub0, and on hairpin
//   - set  @assoc    { public . private }   the live pairs: a forward guard drops packets of
//     connections NATed under a pair that no longer exists (a moved or released address
//     stops carrying old flows at once; no conntrack tool needed);
//   - guests without a public address reach pub0 masqueraded to the CC's own public
//     address (NatOptions.privateEgress, default on, as Eucalyptus' CC did);
//   - from pub0 only DNATed connections are forwarded (private ranges are not reachable
//     from the outside by routing through the CC).
// Association changes are element-wise adds/deletes in ONE nft transaction (other flows
// are never disturbed; the chains are rewritten only by ensureNat/syncNat, atomically).
//
// Ordering: several workflows may change the same address concurrently; every change
// carries a sequence number from the database (strictly increasing per zone). The CC
// keeps the last applied number per public address in memory and ignores older changes;
// syncNat (run when the CC starts: it rebuilds everything from the database) resets it.
import { promises as fs } from 'node:fs';
import {
  CommandError,
  checkIfname,
  getLink,
  intToIp,
  ip,
  ipToInt,
  ipv4Addrs,
  isIpv4,
  nsExec,
  parseCidr,
} from './ip';
import { keyedMutex } from '../../lib/keyedMutex';

export const NAT_TABLE = 'euca_nat';
/** Packet mark bit (OR-ed in, other bits kept) of guest traffic to a public address, prerouting to postrouting. */
export const HAIRPIN_MARK = '0x10000000';
/** Name of the CC's interface on the public segment (inside the CC namespace). */
export const PUBLIC_IF = 'pub0';

export interface PublicSegmentPlan {
  cidr: string; // e.g. 100.64.250.0/24
  prefixLen: number;
  bridge: string; // '<prefix>pub0' in the root namespace
  hostIp: string; // first address: the host, "the internet"
  ccIp: string; // second address: the CC's own public address (masquerade source)
  rootVeth: string; // '<prefix>pv2', root side of the CC's veth
  ccNetns: string;
}

export interface NatEntry { publicIp: string; privateIp: string }
/** privateIp null: the public address is unused (removed from the CC). */
export interface NatChange { publicIp: string; privateIp: string | null; seq: number }
export interface NatOptions {
  /** guests without a public address reach the outside masqueraded to the CC's public address */
  privateEgress?: boolean;
}
export interface NatApplyResult { applied: number; skipped: number }

/** Plan of the public segment for a CC namespace; `prefix` as in hosts.ts. */
export function planPublicSegment(prefix: string, cidr: string, ccNetns: string): PublicSegmentPlan {
  const c = parseCidr(cidr);
  if (c.prefixLen > 29) throw new Error(`public CIDR ${cidr} too small`);
  return {
    cidr: `${c.network}/${c.prefixLen}`,
    prefixLen: c.prefixLen,
    bridge: checkIfname(`${prefix}pub0`),
    hostIp: intToIp(c.first + 1),
    ccIp: intToIp(c.first + 2),
    rootVeth: checkIfname(`${prefix}pv2`),
    ccNetns,
  };
}

/**
 * Pool of public addresses of a CIDR: from .10 to the last but one before broadcast,
 * or `range` ("a.b.c.d-a.b.c.e[,...]"), which must lie inside the CIDR and avoid the
 * host's and the CC's addresses.
 */
export function publicPool(cidr: string, range?: string): string[] {
  const c = parseCidr(cidr);
  const reserved = new Set([c.first, c.first + 1, c.first + 2, c.first + c.size - 1]);
  const out: string[] = [];
  if (!range) {
    for (let i = Math.min(10, c.size - 2); i < c.size - 1; i++) out.push(intToIp(c.first + i));
    return out.filter((a) => !reserved.has(ipToInt(a)));
  }
  for (const part of range.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [a, b = a] = part.split('-').map((s) => s.trim());
    const lo = ipToInt(a!);
    const hi = ipToInt(b);
    if (hi < lo) throw new Error(`bad public pool range ${part}`);
    for (let n = lo; n <= hi; n++) {
      if (n < c.first || n >= c.first + c.size) throw new Error(`public pool address ${intToIp(n)} is outside ${cidr}`);
      if (!reserved.has(n)) out.push(intToIp(n));
    }
  }
  return [...new Set(out)];
}

function checkNetns(ns: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(ns)) throw new Error(`bad netns name ${JSON.stringify(ns)}`);
}

// ---------------------------------------------------------------- the public segment

async function setSysctl(ns: string | null, key: string, value: string): Promise<void> {
  const file = `/proc/sys/${key.replace(/\./g, '/')}`;
  if (ns === null) await fs.writeFile(file, value);
  else await nsExec(ns, 'sysctl', ['-qw', `${key}=${value}`]);
}

async function syncAddrs(ns: string | null, dev: string, want: string): Promise<void> {
  const have = await ipv4Addrs(ns, dev);
  for (const a of have) if (a !== want && !a.endsWith('/32')) await ip(ns, ['addr', 'del', a, 'dev', dev]);
  if (!have.includes(want)) await ip(ns, ['addr', 'replace', want, 'dev', dev]);
}

/**
 * Idempotent: the bridge in the root namespace with the host's public address, and the
 * CC's veth into it (`pub0` inside with the CC's public address). /32 addresses already
 * on `pub0` (public addresses in use) are left alone.
 */
export async function ensurePublicSegment(p: PublicSegmentPlan): Promise<void> {
  checkNetns(p.ccNetns);
  let br = await getLink(null, p.bridge);
  if (br && br.linkinfo?.info_kind !== 'bridge') {
    await ip(null, ['link', 'del', 'dev', p.bridge]);
    br = null;
  }
  if (!br) {
    try {
      await ip(null, ['link', 'add', 'name', p.bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    } catch (e) {
      if (!(e instanceof CommandError && /File exists/.test(e.stderr))) throw e;
    }
  }
  // The root namespace never routes for this segment (it only stands for a client).
  await setSysctl(null, `net.ipv4.conf.${p.bridge}.forwarding`, '0');
  await syncAddrs(null, p.bridge, `${p.hostIp}/${p.prefixLen}`);
  await ip(null, ['link', 'set', 'dev', p.bridge, 'up']);

  const root = await getLink(null, p.rootVeth);
  const inner = await getLink(p.ccNetns, PUBLIC_IF);
  const paired = !!root && !!inner && root.linkinfo?.info_kind === 'veth' && root.link_index === inner.ifindex;
  if (!paired) {
    if (root) await ip(null, ['link', 'del', 'dev', p.rootVeth]).catch(() => undefined);
    if (inner) await ip(p.ccNetns, ['link', 'del', 'dev', PUBLIC_IF]).catch(() => undefined);
    await ip(null, ['link', 'add', 'name', p.rootVeth, 'type', 'veth', 'peer', 'name', PUBLIC_IF, 'netns', p.ccNetns]);
    await setSysctl(null, `net.ipv4.conf.${p.rootVeth}.forwarding`, '0');
  }
  if (!paired || root?.master !== p.bridge) await ip(null, ['link', 'set', 'dev', p.rootVeth, 'master', p.bridge]);
  await ip(null, ['link', 'set', 'dev', p.rootVeth, 'up']);
  await syncAddrs(p.ccNetns, PUBLIC_IF, `${p.ccIp}/${p.prefixLen}`);
  await ip(p.ccNetns, ['link', 'set', 'dev', PUBLIC_IF, 'up']);
}

/** Remove the segment (bridge + veth). Idempotent. */
export async function destroyPublicSegment(p: Pick<PublicSegmentPlan, 'bridge' | 'rootVeth'>): Promise<void> {
  for (const dev of [p.rootVeth, p.bridge]) {
    await ip(null, ['link', 'del', 'dev', dev]).catch((e) => {
      if (!(e instanceof CommandError && /Cannot find device|does not exist/.test(e.stderr))) throw e;
    });
  }
}

/** The CC's own public address and prefix on pub0 (the non-/32 address), or null when pub0 is missing. */
export async function ccPublicAddress(netns: string): Promise<{ ip: string; prefixLen: number; cidr: string } | null> {
  const link = await getLink(netns, PUBLIC_IF);
  if (!link) return null;
  const a = (await ipv4Addrs(netns, PUBLIC_IF)).find((x) => !x.endsWith('/32'));
  if (!a) return null;
  const [addr, len] = a.split('/');
  const c = parseCidr(a);
  return { ip: addr!, prefixLen: Number(len), cidr: `${c.network}/${c.prefixLen}` };
}

// ---------------------------------------------------------------- nft

// Serialise changes per namespace inside this process.
const withLock = keyedMutex();

/** Last applied sequence number per (netns, public address). */
const lastSeq = new Map<string, Map<string, number>>();
const seqOf = (netns: string) => {
  let m = lastSeq.get(netns);
  if (!m) lastSeq.set(netns, (m = new Map()));
  return m;
};

async function nft(netns: string, args: string[], input?: string): Promise<string> {
  return nsExec(netns, 'nft', args, input === undefined ? {} : { input });
}

function tableScript(pub: { ip: string; cidr: string }, opts: NatOptions): string {
  const t = `ip ${NAT_TABLE}`;
  const lines = [
    `add table ${t}`,
    `add map ${t} pub2priv { type ipv4_addr : ipv4_addr; }`,
    `add map ${t} priv2pub { type ipv4_addr : ipv4_addr; }`,
    `add set ${t} assoc { type ipv4_addr . ipv4_addr; }`,
    `add chain ${t} prerouting { type nat hook prerouting priority dstnat; policy accept; }`,
    `add chain ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    `add chain ${t} forward { type filter hook forward priority -5; policy accept; }`,
    `add chain ${t} input { type filter hook input priority -5; policy accept; }`,
    `flush chain ${t} prerouting`,
    `flush chain ${t} postrouting`,
    `flush chain ${t} forward`,
    `flush chain ${t} input`,
    // hairpin (guest -> public address of a guest) is marked here: postrouting cannot see
    // the input interface of a packet routed back out of a (br_netfilter) bridge
    `add rule ${t} prerouting iifname "vb*" ip daddr @pub2priv meta mark set meta mark | ${HAIRPIN_MARK}`,
    // inbound to a public address, from the outside and from guests
    `add rule ${t} prerouting iifname "${PUBLIC_IF}" dnat ip to ip daddr map @pub2priv`,
    `add rule ${t} prerouting iifname "vb*" dnat ip to ip daddr map @pub2priv`,
    // outbound: a guest with a public address leaves with it
    `add rule ${t} postrouting oifname "${PUBLIC_IF}" snat ip to ip saddr map @priv2pub`,
    // hairpin: the reply must come back through the CC, so the source becomes the
    // sender's public address, or (it has none) the gateway
    `add rule ${t} postrouting meta mark & ${HAIRPIN_MARK} == ${HAIRPIN_MARK} ct status dnat snat ip to ip saddr map @priv2pub`,
    `add rule ${t} postrouting meta mark & ${HAIRPIN_MARK} == ${HAIRPIN_MARK} ct status dnat masquerade`,
  ];
  if (opts.privateEgress !== false) lines.push(`add rule ${t} postrouting iifname "vb*" oifname "${PUBLIC_IF}" masquerade`);
  lines.push(
    // from the outside only connections to an associated public address are forwarded
    `add rule ${t} forward iifname "${PUBLIC_IF}" ct state invalid drop`,
    `add rule ${t} forward iifname "${PUBLIC_IF}" ct state new ct status & dnat == 0 drop`,
    // flows NATed under a pair that is gone (moved, disassociated, released) stop at once
    `add rule ${t} forward ct status dnat ct original ip daddr ${pub.cidr} ct original ip daddr . ct reply ip saddr != @assoc drop`,
    `add rule ${t} forward ct status snat ct reply ip daddr ${pub.cidr} ct reply ip daddr != ${pub.ip} ct reply ip daddr . ct original ip saddr != @assoc drop`,
    // nothing but ping answers to new connections on the CC's own public addresses
    `add rule ${t} input iifname "${PUBLIC_IF}" ct state new ip protocol != icmp drop`,
  );
  return lines.join('\n') + '\n';
}

interface NatTables { pub2priv: Map<string, string>; priv2pub: Map<string, string>; assoc: Set<string> }

/** Current content of the NAT maps; null when the table is absent. */
async function readTables(netns: string): Promise<NatTables | null> {
  let out: string;
  try {
    out = await nft(netns, ['-j', 'list', 'table', 'ip', NAT_TABLE]);
  } catch (e) {
    if (e instanceof CommandError && /No such file or directory|does not exist/i.test(e.stderr)) return null;
    throw e;
  }
  const res: NatTables = { pub2priv: new Map(), priv2pub: new Map(), assoc: new Set() };
  for (const o of (JSON.parse(out) as { nftables: any[] }).nftables) {
    const m = o.map ?? o.set;
    if (!m) continue;
    for (const el of m.elem ?? []) {
      if (m.name === 'pub2priv' && Array.isArray(el)) res.pub2priv.set(String(el[0]), String(el[1]));
      else if (m.name === 'priv2pub' && Array.isArray(el)) res.priv2pub.set(String(el[0]), String(el[1]));
      else if (m.name === 'assoc') {
        const c = el?.concat ?? el?.elem?.val?.concat;
        if (Array.isArray(c)) res.assoc.add(`${c[0]} . ${c[1]}`);
      }
    }
  }
  return res;
}

async function ensureTableLocked(netns: string, opts: NatOptions): Promise<void> {
  const pub = await ccPublicAddress(netns);
  if (!pub) throw new Error(`${netns}: no public segment (${PUBLIC_IF} missing or without address); see hosts.ts ensureHosts`);
  await setSysctl(netns, 'net.ipv4.ip_forward', '1');
  // Guest bridges in the CC route, they do not bridge through netfilter: with br_netfilter's
  // call-iptables on, a DNAT whose target is on the bridge it came from is "bridged DNAT"
  // (sent back at layer 2 through the ingress port), which breaks hairpin to a guest on the
  // same network (and a guest reaching its own public address). Per namespace (kernel >= 5.3).
  await setSysctl(netns, 'net.bridge.bridge-nf-call-iptables', '0').catch(() => undefined);
  await nft(netns, ['-f', '-'], tableScript(pub, opts));
}

/** The NAT table, its chains and IP forwarding in the CC namespace. Maps are kept. Idempotent. */
export async function ensureNat(netns: string, opts: NatOptions = {}): Promise<void> {
  checkNetns(netns);
  await withLock(`nat:${netns}`, () => ensureTableLocked(netns, opts));
}

/** Public -> private pairs currently programmed (from @pub2priv). */
export async function listNat(netns: string): Promise<NatEntry[]> {
  checkNetns(netns);
  const t = await readTables(netns);
  if (!t) return [];
  return [...t.pub2priv].map(([publicIp, privateIp]) => ({ publicIp, privateIp })).sort((a, b) => ipToInt(a.publicIp) - ipToInt(b.publicIp));
}

/** /32 addresses on pub0: the public addresses the CC answers for. */
export async function listPublicAddresses(netns: string): Promise<string[]> {
  let addrs: string[];
  try {
    addrs = await ipv4Addrs(netns, PUBLIC_IF);
  } catch (e) {
    if (e instanceof CommandError && /does not exist|Cannot find device/i.test(e.stderr)) return [];
    throw e;
  }
  return addrs.filter((a) => a.endsWith('/32')).map((a) => a.slice(0, -3));
}

/**
 * Bring maps, set and pub0's /32 addresses from `cur` to `want` (public -> private),
 * element-wise, in one nft transaction. Returns how many public addresses changed.
 */
async function converge(netns: string, cur: NatTables, want: Map<string, string>): Promise<number> {
  const t = `ip ${NAT_TABLE}`;
  const cmds: string[] = [];
  // the desired reverse map: one public address per private address
  const wantRev = new Map<string, string>();
  for (const [pub, priv] of want) wantRev.set(priv, pub);
  const changed = new Set<string>();
  for (const [pub, priv] of cur.pub2priv) {
    if (want.get(pub) !== priv) { cmds.push(`delete element ${t} pub2priv { ${pub} }`); changed.add(pub); }
  }
  for (const [priv, pub] of cur.priv2pub) {
    if (wantRev.get(priv) !== pub) { cmds.push(`delete element ${t} priv2pub { ${priv} }`); changed.add(pub); }
  }
  for (const pair of cur.assoc) {
    const [pub, priv] = pair.split(' . ') as [string, string];
    if (want.get(pub) !== priv) { cmds.push(`delete element ${t} assoc { ${pub} . ${priv} }`); changed.add(pub); }
  }
  for (const [pub, priv] of want) {
    if (cur.pub2priv.get(pub) !== priv) { cmds.push(`add element ${t} pub2priv { ${pub} : ${priv} }`); changed.add(pub); }
    if (cur.assoc.has(`${pub} . ${priv}`) === false) { cmds.push(`add element ${t} assoc { ${pub} . ${priv} }`); changed.add(pub); }
  }
  for (const [priv, pub] of wantRev) {
    if (cur.priv2pub.get(priv) !== pub) { cmds.push(`add element ${t} priv2pub { ${priv} : ${pub} }`); changed.add(pub); }
  }
  // Addresses: removed ones go before the maps change, new ones after (never an ARP answer without DNAT).
  const have = new Set(await listPublicAddresses(netns));
  const drop = [...have].filter((a) => !want.has(a));
  const add = [...want.keys()].filter((a) => !have.has(a));
  for (const a of drop) {
    await ip(netns, ['addr', 'del', `${a}/32`, 'dev', PUBLIC_IF]).catch((e) => {
      if (!(e instanceof CommandError && /Cannot assign|not found|does not exist/i.test(e.stderr))) throw e;
    });
    changed.add(a);
  }
  if (cmds.length) await nft(netns, ['-f', '-'], cmds.join('\n') + '\n');
  if (add.length) {
    await nsExec(netns, 'ip', ['-batch', '-'], { input: add.map((a) => `addr replace ${a}/32 dev ${PUBLIC_IF}\n`).join('') });
    add.forEach((a) => changed.add(a));
  }
  return changed.size;
}

function checkChange(c: NatChange): void {
  if (!isIpv4(c.publicIp)) throw new Error(`bad public address ${c.publicIp}`);
  if (c.privateIp !== null && !isIpv4(c.privateIp)) throw new Error(`bad private address ${c.privateIp}`);
  if (!Number.isSafeInteger(c.seq) || c.seq < 0) throw new Error(`bad sequence number ${c.seq}`);
}

/**
 * Apply changes to some public addresses (others are untouched). A change older than
 * the last one applied to that address is skipped. A private address mapped to a new
 * public address loses any other public address it had (one per instance). Idempotent.
 */
export async function applyNat(netns: string, changes: NatChange[], opts: NatOptions = {}): Promise<NatApplyResult> {
  checkNetns(netns);
  changes.forEach(checkChange);
  return withLock(`nat:${netns}`, async () => {
    const seqs = seqOf(netns);
    const floor = seqs.get('*') ?? -1;
    const fresh = changes.filter((c) => (seqs.get(c.publicIp) ?? floor) < c.seq);
    // within one call the highest sequence number per address wins
    const byPub = new Map<string, NatChange>();
    for (const c of fresh) if ((byPub.get(c.publicIp)?.seq ?? -1) < c.seq) byPub.set(c.publicIp, c);
    let cur = await readTables(netns);
    if (!cur) {
      await ensureTableLocked(netns, opts);
      cur = (await readTables(netns))!;
    }
    // The whole desired state: what is programmed, with these changes.
    const want = new Map(cur.pub2priv);
    for (const c of byPub.values()) {
      want.delete(c.publicIp);
      if (c.privateIp !== null) {
        for (const [p, v] of want) if (v === c.privateIp) want.delete(p);
        want.set(c.publicIp, c.privateIp);
      }
    }
    if (byPub.size) await converge(netns, cur, want);
    for (const c of byPub.values()) seqs.set(c.publicIp, c.seq);
    return { applied: byPub.size, skipped: changes.length - fresh.length };
  });
}

/**
 * Reconcile: exactly `desired` is programmed (table and chains rewritten atomically,
 * elements changed one by one, stray /32 addresses removed). `seq` is the database's
 * sequence number read with `desired`: later changes still apply, older ones are skipped.
 */
export async function syncNat(netns: string, desired: NatEntry[], seq = 0, opts: NatOptions = {}): Promise<{ changed: number }> {
  checkNetns(netns);
  for (const d of desired) checkChange({ ...d, seq });
  return withLock(`nat:${netns}`, async () => {
    await ensureTableLocked(netns, opts);
    const cur = (await readTables(netns))!;
    const want = new Map<string, string>();
    const seen = new Set<string>();
    for (const d of desired) {
      if (seen.has(d.privateIp)) throw new Error(`private address ${d.privateIp} has two public addresses`);
      seen.add(d.privateIp);
      want.set(d.publicIp, d.privateIp);
    }
    const changed = await converge(netns, cur, want);
    const seqs = seqOf(netns);
    seqs.clear();
    for (const d of desired) seqs.set(d.publicIp, seq);
    seqs.set('*', seq);
    return { changed };
  });
}

/** Remove the NAT table and every public /32 from pub0 (the segment stays). Idempotent. */
export async function removeNat(netns: string): Promise<void> {
  checkNetns(netns);
  await withLock(`nat:${netns}`, async () => {
    for (const a of await listPublicAddresses(netns).catch(() => [] as string[])) {
      await ip(netns, ['addr', 'del', `${a}/32`, 'dev', PUBLIC_IF]).catch(() => undefined);
    }
    await nft(netns, ['delete', 'table', 'ip', NAT_TABLE]).catch((e) => {
      if (e instanceof CommandError && /No such file or directory|Cannot open network namespace/i.test(e.stderr)) return;
      throw e;
    });
    lastSeq.delete(netns);
  });
}
