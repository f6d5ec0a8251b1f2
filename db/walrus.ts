// Walrus metadata in MySQL: buckets, object versions, multipart uploads and parts.
// Keys are VARBINARY so they sort by UTF-8 bytes, as S3 lists them.
import { randomBytes } from 'node:crypto';
import { getPool, inTransaction, type Conn } from './pool';

export type Versioning = 'Off' | 'Enabled' | 'Suspended';
export interface Tag { Key: string; Value: string }

export interface BucketRow {
  name: string; accountId: string; region: string; versioning: Versioning;
  acl: string; tags: Tag[] | null; createdAt: Date;
}

export interface ObjectRow {
  id: number; bucket: string; key: string; versionId: string; isLatest: boolean; deleteMarker: boolean;
  size: number; etag: string; file: string | null; ownerId: string; headers: Record<string, string>;
  checksumAlgo: string | null; checksum: string | null; checksumType: string | null; partsCount: number | null;
  acl: string; tags: Tag[] | null; lastModified: Date;
}

export interface NewObject {
  bucket: string; key: string; size: number; etag: string; file: string; ownerId: string;
  headers: Record<string, string>; checksumAlgo?: string | null; checksum?: string | null; checksumType?: string | null;
  partsCount?: number | null; acl?: string; tags?: Tag[] | null;
}

export interface UploadRow {
  uploadId: string; bucket: string; key: string; ownerId: string; headers: Record<string, string>;
  checksumAlgo: string | null; checksumType: string | null; acl: string; tags: Tag[] | null; initiated: Date;
}
export interface PartRow { uploadId: string; partNumber: number; size: number; etag: string; file: string; checksum: string | null; lastModified: Date }

export class WalrusDbError extends Error {
  constructor(public code: 'BucketAlreadyExists' | 'BucketAlreadyOwnedByYou' | 'BucketNotEmpty' | 'NoSuchBucket' | 'NoSuchUpload', message = code) { super(message); }
}

const kb = (k: string) => Buffer.from(k, 'utf8');
const json = <T>(s: string | null): T | null => (s ? JSON.parse(s) as T : null);
export const newVersionId = () => Date.now().toString(36).padStart(9, '0') + randomBytes(12).toString('base64url');

function toBucket(r: any): BucketRow {
  return { name: r.name, accountId: r.account_id, region: r.region, versioning: r.versioning, acl: r.acl, tags: json(r.tags), createdAt: r.created_at };
}
function toObject(r: any): ObjectRow {
  return {
    id: Number(r.id), bucket: r.bucket, key: Buffer.from(r.object_key).toString('utf8'), versionId: r.version_id,
    isLatest: !!r.is_latest, deleteMarker: !!r.delete_marker, size: Number(r.size), etag: r.etag, file: r.file,
    ownerId: r.owner_id, headers: json(r.headers) ?? {}, checksumAlgo: r.checksum_algo, checksum: r.checksum,
    checksumType: r.checksum_type, partsCount: r.parts_count, acl: r.acl, tags: json(r.tags), lastModified: r.last_modified,
  };
}
function toUpload(r: any): UploadRow {
  return { uploadId: r.upload_id, bucket: r.bucket, key: Buffer.from(r.object_key).toString('utf8'), ownerId: r.owner_id,
    headers: json(r.headers) ?? {}, checksumAlgo: r.checksum_algo, checksumType: r.checksum_type, acl: r.acl, tags: json(r.tags), initiated: r.initiated };
}
function toPart(r: any): PartRow {
  return { uploadId: r.upload_id, partNumber: r.part_number, size: Number(r.size), etag: r.etag, file: r.file, checksum: r.checksum, lastModified: r.last_modified };
}

// ------------------------------------------------------------------ buckets

export async function getBucket(name: string): Promise<BucketRow | undefined> {
  const [rows] = await getPool().query<any[]>('SELECT * FROM walrus_buckets WHERE name = ?', [name]);
  return rows[0] ? toBucket(rows[0]) : undefined;
}

