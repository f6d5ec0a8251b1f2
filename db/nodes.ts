// Nodes (NCs) and the capacity they hold. A node is "up" while its heartbeat is fresh.
import { config } from '../lib/config';
import { getPool, Conn } from './pool';
import type { NodeCapacity } from '../lib/scheduler';

export interface NodeRegistration { name: string; zone: string; underlayIp: string; vcpus: number; memoryMiB: number; diskGiB: number }

export async function registerNode(n: NodeRegistration): Promise<void> {
  await getPool().query(
    `INSERT INTO nodes (name, zone, underlay_ip, vcpus, memory_mib, disk_gib, last_heartbeat) VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3))
     ON DUPLICATE KEY UPDATE zone = VALUES(zone), underlay_ip = VALUES(underlay_ip), vcpus = VALUES(vcpus),
       memory_mib = VALUES(memory_mib), disk_gib = VALUES(disk_gib), last_heartbeat = UTC_TIMESTAMP(3)`,
    [n.name, n.zone, n.underlayIp, n.vcpus, n.memoryMiB, n.diskGiB]);
}

export async function heartbeatNode(name: string): Promise<void> {
  await getPool().query('UPDATE nodes SET last_heartbeat = UTC_TIMESTAMP(3) WHERE name = ?', [name]);
}

const upClause = `enabled AND last_heartbeat > UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND`;

/** Free capacity of every up node of a zone; with `conn` the node rows are locked for the transaction. */
export async function nodeCapacities(zone: string, conn?: Conn): Promise<NodeCapacity[]> {
  const q = conn ?? getPool();
  const [rows] = await q.query<any[]>(
    `SELECT n.name, n.vcpus, n.memory_mib, n.disk_gib,
            COALESCE(SUM(a.vcpus),0) AS used_vcpus, COALESCE(SUM(a.memory_mib),0) AS used_mem,
            COALESCE(SUM(a.disk_gib),0) AS used_disk, COUNT(a.instance_id) AS instances
       FROM nodes n LEFT JOIN node_allocations a ON a.node = n.name
      WHERE n.zone = ? AND ${upClause}
      GROUP BY n.name ORDER BY n.name ${conn ? 'FOR UPDATE' : ''}`,
    [zone, config.nodeDownAfterMs * 1000]);
  return rows.map((r) => ({
    name: r.name, freeVcpus: r.vcpus - Number(r.used_vcpus), freeMemoryMiB: r.memory_mib - Number(r.used_mem),
    freeDiskGiB: r.disk_gib - Number(r.used_disk), instances: Number(r.instances),
  }));
}

export interface NodeRow { name: string; zone: string; underlayIp: string; vcpus: number; memoryMiB: number; diskGiB: number; up: boolean }
export async function listNodes(zone?: string): Promise<NodeRow[]> {
  const [rows] = await getPool().query<any[]>(
    `SELECT name, zone, underlay_ip, vcpus, memory_mib, disk_gib, (${upClause}) AS up FROM nodes ${zone ? 'WHERE zone = ?' : ''} ORDER BY name`,
    zone ? [config.nodeDownAfterMs * 1000, zone] : [config.nodeDownAfterMs * 1000]);
  return rows.map((r) => ({ name: r.name, zone: r.zone, underlayIp: r.underlay_ip, vcpus: r.vcpus, memoryMiB: r.memory_mib, diskGiB: r.disk_gib, up: !!r.up }));
}
