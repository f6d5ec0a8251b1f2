// Private networks, one per (account, security group): allocation of VNI and
// subnet under unique keys, retirement with the last instance.
import crypto from 'node:crypto';
import { getPool, inTransaction, type Conn } from './pool';
import { config } from '../lib/config';
import { lowestFree, subnetAt, subnetIndex, subnetCount } from '../lib/networkPool';
import { ec2Failure } from './errors';

export interface NetworkRow { id: string; accountId: string; groupId: string | null; vni: number; subnet: string; state: 'active' | 'deleting' }
const networkOf = (r: any): NetworkRow => ({ id: r.id, accountId: r.account_id, groupId: r.group_id, vni: r.vni, subnet: r.subnet, state: r.state });

/** The group's network, made on first use (inside the caller's transaction). */
export async function networkForGroup(conn: Conn, accountId: string, groupId: string): Promise<NetworkRow> {
  const [rows] = await conn.query<any[]>('SELECT * FROM networks WHERE group_id = ? FOR UPDATE', [groupId]);
  if (rows[0]) return networkOf(rows[0]);
  // Lowest free VNI and subnet; the table lock keeps two launches from taking the same.
  const [all] = await conn.query<any[]>('SELECT vni, subnet FROM networks FOR UPDATE');
  const vni = lowestFree(all.map((r) => r.vni), config.vniBase, 16_777_215);
  const index = lowestFree(all.map((r) => subnetIndex(config.networkRange, config.networkPrefix, r.subnet)), 0,
    subnetCount(config.networkRange, config.networkPrefix) - 1);
  const subnet = index === undefined ? undefined : subnetAt(config.networkRange, config.networkPrefix, index);
  if (vni === undefined || !subnet) throw ec2Failure('InsufficientInstanceCapacity', 'There is no free private network left in the configured range.');
  const id = `net-${crypto.randomBytes(4).toString('hex')}`;
  await conn.query('INSERT INTO networks (id, account_id, group_id, vni, subnet) VALUES (?, ?, ?, ?, ?)', [id, accountId, groupId, vni, subnet]);
  return { id, accountId, groupId, vni, subnet, state: 'active' };
}

export async function getNetwork(id: string): Promise<NetworkRow | undefined> {
  const [rows] = await getPool().query<any[]>('SELECT * FROM networks WHERE id = ?', [id]);
  return rows[0] && networkOf(rows[0]);
}

/**
 * Retires a network whose last instance is gone: it leaves its group (a new
 * launch gets a fresh network) but keeps VNI and subnet until deleteNetwork,
 * after its data plane is removed. Returns the network when it was retired (or already was).
 */
export async function retireNetworkIfUnused(id: string): Promise<NetworkRow | undefined> {
  return inTransaction(async (conn) => {
    const [rows] = await conn.query<any[]>('SELECT * FROM networks WHERE id = ? FOR UPDATE', [id]);
    if (!rows[0]) return undefined;
    const [users] = await conn.query<any[]>(`SELECT 1 FROM instances WHERE network_id = ? AND state <> 'terminated' LIMIT 1`, [id]);
    if (users.length) return undefined;
    await conn.query(`UPDATE networks SET state = 'deleting', group_id = NULL WHERE id = ?`, [id]);
    return { ...networkOf(rows[0]), state: 'deleting', groupId: null };
  });
}

export async function deleteNetwork(id: string): Promise<void> {
  await getPool().query(`DELETE FROM networks WHERE id = ? AND state = 'deleting'`, [id]);
}

/** Networks with members in the zone, and retired ones whose data plane may still exist. */
export async function networksInZone(zone: string): Promise<NetworkRow[]> {
  const [rows] = await getPool().query<any[]>(
    `SELECT DISTINCT n.* FROM networks n LEFT JOIN instances i ON i.network_id = n.id AND i.state <> 'terminated'
      WHERE i.zone = ? OR n.state = 'deleting' ORDER BY n.vni`, [zone]);
  return rows.map(networkOf);
}
