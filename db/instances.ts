// Instances: admission (capacity, addresses, rows in one transaction), moves
// between nodes, state transitions and release. Every function is safe to
// call twice: activities that wrap them may be retried.
import crypto from 'node:crypto';
import { getPool, inTransaction, Conn } from './pool';
import { nodeCapacities } from './nodes';
import { ec2Failure } from './errors';
import { pickNode, take, Need, SchedulingPolicy } from '../lib/scheduler';
import { instanceAddresses } from '../lib/ipv4';
import type { RunInstancesInput, Admission, TagInput } from '../workflows/types';
import { networkForGroup } from './networks';
import { setInstanceGroups, ensureDefaultGroup } from './securityGroups';
import { saveTags } from './tags';

export interface InstanceRow {
  id: string; reservationId: string; accountId: string; launchIndex: number; imageId: string; instanceType: string;
  zone: string; node: string | null; state: string; stateReasonCode: string | null; stateReasonMessage: string | null;
  stateTransitionReason: string | null; privateIp: string | null; mac: string | null; userData: string | null;
  keyName: string | null; clientToken: string | null; launchedAt: Date; updatedAt: Date; tags: { key: string; value: string }[];
  networkId: string | null;
  groups: { id: string; name: string }[];
  publicIp: string | null;
  /** instance attributes (migration 009) */
  disableApiTermination: boolean; shutdownBehavior: 'stop' | 'terminate'; monitoring: 'disabled' | 'enabled';
  kernelId: string | null; ramdiskId: string | null;
}
const instanceOf = (r: any): InstanceRow => ({
  id: r.id, reservationId: r.reservation_id, accountId: r.account_id, launchIndex: r.launch_index, imageId: r.image_id,
  instanceType: r.instance_type, zone: r.zone, node: r.node, state: r.state, stateReasonCode: r.state_reason_code,
  stateReasonMessage: r.state_reason_message, stateTransitionReason: r.state_transition_reason, privateIp: r.private_ip,
  mac: r.mac, userData: r.user_data, keyName: r.key_name, clientToken: r.client_token, launchedAt: r.launched_at,
  updatedAt: r.updated_at, tags: [], networkId: r.network_id ?? null, groups: [], publicIp: null,
  disableApiTermination: !!r.disable_api_termination, shutdownBehavior: r.shutdown_behavior ?? 'stop',
  monitoring: r.monitoring ?? 'disabled', kernelId: r.kernel_id ?? null, ramdiskId: r.ramdisk_id ?? null,
});

export const stateCodes: Record<string, number> = {
  pending: 0, running: 16, 'shutting-down': 32, terminated: 48, stopping: 64, stopped: 80,
};

async function attachTags(rows: InstanceRow[]): Promise<InstanceRow[]> {
  if (rows.length === 0) return rows;
  const [tags] = await getPool().query<any[]>(
    'SELECT resource_id, tag_key, tag_value FROM tags WHERE resource_id IN (?) ORDER BY tag_key', [rows.map((r) => r.id)]);
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const t of tags) byId.get(t.resource_id)?.tags.push({ key: t.tag_key, value: t.tag_value });
  const [groups] = await getPool().query<any[]>(
    `SELECT isg.instance_id, sg.id, sg.name FROM instance_security_groups isg JOIN security_groups sg ON sg.id = isg.group_id
      WHERE isg.instance_id IN (?) ORDER BY sg.name`, [rows.map((r) => r.id)]);
  for (const g of groups) byId.get(g.instance_id)?.groups.push({ id: g.id, name: g.name });
  const [pubs] = await getPool().query<any[]>('SELECT instance_id, public_ip FROM addresses WHERE instance_id IN (?)', [rows.map((r) => r.id)]);
  for (const p of pubs) { const r = byId.get(p.instance_id); if (r) r.publicIp = p.public_ip; }
  return rows;
}

/** Instances of one account (never another's), optionally by id. */
export async function listInstances(accountId: string, ids?: string[]): Promise<InstanceRow[]> {
  const [rows] = ids && ids.length
    ? await getPool().query<any[]>('SELECT * FROM instances WHERE account_id = ? AND id IN (?) ORDER BY launched_at, launch_index', [accountId, ids])
    : await getPool().query<any[]>('SELECT * FROM instances WHERE account_id = ? ORDER BY launched_at, launch_index', [accountId]);
  return attachTags(rows.map(instanceOf));
}