export async function listBuckets(accountId: string): Promise<BucketRow[]> {
  const [rows] = await getPool().query<any[]>('SELECT * FROM walrus_buckets WHERE account_id = ? ORDER BY name', [accountId]);
  return rows.map(toBucket);
}

export async function createBucket(name: string, accountId: string, region: string, acl: string): Promise<void> {
  try {
    await getPool().query('INSERT INTO walrus_buckets (name, account_id, region, acl) VALUES (?, ?, ?, ?)', [name, accountId, region, acl]);
  } catch (err: any) {
    if (err?.code !== 'ER_DUP_ENTRY') throw err;
    const b = await getBucket(name);
    throw new WalrusDbError(b?.accountId === accountId ? 'BucketAlreadyOwnedByYou' : 'BucketAlreadyExists');
  }
}

export async function deleteBucket(name: string): Promise<void> {
  await inTransaction(async (c) => {
    const [b] = await c.query<any[]>('SELECT name FROM walrus_buckets WHERE name = ? FOR UPDATE', [name]);
    if (!b[0]) throw new WalrusDbError('NoSuchBucket');
    const [o] = await c.query<any[]>('SELECT 1 FROM walrus_objects WHERE bucket = ? LIMIT 1', [name]);
    const [u] = await c.query<any[]>('SELECT 1 FROM walrus_uploads WHERE bucket = ? LIMIT 1', [name]);
    if (o[0] || u[0]) throw new WalrusDbError('BucketNotEmpty');
    await c.query('DELETE FROM walrus_buckets WHERE name = ?', [name]);
  });
}

export async function updateBucket(name: string, patch: { versioning?: Versioning; acl?: string; tags?: Tag[] | null }): Promise<void> {
  const sets: string[] = []; const args: unknown[] = [];
  if (patch.versioning) { sets.push('versioning = ?'); args.push(patch.versioning); }
  if (patch.acl) { sets.push('acl = ?'); args.push(patch.acl); }
  if (patch.tags !== undefined) { sets.push('tags = ?'); args.push(patch.tags ? JSON.stringify(patch.tags) : null); }
  if (!sets.length) return;
  await getPool().query(`UPDATE walrus_buckets SET ${sets.join(', ')} WHERE name = ?`, [...args, name]);
}

// ------------------------------------------------------------------ objects

/** The latest version (possibly a delete marker) or one given version. */
export async function getObject(bucket: string, key: string, versionId?: string): Promise<ObjectRow | undefined> {
  const [rows] = versionId !== undefined
    ? await getPool().query<any[]>('SELECT * FROM walrus_objects WHERE bucket = ? AND object_key = ? AND version_id = ?', [bucket, kb(key), versionId])
    : await getPool().query<any[]>('SELECT * FROM walrus_objects WHERE bucket = ? AND object_key = ? AND is_latest', [bucket, kb(key)]);
  return rows[0] ? toObject(rows[0]) : undefined;
}

async function lockKey(c: Conn, bucket: string, key: string): Promise<any[]> {
  const [rows] = await c.query<any[]>('SELECT id, version_id, is_latest, file FROM walrus_objects WHERE bucket = ? AND object_key = ? ORDER BY id DESC FOR UPDATE', [bucket, kb(key)]);
  return rows;
}

/**
 * Makes a new version the latest. Unversioned/suspended buckets replace the
 * 'null' version. Returns the version id and the file of a replaced version
 * (the caller removes it after the commit).
 */
