// Walrus bucket configuration documents (CORS, lifecycle, Object Lock) and the
// Object Lock state of versions. A document is stored parsed and validated
// (JSON), one row per (bucket, kind) in walrus_bucket_configs; db/walrus.ts'
// deleteBucket removes a bucket's rows with it.
import { getPool, inTransaction } from './pool';
import { WalrusDbError, type LockMode } from './walrus';

export type ConfigKind = 'cors' | 'lifecycle' | 'object-lock';

export async function getBucketConfig<T>(bucket: string, kind: ConfigKind): Promise<T | undefined> {
  const [rows] = await getPool().query<any[]>('SELECT doc FROM walrus_bucket_configs WHERE bucket = ? AND kind = ?', [bucket, kind]);
  return rows[0] ? JSON.parse(rows[0].doc) as T : undefined;
}

/** Stores (replaces) a document; the bucket row is share-locked so a concurrent DeleteBucket leaves no orphan. */
export async function putBucketConfig(bucket: string, kind: ConfigKind, doc: unknown): Promise<void> {
  await inTransaction(async (c) => {
    const [b] = await c.query<any[]>('SELECT name FROM walrus_buckets WHERE name = ? LOCK IN SHARE MODE', [bucket]);
    if (!b[0]) throw new WalrusDbError('NoSuchBucket');
    await c.query('INSERT INTO walrus_bucket_configs (bucket, kind, doc) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE doc = VALUES(doc)',
      [bucket, kind, JSON.stringify(doc)]);
  });
}

export async function deleteBucketConfig(bucket: string, kind: ConfigKind): Promise<void> {
  await getPool().query('DELETE FROM walrus_bucket_configs WHERE bucket = ? AND kind = ?', [bucket, kind]);
}

/** Buckets that have a document of this kind (the lifecycle run walks these). */
export async function bucketsWithConfig(kind: ConfigKind): Promise<string[]> {
  const [rows] = await getPool().query<any[]>('SELECT bucket FROM walrus_bucket_configs WHERE kind = ? ORDER BY bucket', [kind]);
  return rows.map((r) => r.bucket as string);
}

/**
 * Turns Object Lock on for a bucket: versioning Enabled and the 'object-lock'
 * document, in one transaction. With `requireVersioning` (PutObjectLockConfiguration
 * on an existing bucket) versioning must already be Enabled.
 */
export async function enableObjectLock(bucket: string, doc: unknown, requireVersioning: boolean): Promise<'ok' | 'versioning'> {
  return inTransaction(async (c) => {
    const [b] = await c.query<any[]>('SELECT versioning FROM walrus_buckets WHERE name = ? FOR UPDATE', [bucket]);
    if (!b[0]) throw new WalrusDbError('NoSuchBucket');
    if (requireVersioning && b[0].versioning !== 'Enabled') return 'versioning';
    await c.query("UPDATE walrus_buckets SET versioning = 'Enabled' WHERE name = ?", [bucket]);
    await c.query('INSERT INTO walrus_bucket_configs (bucket, kind, doc) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE doc = VALUES(doc)',
      [bucket, 'object-lock', JSON.stringify(doc)]);
    return 'ok';
  });
}

export interface VersionLock { mode: LockMode | null; until: Date | null; legalHold: boolean | null }

/**
 * Changes the Object Lock of one version under its row lock: `decide` sees the
 * current state and returns the new one (or throws to refuse, e.g. a
 * COMPLIANCE retention being shortened). Returns false when the row is gone.
 */
export async function updateVersionLock(id: number, decide: (cur: VersionLock) => VersionLock): Promise<boolean> {
  return inTransaction(async (c) => {
    const [rows] = await c.query<any[]>('SELECT lock_mode, lock_until, legal_hold FROM walrus_objects WHERE id = ? FOR UPDATE', [id]);
    if (!rows[0]) return false;
    const next = decide({ mode: rows[0].lock_mode ?? null, until: rows[0].lock_until ?? null, legalHold: rows[0].legal_hold === null ? null : !!rows[0].legal_hold });
    await c.query('UPDATE walrus_objects SET lock_mode = ?, lock_until = ?, legal_hold = ? WHERE id = ?',
      [next.mode, next.mode ? next.until : null, next.legalHold, id]);
    return true;
  });
}
