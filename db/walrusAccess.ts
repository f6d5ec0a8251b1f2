// A bucket's access settings on its walrus_buckets row (migration 013): the
// bucket policy (as the owner sent it, validated before it is stored), Object
// Ownership and Block Public Access. They are read with the bucket itself
// (db/walrus.ts getBucket); these are the writes.
import { getPool } from './pool';

export type ObjectOwnership = 'BucketOwnerEnforced' | 'BucketOwnerPreferred' | 'ObjectWriter';
export interface PublicAccessBlock { BlockPublicAcls: boolean; IgnorePublicAcls: boolean; BlockPublicPolicy: boolean; RestrictPublicBuckets: boolean }

async function set(bucket: string, column: 'policy' | 'object_ownership' | 'public_access_block', value: string | null): Promise<boolean> {
  const [r] = await getPool().query<any>(`UPDATE walrus_buckets SET ${column} = ? WHERE name = ?`, [value, bucket]);
  return r.affectedRows > 0;
}

/** Stores (or, with null, removes) the bucket policy; false when there is no such bucket. */
export const setBucketPolicy = (bucket: string, text: string | null) => set(bucket, 'policy', text);
export const setObjectOwnership = (bucket: string, v: ObjectOwnership | null) => set(bucket, 'object_ownership', v);
export const setPublicAccessBlock = (bucket: string, v: PublicAccessBlock | null) => set(bucket, 'public_access_block', v ? JSON.stringify(v) : null);

/** Which of these account ids exist (a bucket policy may only name accounts that do). */
export async function existingAccounts(ids: string[]): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const [rows] = await getPool().query<any[]>('SELECT id FROM accounts WHERE id IN (?)', [ids]);
  return new Set(rows.map((r) => String(r.id)));
}