export async function putObjectVersion(o: NewObject, versioning: Versioning, consumeUploadId?: string): Promise<{ versionId: string; replacedFile: string | null; row: ObjectRow; partFiles: string[] }> {
  return inTransaction(async (c) => {
    let partFiles: string[] = [];
    if (consumeUploadId) {
      const [u] = await c.query<any[]>('SELECT upload_id FROM walrus_uploads WHERE upload_id = ? FOR UPDATE', [consumeUploadId]);
      if (!u[0]) throw new WalrusDbError('NoSuchUpload');
      const [parts] = await c.query<any[]>('SELECT file FROM walrus_parts WHERE upload_id = ?', [consumeUploadId]);
      partFiles = parts.map((p) => p.file as string);
      await c.query('DELETE FROM walrus_parts WHERE upload_id = ?', [consumeUploadId]);
      await c.query('DELETE FROM walrus_uploads WHERE upload_id = ?', [consumeUploadId]);
    }
    // The bucket row, exclusively: object writes of one bucket commit one at a time. Under a
    // share lock two PUTs of new keys both gap-locked the same index gap in lockKey and then
    // deadlocked on their INSERTs (seen at 16 concurrent 4 KiB PUTs). The commit is short.
    const [bk] = await c.query<any[]>('SELECT versioning FROM walrus_buckets WHERE name = ? FOR UPDATE', [o.bucket]);
    if (!bk[0]) throw new WalrusDbError('NoSuchBucket');
    versioning = bk[0].versioning;
    const existing = await lockKey(c, o.bucket, o.key);
    let replacedFile: string | null = null;
    const versionId = versioning === 'Enabled' ? newVersionId() : 'null';
    if (versionId === 'null') {
      const old = existing.find((r) => r.version_id === 'null');
      if (old) { replacedFile = old.file; await c.query('DELETE FROM walrus_objects WHERE id = ?', [old.id]); }
    }
    if (existing.length) await c.query('UPDATE walrus_objects SET is_latest = FALSE WHERE bucket = ? AND object_key = ? AND is_latest', [o.bucket, kb(o.key)]);
    const [res] = await c.query<any>(
      `INSERT INTO walrus_objects (bucket, object_key, version_id, is_latest, delete_marker, size, etag, file, owner_id, headers,
        checksum_algo, checksum, checksum_type, parts_count, acl, tags, last_modified)
       VALUES (?, ?, ?, TRUE, FALSE, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP(3))`,
      [o.bucket, kb(o.key), versionId, o.size, o.etag, o.file, o.ownerId, JSON.stringify(o.headers), o.checksumAlgo ?? null,
        o.checksum ?? null, o.checksumType ?? null, o.partsCount ?? null, o.acl ?? 'private', o.tags ? JSON.stringify(o.tags) : null]);
    const [rows] = await c.query<any[]>('SELECT * FROM walrus_objects WHERE id = ?', [res.insertId]);
    return { versionId, replacedFile, row: toObject(rows[0]), partFiles };
  });
}

export interface DeleteResult { versionId?: string; deleteMarker: boolean; removedFile: string | null; found: boolean }

export async function deleteObject(bucket: string, key: string, versionId: string | undefined, ownerId: string): Promise<DeleteResult> {
  return inTransaction(async (c) => {
    const [bk] = await c.query<any[]>('SELECT versioning FROM walrus_buckets WHERE name = ? FOR UPDATE', [bucket]);   // as in putObjectVersion
    if (!bk[0]) throw new WalrusDbError('NoSuchBucket');
    const versioning: Versioning = bk[0].versioning;
    const existing = await lockKey(c, bucket, key);
    if (versionId !== undefined) {
      const [rows] = await c.query<any[]>('SELECT * FROM walrus_objects WHERE bucket = ? AND object_key = ? AND version_id = ?', [bucket, kb(key), versionId]);
      const row = rows[0];
      if (!row) return { versionId, deleteMarker: false, removedFile: null, found: false };
      await c.query('DELETE FROM walrus_objects WHERE id = ?', [row.id]);
      if (row.is_latest) {
        const next = existing.find((r) => Number(r.id) !== Number(row.id));
        if (next) await c.query('UPDATE walrus_objects SET is_latest = TRUE WHERE id = ?', [next.id]);
      }
      return { versionId, deleteMarker: !!row.delete_marker, removedFile: row.file, found: true };
    }
    if (versioning === 'Off') {
      const cur = existing.find((r) => r.is_latest);
      if (!cur) return { deleteMarker: false, removedFile: null, found: false };
      await c.query('DELETE FROM walrus_objects WHERE id = ?', [cur.id]);
      return { deleteMarker: false, removedFile: cur.file, found: true };
    }
    let removedFile: string | null = null;
    const vid = versioning === 'Enabled' ? newVersionId() : 'null';
    if (vid === 'null') {
      const old = existing.find((r) => r.version_id === 'null');
      if (old) { removedFile = old.file; await c.query('DELETE FROM walrus_objects WHERE id = ?', [old.id]); }
    }
    await c.query('UPDATE walrus_objects SET is_latest = FALSE WHERE bucket = ? AND object_key = ? AND is_latest', [bucket, kb(key)]);
    await c.query(
      `INSERT INTO walrus_objects (bucket, object_key, version_id, is_latest, delete_marker, owner_id, last_modified)
       VALUES (?, ?, ?, TRUE, TRUE, ?, CURRENT_TIMESTAMP(3))`, [bucket, kb(key), vid, ownerId]);
    return { versionId: vid, deleteMarker: true, removedFile, found: true };
  });
}

