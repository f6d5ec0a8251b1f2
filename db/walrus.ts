// Walrus metadata in MySQL: buckets, object versions, multipart uploads and parts.
// Keys are VARBINARY so they sort by UTF-8 bytes, as S3 lists them.
import { randomBytes } from 'node:crypto';
import { getPool, inTransaction, type Conn } from './pool';
import { mayCreateBucket } from '../walrus/reserved';
import type { ObjectOwnership, PublicAccessBlock } from './walrusAccess';

export type Versioning = 'Off' | 'Enabled' | 'Suspended';
export interface Tag { Key: string; Value: string }

export interface BucketRow {
  name: string; accountId: string; region: string; versioning: Versioning;
  acl: string; tags: Tag[] | null; createdAt: Date;
  /** access control (db/walrusAccess.ts, api/s3/access.ts): bucket policy text, Object Ownership, Block Public Access */
  policy: string | null; ownership: ObjectOwnership | null; publicAccessBlock: PublicAccessBlock | null;
}

export interface ObjectRow {
  id: number; bucket: string; key: string; versionId: string; isLatest: boolean; deleteMarker: boolean;
  size: number; etag: string; file: string | null; ownerId: string; headers: Record<string, string>;
  checksumAlgo: string | null; checksum: string | null; checksumType: string | null; partsCount: number | null;
  acl: string; tags: Tag[] | null; lastModified: Date;
  /** Object Lock (api/s3/objectLock.ts): retention mode and date, legal hold */
  lockMode: LockMode | null; lockUntil: Date | null; legalHold: boolean | null;
  partSizes: PartLayout | null;
}

export type LockMode = 'GOVERNANCE' | 'COMPLIANCE';
/** The Object Lock a new version is written with. */
export interface ObjectLock { mode: LockMode | null; until: Date | null; legalHold: boolean | null }

export interface NewObject {
  bucket: string; key: string; size: number; etag: string; file: string; ownerId: string;
  headers: Record<string, string>; checksumAlgo?: string | null; checksum?: string | null; checksumType?: string | null;
  partsCount?: number | null; acl?: string; tags?: Tag[] | null; lock?: ObjectLock | null;
  /** a multipart object's parts: [size, checksum] each (GetObject ?partNumber=) */
  partSizes?: PartLayout | null;
}
export type PartLayout = Array<[number, string | null]>;

export interface UploadRow {
  uploadId: string; bucket: string; key: string; ownerId: string; headers: Record<string, string>;
  checksumAlgo: string | null; checksumType: string | null; acl: string; tags: Tag[] | null; initiated: Date;
  /** x-amz-object-lock-* of CreateMultipartUpload, applied at completion */
  lock?: ObjectLock | null;
  /** who started it (db/walrusMultipart.ts); null for uploads from before that was kept */
  initiator?: { account: string; arn: string | null } | null;
}
export interface PartRow { uploadId: string; partNumber: number; size: number; etag: string; file: string; checksum: string | null; lastModified: Date }

export class WalrusDbError extends Error {
  constructor(public code: 'BucketAlreadyExists' | 'BucketAlreadyOwnedByYou' | 'BucketNotEmpty' | 'NoSuchBucket' | 'NoSuchUpload'
    | 'ConditionalRequestConflict' | 'InvalidPart', message = code) { super(message); }
}

const kb = (k: string) => Buffer.from(k, 'utf8');
const json = <T>(s: string | null): T | null => (s ? JSON.parse(s) as T : null);
export const newVersionId = () => Date.now().toString(36).padStart(9, '0') + randomBytes(12).toString('base64url');

