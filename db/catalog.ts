// Zones, instance types and images: what can be launched where.
import { getPool } from './pool';
import type { InstanceTypeDef } from '../lib/config';

export interface ZoneRow { name: string; region: string; subnet: string; vni: number; policy: 'GREEDY' | 'ROUNDROBIN' | 'POWERSAVE'; rrCursor: string | null; ccUnderlayIp: string | null; state: string }
const zoneOf = (r: any): ZoneRow => ({ name: r.name, region: r.region, subnet: r.subnet, vni: r.vni, policy: r.scheduling_policy, rrCursor: r.rr_cursor, ccUnderlayIp: r.cc_underlay_ip, state: r.state });

export async function upsertZone(z: { name: string; region: string; subnet: string; vni: number; policy: string; ccUnderlayIp: string }): Promise<void> {
  await getPool().query(
    `INSERT INTO zones (name, region, subnet, vni, scheduling_policy, cc_underlay_ip) VALUES (?, ?, ?, ?, ?, ?)
     ON DUPLICATE KEY UPDATE region = VALUES(region), subnet = VALUES(subnet), vni = VALUES(vni),
       scheduling_policy = VALUES(scheduling_policy), cc_underlay_ip = VALUES(cc_underlay_ip)`,
    [z.name, z.region, z.subnet, z.vni, z.policy, z.ccUnderlayIp]);
}
export async function listZones(): Promise<ZoneRow[]> {
  const [rows] = await getPool().query<any[]>('SELECT * FROM zones ORDER BY name');
  return rows.map(zoneOf);
}
export async function getZone(name: string): Promise<ZoneRow | undefined> {
  const [rows] = await getPool().query<any[]>('SELECT * FROM zones WHERE name = ?', [name]);
  return rows[0] && zoneOf(rows[0]);
}

export async function upsertInstanceTypes(types: InstanceTypeDef[]): Promise<void> {
  for (const t of types) {
    await getPool().query(
      `INSERT INTO instance_types (name, vcpus, memory_mib, disk_gib) VALUES (?, ?, ?, ?)
       ON DUPLICATE KEY UPDATE vcpus = VALUES(vcpus), memory_mib = VALUES(memory_mib), disk_gib = VALUES(disk_gib)`,
      [t.name, t.vcpus, t.memoryMiB, t.diskGiB]);
  }
}
export async function listInstanceTypes(): Promise<InstanceTypeDef[]> {
  const [rows] = await getPool().query<any[]>('SELECT * FROM instance_types ORDER BY vcpus, memory_mib, name');
  return rows.map((r) => ({ name: r.name, vcpus: r.vcpus, memoryMiB: r.memory_mib, diskGiB: r.disk_gib }));
}

export interface ImageRow {
  id: string; accountId: string; name: string; description: string | null; imageType: string;
  kernelPath: string | null; ramdiskPath: string | null; kernelSha256: string | null; ramdiskSha256: string | null;
  architecture: string; isPublic: boolean; state: string; createdAt: Date;
  /** Walrus: where it was registered from (bucket/key), and the object holding this image's own bytes */
  imageLocation?: string | null; objectBucket?: string | null; objectKey?: string | null;
  sizeBytes?: number | null; sha256?: string | null; diskFormat?: string | null;
  /** an EMI's EKI and ERI */
  kernelId?: string | null; ramdiskId?: string | null; rootDeviceName?: string | null;
}
const imageOf = (r: any): ImageRow => ({
  id: r.id, accountId: r.account_id, name: r.name, description: r.description, imageType: r.image_type,
  kernelPath: r.kernel_path, ramdiskPath: r.ramdisk_path, kernelSha256: r.kernel_sha256, ramdiskSha256: r.ramdisk_sha256,
  architecture: r.architecture, isPublic: !!r.is_public, state: r.state, createdAt: r.created_at,
  imageLocation: r.image_location ?? null, objectBucket: r.object_bucket ?? null,
  objectKey: r.object_key == null ? null : Buffer.from(r.object_key).toString('utf8'),
  sizeBytes: r.size_bytes == null ? null : Number(r.size_bytes), sha256: r.sha256 ?? null, diskFormat: r.disk_format ?? null,
  kernelId: r.kernel_id ?? null, ramdiskId: r.ramdisk_id ?? null, rootDeviceName: r.root_device_name ?? null,
});