export async function updateObject(id: number, patch: { acl?: string; tags?: Tag[] | null }): Promise<void> {
  if (patch.acl) await getPool().query('UPDATE walrus_objects SET acl = ? WHERE id = ?', [patch.acl, id]);
  if (patch.tags !== undefined) await getPool().query('UPDATE walrus_objects SET tags = ? WHERE id = ?', [patch.tags ? JSON.stringify(patch.tags) : null, id]);
}

/** Latest, non-deleted objects with key > after (bytes) and the prefix, in key order. */
export async function listLatest(bucket: string, prefix: string, after: Buffer | null, limit: number): Promise<ObjectRow[]> {
  const args: unknown[] = [bucket];
  let sql = 'SELECT * FROM walrus_objects WHERE bucket = ? AND is_latest AND NOT delete_marker';
  if (prefix) { sql += ' AND object_key >= ? AND LEFT(object_key, ?) = ?'; args.push(kb(prefix), kb(prefix).length, kb(prefix)); }
  if (after) { sql += ' AND object_key > ?'; args.push(after); }
  sql += ' ORDER BY object_key LIMIT ?'; args.push(limit);
  const [rows] = await getPool().query<any[]>(sql, args);
  return rows.map(toObject);
}

/** All versions, key ascending then newest first, starting after (keyMarker, versionMarker). */
export async function listVersions(bucket: string, prefix: string, afterKey: Buffer | null, afterVersionId: string | null, limit: number): Promise<ObjectRow[]> {
  const args: unknown[] = [bucket];
  let sql = 'SELECT * FROM walrus_objects WHERE bucket = ?';
  if (prefix) { sql += ' AND object_key >= ? AND LEFT(object_key, ?) = ?'; args.push(kb(prefix), kb(prefix).length, kb(prefix)); }
  if (afterKey) {
    let afterId: number | undefined;
    if (afterVersionId) {
      const [r] = await getPool().query<any[]>('SELECT id FROM walrus_objects WHERE bucket = ? AND object_key = ? AND version_id = ?', [bucket, afterKey, afterVersionId]);
      afterId = r[0] ? Number(r[0].id) : undefined;
    }
    if (afterId !== undefined) { sql += ' AND (object_key > ? OR (object_key = ? AND id < ?))'; args.push(afterKey, afterKey, afterId); }
    else { sql += ' AND object_key > ?'; args.push(afterKey); }
  }
  sql += ' ORDER BY object_key, id DESC LIMIT ?'; args.push(limit);
  const [rows] = await getPool().query<any[]>(sql, args);
  return rows.map(toObject);
}

// ------------------------------------------------------------------ multipart