function toBucket(r: any): BucketRow {
  return { name: r.name, accountId: r.account_id, region: r.region, versioning: r.versioning, acl: r.acl, tags: json(r.tags), createdAt: r.created_at,
    policy: r.policy ?? null, ownership: r.object_ownership ?? null, publicAccessBlock: json(r.public_access_block ?? null) };
}
export function toObject(r: any): ObjectRow {
  return {
    id: Number(r.id), bucket: r.bucket, key: Buffer.from(r.object_key).toString('utf8'), versionId: r.version_id,
    isLatest: !!r.is_latest, deleteMarker: !!r.delete_marker, size: Number(r.size), etag: r.etag, file: r.file,
    ownerId: r.owner_id, headers: json(r.headers) ?? {}, checksumAlgo: r.checksum_algo, checksum: r.checksum,
    checksumType: r.checksum_type, partsCount: r.parts_count, acl: r.acl, tags: json(r.tags), lastModified: r.last_modified,
    lockMode: r.lock_mode ?? null, lockUntil: r.lock_until ?? null, legalHold: r.legal_hold === null || r.legal_hold === undefined ? null : !!r.legal_hold,
    partSizes: json(r.part_sizes ?? null),
  };
}
function toUpload(r: any): UploadRow {
  return { uploadId: r.upload_id, bucket: r.bucket, key: Buffer.from(r.object_key).toString('utf8'), ownerId: r.owner_id,
    headers: json(r.headers) ?? {}, checksumAlgo: r.checksum_algo, checksumType: r.checksum_type, acl: r.acl, tags: json(r.tags), initiated: r.initiated,
    lock: r.lock_mode || r.legal_hold !== null ? { mode: r.lock_mode ?? null, until: r.lock_until ?? null, legalHold: r.legal_hold === null ? null : !!r.legal_hold } : null,
    initiator: r.initiator_account ? { account: r.initiator_account, arn: r.initiator_arn ?? null } : null };
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
  // A name the cloud keeps for another account is as taken as a bucket that exists (walrus/reserved.ts).
  if (!mayCreateBucket(name, accountId)) throw new WalrusDbError('BucketAlreadyExists');
  try {
    await getPool().query('INSERT INTO walrus_buckets (name, account_id, region, acl) VALUES (?, ?, ?, ?)', [name, accountId, region, acl]);
  } catch (err: any) {
    if (err?.code !== 'ER_DUP_ENTRY') throw err;
    const b = await getBucket(name);
    throw new WalrusDbError(b?.accountId === accountId ? 'BucketAlreadyOwnedByYou' : 'BucketAlreadyExists');
  }
}

/**
 * Deletes an empty bucket: no object, version or delete marker. Uploads in progress do not
 * keep it (S3 deletes such a bucket and its uploads go with it); returns their part files,
 * which the caller removes after the commit.
 */
