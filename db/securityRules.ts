// Desired security-group state of one zone, for the CC's nft table (activities/network/securityRules.ts):
// every live instance of the zone holding a private IP, its groups, each group's rules, and the
// members of every group a rule names as its peer. Read in ONE consistent snapshot, stamped with
// the database's clock (`generation`) so the CC can refuse an older state than it already has.
import { getPool } from './pool';
import { gatewayOf } from '../lib/ipv4';
import { config } from '../lib/config';
import type { SgRule, ZoneRuleGroup, ZoneRuleInstance, ZoneRuleSet } from '../activities/network/securityRules';

/**
 * What guests must never reach: the hosts' underlay, plus EUCA_CONTROL_PLANE (comma-separated
 * CIDRs/addresses, e.g. the host's public-segment address once the public segment exists).
 */
export function controlPlaneCidrs(): string[] {
  const extra = (process.env.EUCA_CONTROL_PLANE ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  // The host's own address on the public segment is control plane too (the host stands for the world, but guests must not reach it).
  const hostPublic = gatewayOf(config.publicCidr) + '/32';
  return [...new Set([config.underlayCidr, hostPublic, ...extra])];
}

// ---------------------------------------------------------------- OPTIONAL JOIN: public IPs
// Public addresses (elastic IPs and launch addresses) are rows of `addresses` (migration
// 005_elastic_ips, db/addresses.ts; one row per instance at most). Where that table exists, a
// member's public IP joins its private IP in its groups' peer sets (hairpin: a guest reaching
// another guest through its public address). Where it does not (yet), no public IPs are read.
// If public addresses move elsewhere, change PUBLIC_IP_JOIN (it must yield at most one
// `public_ip` per instance `i`) — nothing else depends on where they live.
const PUBLIC_IP_JOIN = 'LEFT JOIN addresses pa ON pa.instance_id = i.id';
const PUBLIC_IP_COL = 'pa.public_ip';
let publicIpsKnown: boolean | undefined;
async function hasPublicIps(q: { query: (sql: string, v?: any) => Promise<any> }): Promise<boolean> {
  if (publicIpsKnown === undefined) {
    const [rows] = await q.query(
      `SELECT 1 FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'addresses' AND column_name = 'instance_id'`);
    publicIpsKnown = (rows as any[]).length > 0;
    if (!publicIpsKnown) setTimeout(() => { publicIpsKnown = undefined; }, 60_000).unref(); // re-check after a migration
  }
  return publicIpsKnown;
}
// ----------------------------------------------------------------

const ruleOf = (r: any): SgRule => ({
  protocol: r.protocol, fromPort: Number(r.from_port), toPort: Number(r.to_port),
  cidr: r.cidr || undefined, sourceGroupId: r.source_group_id || undefined,
});

/** The zone's desired security-group state (see the file comment). */
export async function zoneRuleSet(zone: string): Promise<ZoneRuleSet> {
  const conn = await getPool().getConnection();
  try {
    // The clock is read BEFORE the snapshot starts: a state that lacks a commit C then always
    // carries an older generation than any state read after C committed (the API's own
    // workflow after Authorize/Revoke), so skipping older generations never loses C.
    const [[now]] = await conn.query<any[]>('SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED) AS us') as any;
    await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    const pub = await hasPublicIps(conn);
    const join = pub ? PUBLIC_IP_JOIN : '';
    const col = pub ? PUBLIC_IP_COL : 'NULL';
    const live = `i.state <> 'terminated' AND i.private_ip IS NOT NULL AND i.private_ip <> ''`;
    // Live instances of the zone with an address (the lead moves addresses to per-network pools;
    // instances.private_ip stays the address an instance holds), with their groups.
    const [insts] = await conn.query<any[]>(
      `SELECT i.id, i.private_ip, ${col} AS public_ip FROM instances i ${join}
        WHERE i.zone = ? AND ${live} ORDER BY i.id`, [zone]);
    const [memberships] = await conn.query<any[]>(
      `SELECT isg.instance_id, isg.group_id FROM instance_security_groups isg JOIN instances i ON i.id = isg.instance_id
        WHERE i.zone = ? AND ${live} ORDER BY isg.instance_id, isg.group_id`, [zone]);

    const instances = new Map<string, ZoneRuleInstance>();
    for (const r of insts) {
      instances.set(r.id, { instanceId: r.id, privateIp: r.private_ip, groupIds: [], ...(r.public_ip ? { publicIp: r.public_ip as string } : {}) });
    }
    for (const m of memberships) instances.get(m.instance_id)?.groupIds.push(m.group_id);

    const groups = new Map<string, ZoneRuleGroup>();
    const group = (id: string) => {
      let g = groups.get(id);
      if (!g) groups.set(id, (g = { groupId: id, memberIps: [], ingress: [], egress: [] }));
      return g;
    };
    for (const i of instances.values()) for (const gid of i.groupIds) group(gid);

    if (groups.size) {
      const [rules] = await conn.query<any[]>(
        `SELECT group_id, is_egress, protocol, from_port, to_port, cidr, source_group_id FROM security_group_rules
          WHERE group_id IN (?) ORDER BY seq`, [[...groups.keys()]]);
      for (const r of rules) {
        const g = group(r.group_id);
        (r.is_egress ? g.egress : g.ingress).push(ruleOf(r));
        if (r.source_group_id) group(r.source_group_id); // a peer: its members are needed too
      }
      // Members of every group involved, in ANY zone and network (subnets are unique across
      // the cloud, so an address names one instance): private IPs, and public IPs for hairpin.
      const [members] = await conn.query<any[]>(
        `SELECT isg.group_id, i.private_ip, ${col} AS public_ip FROM instance_security_groups isg
           JOIN instances i ON i.id = isg.instance_id ${join}
          WHERE isg.group_id IN (?) AND ${live} ORDER BY isg.group_id, i.id`, [[...groups.keys()]]);
      const seen = new Set<string>();
      for (const m of members) {
        for (const a of [m.private_ip, m.public_ip] as (string | null)[]) {
          if (!a || seen.has(`${m.group_id} ${a}`)) continue;
          seen.add(`${m.group_id} ${a}`);
          groups.get(m.group_id)!.memberIps.push(a);
        }
      }
    }
    await conn.commit();
    return {
      controlPlane: controlPlaneCidrs(),
      instances: [...instances.values()],
      groups: [...groups.values()],
      generation: Number(now.us),
    };
  } catch (e) {
    await conn.rollback().catch(() => undefined);
    throw e;
  } finally {
    conn.release();
  }
}

/** Zones where live members of `groupId` hold an address (where a change to the group must be enforced). */
export async function zonesOfGroup(groupId: string): Promise<string[]> {
  const [rows] = await getPool().query<any[]>(
    `SELECT DISTINCT i.zone FROM instance_security_groups isg JOIN instances i ON i.id = isg.instance_id
      WHERE isg.group_id = ? AND i.state <> 'terminated' AND i.private_ip IS NOT NULL AND i.private_ip <> ''
      ORDER BY i.zone`, [groupId]);
  return rows.map((r) => r.zone as string);
}