export async function getInstance(id: string): Promise<InstanceRow | undefined> {
  const [rows] = await getPool().query<any[]>('SELECT * FROM instances WHERE id = ?', [id]);
  return rows[0] ? (await attachTags([instanceOf(rows[0])]))[0] : undefined;
}

export async function findReservationByToken(accountId: string, clientToken: string) {
  const [rows] = await getPool().query<any[]>('SELECT * FROM reservations WHERE account_id = ? AND client_token = ?', [accountId, clientToken]);
  return rows[0] as { id: string; params_hash: string; workflow_id: string } | undefined;
}

export function randomMac(): string {
  return 'd0:0d:' + [...crypto.randomBytes(4)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** A private address from the network's pool (pool = network id), lowest free first. */
async function takeAddress(conn: Conn, pool: string, subnet: string, instanceId: string, avoid?: string): Promise<string> {
  const [held] = await conn.query<any[]>('SELECT ip FROM private_ips WHERE instance_id = ?', [instanceId]);
  if (held[0]) return held[0].ip;
  const [rows] = await conn.query<any[]>('SELECT ip FROM private_ips WHERE pool = ? FOR UPDATE', [pool]);
  const used = new Set(rows.map((r) => r.ip));
  if (avoid) used.add(avoid);
  for (const ip of instanceAddresses(subnet)) {
    if (!used.has(ip)) { await conn.query('INSERT INTO private_ips (pool, ip, instance_id) VALUES (?, ?, ?)', [pool, ip, instanceId]); return ip; }
  }
  throw ec2Failure('InsufficientInstanceCapacity', `There are no free private addresses in network ${pool} (${subnet}).`);
}

async function takeMac(conn: Conn, instanceId: string): Promise<string> {
  const [held] = await conn.query<any[]>('SELECT mac FROM macs WHERE instance_id = ?', [instanceId]);
  if (held[0]) return held[0].mac;
  for (let i = 0; i < 20; i++) {
    const mac = randomMac();
    try { await conn.query('INSERT INTO macs (mac, instance_id) VALUES (?, ?)', [mac, instanceId]); return mac; }
    catch (e: any) { if (e.code !== 'ER_DUP_ENTRY') throw e; }   // the unique key keeps MACs unique
  }
  throw new Error('could not find a free MAC address');
}

/**
 * Admission of a RunInstances request: validates image, type and zone, places
 * as many instances as fit (at least MinCount), and writes the reservation,
 * instance rows (pending), capacity, private IPs, MACs and tags in one
 * transaction. Called again with the same reservation id, it returns what
 * the first call admitted.
 */
export async function admitReservation(input: RunInstancesInput, reservationId: string, workflowId: string, instanceIds: string[]): Promise<Admission> {
  // No group named: the account's default group (made on first use).
  const groupIds = input.securityGroupIds?.length ? input.securityGroupIds : [(await ensureDefaultGroup(input.accountId)).id];
  return inTransaction(async (conn) => {
    const [prior] = await conn.query<any[]>('SELECT id FROM reservations WHERE id = ?', [reservationId]);
    if (prior[0]) {
      const [rows] = await conn.query<any[]>('SELECT id, zone FROM instances WHERE reservation_id = ? ORDER BY launch_index', [reservationId]);
      return { reservationId, instanceIds: rows.map((r) => r.id), zone: rows[0]?.zone };
    }
    const [img] = await conn.query<any[]>(
      `SELECT id FROM images WHERE id = ? AND state = 'available' AND image_type = 'machine'
         AND (account_id = ? OR is_public OR id IN (SELECT image_id FROM image_launch_permissions WHERE account_id = ?))`,
      [input.imageId, input.accountId, input.accountId]);
    if (!img[0]) throw ec2Failure('InvalidAMIID.NotFound', `The image id '[${input.imageId}]' does not exist`);
    const [types] = await conn.query<any[]>('SELECT * FROM instance_types WHERE name = ?', [input.instanceType]);
    if (!types[0]) throw ec2Failure('InvalidParameterValue', `Invalid value '${input.instanceType}' for InstanceType.`);
    const need: Need = { vcpus: types[0].vcpus, memoryMiB: types[0].memory_mib, diskGiB: types[0].disk_gib };

    const [zones] = await conn.query<any[]>(`SELECT * FROM zones WHERE state = 'available' ORDER BY name`);
    let candidates = zones;
    if (input.zone) {
      candidates = zones.filter((z) => z.name === input.zone);
      if (!candidates.length) throw ec2Failure('InvalidParameterValue', `Invalid availability zone: [${input.zone}]`);
    }
    // Zone choice: the requested one, or the one where most instances fit.
    let best: { zone: any; placements: string[]; cursor: string | null } | undefined;
    for (const z of candidates) {
      const caps = await nodeCapacities(z.name, conn);
      const placements: string[] = [];
      let cursor: string | null = z.rr_cursor;
      for (let i = 0; i < input.maxCount; i++) {
        const n = pickNode(caps, need, z.scheduling_policy as SchedulingPolicy, cursor);
        if (!n) break;
        take(n, need); placements.push(n.name); cursor = n.name;
      }
      if (!best || placements.length > best.placements.length) best = { zone: z, placements, cursor };
    }
    if (!best || best.placements.length < input.minCount) {
      throw ec2Failure('InsufficientInstanceCapacity',
        `There is not enough capacity to fulfill your request for ${input.minCount} ${input.instanceType} instance(s)${input.zone ? ` in ${input.zone}` : ''}.`);
    }
    const zone = best.zone;
    // The instances live on the network of their first group (Eucalyptus MANAGED mode).
    const [grp] = await conn.query<any[]>('SELECT id FROM security_groups WHERE id IN (?) AND account_id = ?', [groupIds, input.accountId]);
    if (grp.length !== new Set(groupIds).size) throw ec2Failure('InvalidGroup.NotFound', `The security group '${groupIds.join(', ')}' does not exist`);
    const network = await networkForGroup(conn, input.accountId, groupIds[0]);
    await conn.query('INSERT INTO reservations (id, account_id, client_token, params_hash, workflow_id) VALUES (?, ?, ?, ?, ?)',
      [reservationId, input.accountId, input.clientToken ?? null, input.paramsHash, workflowId]);
    const ids = instanceIds.slice(0, best.placements.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]; const node = best.placements[i];
      const ip = await takeAddress(conn, network.id, network.subnet, id);
      const mac = await takeMac(conn, id);
      await conn.query(
        `INSERT INTO instances (id, reservation_id, account_id, launch_index, image_id, instance_type, zone, node, state, private_ip, mac, user_data, key_name, client_token, network_id,
           disable_api_termination, shutdown_behavior, monitoring)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [id, reservationId, input.accountId, i, input.imageId, input.instanceType, zone.name, node, ip, mac, input.userData ?? null, input.keyName ?? null, input.clientToken ?? null, network.id,
          !!input.disableApiTermination, input.shutdownBehavior ?? 'stop', input.monitoring ? 'enabled' : 'disabled']);
      await setInstanceGroups(conn, id, groupIds);
      await conn.query('INSERT INTO node_allocations (instance_id, node, vcpus, memory_mib, disk_gib) VALUES (?, ?, ?, ?, ?)',
        [id, node, need.vcpus, need.memoryMiB, need.diskGiB]);
      await saveTags(conn, input.accountId, id, 'instance', input.tags.filter((t) => t.resourceType === 'instance'));
    }
    await conn.query('UPDATE zones SET rr_cursor = ? WHERE name = ?', [best.cursor, zone.name]);
    return { reservationId, instanceIds: ids, zone: zone.name };
  });
}

/**
 * Places an instance (again) on a node of its zone that is up and not in
 * `exclude`, holding its capacity there. Keeps the current node when it is
 * allowed and already holds the capacity.
 */
export async function placeInstance(instanceId: string, exclude: string[]): Promise<string> {
  return inTransaction(async (conn) => {
    const [rows] = await conn.query<any[]>(
      `SELECT i.*, t.vcpus, t.memory_mib, t.disk_gib, z.scheduling_policy, z.rr_cursor
         FROM instances i JOIN instance_types t ON t.name = i.instance_type JOIN zones z ON z.name = i.zone
        WHERE i.id = ? FOR UPDATE`, [instanceId]);
    const inst = rows[0];
    if (!inst) throw ec2Failure('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
    const [held] = await conn.query<any[]>('SELECT node FROM node_allocations WHERE instance_id = ?', [instanceId]);
    if (held[0] && !exclude.includes(held[0].node)) {
      await conn.query('UPDATE instances SET node = ? WHERE id = ?', [held[0].node, instanceId]);
      return held[0].node as string;
    }
    await conn.query('DELETE FROM node_allocations WHERE instance_id = ?', [instanceId]);
    if (exclude.length && inst.state === 'pending') {
      // Leaving a node that is gone: its VM may still run there with the old
      // MAC and address, so the instance gets new ones (the old node's VM is
      // destroyed when that node comes back and reconciles).
      const [[net]] = await conn.query<any[]>('SELECT id, subnet FROM networks WHERE id = ?', [inst.network_id]) as any;
      await conn.query('DELETE FROM private_ips WHERE instance_id = ?', [instanceId]);
      await conn.query('DELETE FROM macs WHERE instance_id = ?', [instanceId]);
      const ip = await takeAddress(conn, net.id, net.subnet, instanceId, inst.private_ip);
      const mac = await takeMac(conn, instanceId);
      await conn.query('UPDATE instances SET private_ip = ?, mac = ? WHERE id = ?', [ip, mac, instanceId]);
    }
    const need: Need = { vcpus: inst.vcpus, memoryMiB: inst.memory_mib, diskGiB: inst.disk_gib };
    const caps = (await nodeCapacities(inst.zone, conn)).filter((n) => !exclude.includes(n.name));
    const n = pickNode(caps, need, inst.scheduling_policy, inst.rr_cursor);
    if (!n) throw ec2Failure('InsufficientInstanceCapacity', `There is not enough capacity in ${inst.zone} for a ${inst.instance_type} instance.`);
    await conn.query('INSERT INTO node_allocations (instance_id, node, vcpus, memory_mib, disk_gib) VALUES (?, ?, ?, ?, ?)',
      [instanceId, n.name, need.vcpus, need.memoryMiB, need.diskGiB]);
    await conn.query('UPDATE instances SET node = ? WHERE id = ?', [n.name, instanceId]);
    await conn.query('UPDATE zones SET rr_cursor = ? WHERE name = ?', [n.name, inst.zone]);
    return n.name;
  });
}

/** Gives the node capacity back (stop, or a failed attempt on a node). */
export async function releaseCapacity(instanceId: string): Promise<void> {
  await getPool().query('DELETE FROM node_allocations WHERE instance_id = ?', [instanceId]);
}

/** Gives back everything the instance holds: capacity, private IP, MAC. */
export async function releaseAll(instanceId: string): Promise<void> {
  await inTransaction(async (conn) => {
    await conn.query('DELETE FROM node_allocations WHERE instance_id = ?', [instanceId]);
    await conn.query('DELETE FROM private_ips WHERE instance_id = ?', [instanceId]);
    await conn.query('DELETE FROM macs WHERE instance_id = ?', [instanceId]);
  });
}

/**
 * Moves an instance from one of `from` states to `to`; returns the state it
 * had. When it is in none of them, returns the state without changing it
 * (the caller decides whether that is an error).
 */
export async function transition(instanceId: string, from: string[], to: string, reason?: { code?: string; message?: string; transition?: string }): Promise<{ previous: string; changed: boolean }> {
  return inTransaction(async (conn) => {
    const [rows] = await conn.query<any[]>('SELECT state FROM instances WHERE id = ? FOR UPDATE', [instanceId]);
    if (!rows[0]) throw ec2Failure('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
    const previous = rows[0].state as string;
    if (!from.includes(previous)) return { previous, changed: false };
    await conn.query(
      `UPDATE instances SET state = ?, state_reason_code = ?, state_reason_message = ?,
         state_transition_reason = COALESCE(?, state_transition_reason) WHERE id = ?`,
      [to, reason?.code ?? null, reason?.message ?? null, reason?.transition ?? null, instanceId]);
    return { previous, changed: true };
  });
}

/** What a node should be running: instances placed there that are not stopped or gone. */
export async function instancesExpectedOnNode(node: string): Promise<string[]> {
  const [rows] = await getPool().query<any[]>(
    `SELECT id FROM instances WHERE node = ? AND state IN ('pending','running','stopping','shutting-down')`, [node]);
  return rows.map((r) => r.id);
}

/** DHCP entries a network should hold: every instance still holding an address there. */
export async function addressesInNetwork(networkId: string): Promise<{ instanceId: string; ip: string; mac: string }[]> {
  const [rows] = await getPool().query<any[]>(
    `SELECT p.instance_id, p.ip, m.mac FROM private_ips p JOIN macs m ON m.instance_id = p.instance_id WHERE p.pool = ?`, [networkId]);
  return rows.map((r) => ({ instanceId: r.instance_id, ip: r.ip, mac: r.mac }));
}