export async function registerImage(img: Omit<ImageRow, 'createdAt' | 'state'>): Promise<void> {
  await getPool().query(
    `INSERT INTO images (id, account_id, name, description, image_type, kernel_path, ramdisk_path, kernel_sha256, ramdisk_sha256, architecture, is_public,
       image_location, object_bucket, object_key, size_bytes, sha256, disk_format, kernel_id, ramdisk_id, root_device_name)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON DUPLICATE KEY UPDATE kernel_path = VALUES(kernel_path), ramdisk_path = VALUES(ramdisk_path),
       kernel_sha256 = VALUES(kernel_sha256), ramdisk_sha256 = VALUES(ramdisk_sha256), image_location = VALUES(image_location),
       object_bucket = VALUES(object_bucket), object_key = VALUES(object_key), size_bytes = VALUES(size_bytes), sha256 = VALUES(sha256),
       disk_format = VALUES(disk_format), kernel_id = VALUES(kernel_id), ramdisk_id = VALUES(ramdisk_id), state = 'available'`,
    [img.id, img.accountId, img.name, img.description, img.imageType, img.kernelPath, img.ramdiskPath, img.kernelSha256, img.ramdiskSha256, img.architecture, img.isPublic,
      img.imageLocation ?? null, img.objectBucket ?? null, img.objectKey == null ? null : Buffer.from(img.objectKey, 'utf8'), img.sizeBytes ?? null,
      img.sha256 ?? null, img.diskFormat ?? null, img.kernelId ?? null, img.ramdiskId ?? null, img.rootDeviceName ?? null]);
}
export async function findImageByName(accountId: string, name: string): Promise<ImageRow | undefined> {
  const [rows] = await getPool().query<any[]>(`SELECT * FROM images WHERE account_id = ? AND name = ? AND state <> 'deregistered'`, [accountId, name]);
  return rows[0] && imageOf(rows[0]);
}
/** An image by id, whatever its state and owner (internal use: boot plans). */
export async function getImage(id: string): Promise<ImageRow | undefined> {
  const [rows] = await getPool().query<any[]>('SELECT * FROM images WHERE id = ?', [id]);
  return rows[0] && imageOf(rows[0]);
}
// Who may see and launch an image: its owner, everyone if public, and the accounts it was shared with.
const LAUNCHABLE = '(account_id = ? OR is_public OR id IN (SELECT image_id FROM image_launch_permissions WHERE account_id = ?))';
/** Images the account may see: its own, public ones and ones shared with it. */
export async function listVisibleImages(accountId: string): Promise<ImageRow[]> {
  const [rows] = await getPool().query<any[]>(
    `SELECT * FROM images WHERE state <> 'deregistered' AND ${LAUNCHABLE} ORDER BY id`, [accountId, accountId]);
  return rows.map(imageOf);
}
export async function getVisibleImage(accountId: string, id: string): Promise<ImageRow | undefined> {
  const [rows] = await getPool().query<any[]>(
    `SELECT * FROM images WHERE id = ? AND state = 'available' AND ${LAUNCHABLE}`, [id, accountId, accountId]);
  return rows[0] && imageOf(rows[0]);
}
/** The accounts an image is shared with (launch permission by UserId). */
export async function launchPermissions(imageId: string): Promise<string[]> {
  const [rows] = await getPool().query<any[]>('SELECT account_id FROM image_launch_permissions WHERE image_id = ? ORDER BY account_id', [imageId]);
  return rows.map((r) => r.account_id as string);
}
