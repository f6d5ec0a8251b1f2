// What the lifecycle run (walrus/lifecycle.ts) reads: a bucket's keys in byte
// order, page by page, and every version of one key, newest first.
import { getPool } from './pool';
import { toObject, type ObjectRow } from './walrus';

/** Distinct keys after `after` (bytes), in key order. */
export async function keysAfter(bucket: string, after: Buffer | null, limit: number): Promise<Buffer[]> {
  const [rows] = after
    ? await getPool().query<any[]>('SELECT DISTINCT object_key FROM walrus_objects WHERE bucket = ? AND object_key > ? ORDER BY object_key LIMIT ?', [bucket, after, limit])
    : await getPool().query<any[]>('SELECT DISTINCT object_key FROM walrus_objects WHERE bucket = ? ORDER BY object_key LIMIT ?', [bucket, limit]);
  return rows.map((r) => Buffer.from(r.object_key));
}

/** Every version of a key, newest (highest id) first. */
export async function versionsOf(bucket: string, key: Buffer): Promise<ObjectRow[]> {
  const [rows] = await getPool().query<any[]>('SELECT * FROM walrus_objects WHERE bucket = ? AND object_key = ? ORDER BY id DESC', [bucket, key]);
  return rows.map(toObject);
}