export async function deleteBucket(name: string): Promise<string[]> {
  return inTransaction(async (c) => {
    const [b] = await c.query<any[]>('SELECT name FROM walrus_buckets WHERE name = ? FOR UPDATE', [name]);
    if (!b[0]) throw new WalrusDbError('NoSuchBucket');
    const [o] = await c.query<any[]>('SELECT 1 FROM walrus_objects WHERE bucket = ? LIMIT 1', [name]);
    if (o[0]) throw new WalrusDbError('BucketNotEmpty');
    const [parts] = await c.query<any[]>('SELECT p.file FROM walrus_parts p JOIN walrus_uploads u ON u.upload_id = p.upload_id WHERE u.bucket = ? FOR UPDATE', [name]);
    await c.query('DELETE p FROM walrus_parts p JOIN walrus_uploads u ON u.upload_id = p.upload_id WHERE u.bucket = ?', [name]);
    await c.query('DELETE FROM walrus_uploads WHERE bucket = ?', [name]);
    await c.query('DELETE FROM walrus_completed_uploads WHERE bucket = ?', [name]);
    await c.query('DELETE FROM walrus_buckets WHERE name = ?', [name]);
    await c.query('DELETE FROM walrus_bucket_configs WHERE bucket = ?', [name]);   // CORS, lifecycle, Object Lock (db/walrusConfigs.ts)
    return parts.map((p) => p.file as string);
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
  const [rows] = await c.query<any[]>('SELECT id, version_id, is_latest, delete_marker, etag, file FROM walrus_objects WHERE bucket = ? AND object_key = ? ORDER BY id DESC FOR UPDATE', [bucket, kb(key)]);
  return rows;
}

/**
 * Makes a new version the latest. Unversioned/suspended buckets replace the
 * 'null' version. Returns the version id and the file of a replaced version
 * (the caller removes it after the commit).
 */
/** What a write must find when it commits (If-None-Match: * / If-Match of PutObject and CompleteMultipartUpload). */
export interface WriteCondition { ifNoneMatch?: boolean; ifMatch?: string }
export interface PutVersionOptions {
  /** checked against the latest version under its lock; a failure is ConditionalRequestConflict (it held when the request began) */
  condition?: WriteCondition;
  /** with consumeUploadId: the part files the object was assembled from, which must still be the upload's (else InvalidPart) */
  expectParts?: Array<{ partNumber: number; file: string }>;
  /** runs in the transaction after the version is written */
  inTx?: (c: Conn, row: ObjectRow) => Promise<void>;
}

/** Does the latest version (lockKey rows) satisfy the condition? */
export function conditionHolds(cond: WriteCondition | undefined, latest: { delete_marker?: unknown; etag?: string } | undefined): boolean {
  if (!cond) return true;
  const live = latest && !latest.delete_marker ? latest : undefined;
  if (cond.ifNoneMatch && live) return false;
  if (cond.ifMatch !== undefined && (!live || (cond.ifMatch !== '*' && live.etag !== cond.ifMatch))) return false;
  return true;
}

export async function putObjectVersion(o: NewObject, versioning: Versioning, consumeUploadId?: string, opts: PutVersionOptions = {}): Promise<{ versionId: string; replacedFile: string | null; row: ObjectRow; partFiles: string[] }> {
  return inTransaction(async (c) => {
    let partFiles: string[] = [];
    if (consumeUploadId) {
      const [u] = await c.query<any[]>('SELECT upload_id FROM walrus_uploads WHERE upload_id = ? FOR UPDATE', [consumeUploadId]);
      if (!u[0]) throw new WalrusDbError('NoSuchUpload');
      const [parts] = await c.query<any[]>('SELECT part_number, file FROM walrus_parts WHERE upload_id = ?', [consumeUploadId]);
      // a part uploaded again while the object was being assembled: what was read is no longer that part
      const now = new Map(parts.map((p) => [Number(p.part_number), p.file as string]));
      if (opts.expectParts?.some((p) => now.get(p.partNumber) !== p.file)) throw new WalrusDbError('InvalidPart');
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
    if (!conditionHolds(opts.condition, existing.find((r) => r.is_latest))) throw new WalrusDbError('ConditionalRequestConflict');
    let replacedFile: string | null = null;
    const versionId = versioning === 'Enabled' ? newVersionId() : 'null';
    if (versionId === 'null') {
      const old = existing.find((r) => r.version_id === 'null');
      if (old) { replacedFile = old.file; await c.query('DELETE FROM walrus_objects WHERE id = ?', [old.id]); }
    }
    if (existing.length) await c.query('UPDATE walrus_objects SET is_latest = FALSE WHERE bucket = ? AND object_key = ? AND is_latest', [o.bucket, kb(o.key)]);
    const [res] = await c.query<any>(
      `INSERT INTO walrus_objects (bucket, object_key, version_id, is_latest, delete_marker, size, etag, file, owner_id, headers,
        checksum_algo, checksum, checksum_type, parts_count, acl, tags, lock_mode, lock_until, legal_hold, part_sizes, last_modified)
       VALUES (?, ?, ?, TRUE, FALSE, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP(3))`,
      [o.bucket, kb(o.key), versionId, o.size, o.etag, o.file, o.ownerId, JSON.stringify(o.headers), o.checksumAlgo ?? null,
        o.checksum ?? null, o.checksumType ?? null, o.partsCount ?? null, o.acl ?? 'private', o.tags ? JSON.stringify(o.tags) : null,
        o.lock?.mode ?? null, o.lock?.mode ? o.lock.until : null, o.lock?.legalHold ?? null, o.partSizes ? JSON.stringify(o.partSizes) : null]);
    const [rows] = await c.query<any[]>('SELECT * FROM walrus_objects WHERE id = ?', [res.insertId]);
    const row = toObject(rows[0]);
    await opts.inTx?.(c, row);
    return { versionId, replacedFile, row, partFiles };
  });
}

export interface DeleteResult { versionId?: string; deleteMarker: boolean; removedFile: string | null; found: boolean }

/** `guard` sees a version about to be deleted by id (under its row lock) and may throw to refuse (Object Lock). */
export async function deleteObject(bucket: string, key: string, versionId: string | undefined, ownerId: string, guard?: (row: ObjectRow) => void): Promise<DeleteResult> {
  return inTransaction(async (c) => {
    const [bk] = await c.query<any[]>('SELECT versioning FROM walrus_buckets WHERE name = ? FOR UPDATE', [bucket]);   // as in putObjectVersion
    if (!bk[0]) throw new WalrusDbError('NoSuchBucket');
    const versioning: Versioning = bk[0].versioning;
    const existing = await lockKey(c, bucket, key);
    if (versionId !== undefined) {
      const [rows] = await c.query<any[]>('SELECT * FROM walrus_objects WHERE bucket = ? AND object_key = ? AND version_id = ?', [bucket, kb(key), versionId]);
      const row = rows[0];
      if (!row) return { versionId, deleteMarker: false, removedFile: null, found: false };
      guard?.(toObject(row));
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
  await getPool().query('INSERT INTO walrus_uploads (upload_id, bucket, object_key, owner_id, headers, checksum_algo, checksum_type, acl, tags, lock_mode, lock_until, legal_hold) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    [uploadId, u.bucket, kb(u.key), u.ownerId, JSON.stringify(u.headers), u.checksumAlgo, u.checksumType, u.acl, u.tags ? JSON.stringify(u.tags) : null,
      u.lock?.mode ?? null, u.lock?.mode ? u.lock.until : null, u.lock?.legalHold ?? null]);
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