export async function createUpload(u: Omit<UploadRow, 'initiated' | 'uploadId'>): Promise<string> {
  const uploadId = randomBytes(24).toString('base64url');
  await getPool().query('INSERT INTO walrus_uploads (upload_id, bucket, object_key, owner_id, headers, checksum_algo, checksum_type, acl, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    [uploadId, u.bucket, kb(u.key), u.ownerId, JSON.stringify(u.headers), u.checksumAlgo, u.checksumType, u.acl, u.tags ? JSON.stringify(u.tags) : null]);
  return uploadId;
}

export async function getUpload(uploadId: string): Promise<UploadRow | undefined> {
  const [rows] = await getPool().query<any[]>('SELECT * FROM walrus_uploads WHERE upload_id = ?', [uploadId]);
  return rows[0] ? toUpload(rows[0]) : undefined;
}

/** Records a part; returns the file of a part it replaced. */
export async function putPart(p: Omit<PartRow, 'lastModified'>): Promise<string | null> {
  return inTransaction(async (c) => {
    // exclusively, for the same reason as the bucket row in putObjectVersion: parallel parts of one upload
    const [u] = await c.query<any[]>('SELECT upload_id FROM walrus_uploads WHERE upload_id = ? FOR UPDATE', [p.uploadId]);
    if (!u[0]) throw new WalrusDbError('NoSuchUpload');
    const [old] = await c.query<any[]>('SELECT file FROM walrus_parts WHERE upload_id = ? AND part_number = ? FOR UPDATE', [p.uploadId, p.partNumber]);
    await c.query('REPLACE INTO walrus_parts (upload_id, part_number, size, etag, file, checksum, last_modified) VALUES (?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP(3))',
      [p.uploadId, p.partNumber, p.size, p.etag, p.file, p.checksum]);
    return old[0]?.file ?? null;
  });
}

export async function listParts(uploadId: string, afterPart = 0, limit = 10000): Promise<PartRow[]> {
  const [rows] = await getPool().query<any[]>('SELECT * FROM walrus_parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?', [uploadId, afterPart, limit]);
  return rows.map(toPart);
}

export async function listUploads(bucket: string, prefix: string, afterKey: Buffer | null, afterUploadId: string | null, limit: number): Promise<UploadRow[]> {
  const args: unknown[] = [bucket];
  let sql = 'SELECT * FROM walrus_uploads WHERE bucket = ?';
  if (prefix) { sql += ' AND LEFT(object_key, ?) = ?'; args.push(kb(prefix).length, kb(prefix)); }
  if (afterKey) {
    if (afterUploadId) { sql += ' AND (object_key > ? OR (object_key = ? AND upload_id > ?))'; args.push(afterKey, afterKey, afterUploadId); }
    else { sql += ' AND object_key > ?'; args.push(afterKey); }
  }
  sql += ' ORDER BY object_key, upload_id LIMIT ?'; args.push(limit);
  const [rows] = await getPool().query<any[]>(sql, args);
  return rows.map(toUpload);
}

/** Removes the upload and its parts; returns the part files to delete. */
export async function deleteUpload(uploadId: string): Promise<string[] | undefined> {
  return inTransaction(async (c) => {
    const [u] = await c.query<any[]>('SELECT upload_id FROM walrus_uploads WHERE upload_id = ? FOR UPDATE', [uploadId]);
    if (!u[0]) return undefined;
    const [parts] = await c.query<any[]>('SELECT file FROM walrus_parts WHERE upload_id = ?', [uploadId]);
    await c.query('DELETE FROM walrus_parts WHERE upload_id = ?', [uploadId]);
    await c.query('DELETE FROM walrus_uploads WHERE upload_id = ?', [uploadId]);
    return parts.map((p) => p.file as string);
  });
}

/** All files referenced by metadata (for the orphan sweep). */
export async function referencedFiles(): Promise<Set<string>> {
  const out = new Set<string>();
  const [a] = await getPool().query<any[]>('SELECT file FROM walrus_objects WHERE file IS NOT NULL');
  const [b] = await getPool().query<any[]>('SELECT file FROM walrus_parts');
  for (const r of [...a, ...b]) out.add(r.file);
  return out;
}
