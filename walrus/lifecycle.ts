// S3 lifecycle rules, and applying them to one bucket (what the walrusLifecycle
// workflow's activities do, bucket by bucket, a page of keys at a time).
//
// As S3 ("Lifecycle configuration elements", "How Amazon S3 calculates..."):
// - Expiration Days/Date acts on the current version: in an unversioned bucket
//   it is deleted; in a versioned one a delete marker is placed (never on top of
//   a delete marker). Days count from the version's creation, rounded up to the
//   next day boundary (midnight UTC for real days). Once Date has passed, every
//   matching object expires.
// - NoncurrentVersionExpiration deletes a version NoncurrentDays after it became
//   noncurrent (its successor's creation), keeping the NewerNoncurrentVersions
//   newest noncurrent versions whatever their age.
// - An expired object delete marker (a delete marker that is a key's only
//   version) is removed by ExpiredObjectDeleteMarker, and by Days/Date rules
//   once it is old enough.
// - AbortIncompleteMultipartUpload aborts uploads DaysAfterInitiation old.
// - Filters: Prefix, Tag (all must match), ObjectSizeGreaterThan/LessThan,
//   combined by And. Tag and size filters never match a delete marker.
// - A version Object Lock protects (retention or legal hold) is never deleted;
//   placing a delete marker over it is allowed, as for a user's DELETE.
//
// EUCA_LIFECYCLE_DAY_SECONDS (default 86400) is a test knob: how long a
// lifecycle "day" is, so that tests can see rules act within seconds.
import * as db from '../db/walrus';
import * as ldb from '../db/walrusLifecycle';
import type { Walrus } from './engine';

export interface LifecycleFilter { prefix?: string; tags?: db.Tag[]; sizeGt?: number; sizeLt?: number }
export interface LifecycleRule {
  id: string;
  status: 'Enabled' | 'Disabled';
  filter: LifecycleFilter;
  /** how the filter was written, to give it back the same way: legacy <Prefix>, <Filter> with one predicate, or <And> */
  shape: 'prefix' | 'filter' | 'and';
  expiration?: { days?: number; date?: string; expiredObjectDeleteMarker?: boolean };
  noncurrentExpiration?: { days: number; newer?: number };
  abortUpload?: { days: number };
}

export const DEFAULT_DAY_SECONDS = 86_400;
export const daySecondsFromEnv = () => {
  const v = Number(process.env.EUCA_LIFECYCLE_DAY_SECONDS);
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_DAY_SECONDS;
};

/** `days` after `from`, rounded up to the next day boundary (midnight UTC when a day is 86400 s). */
export function afterDays(from: Date, days: number, daySeconds: number): number {
  const dayMs = daySeconds * 1000;
  return Math.ceil((from.getTime() + days * dayMs) / dayMs) * dayMs;
}

export function filterMatches(f: LifecycleFilter, key: string, v: { deleteMarker: boolean; tags: db.Tag[] | null; size: number }): boolean {
  if (f.prefix && !key.startsWith(f.prefix)) return false;
  if (v.deleteMarker && (f.tags?.length || f.sizeGt !== undefined || f.sizeLt !== undefined)) return false;
  for (const t of f.tags ?? []) if (!v.tags?.some((x) => x.Key === t.Key && x.Value === t.Value)) return false;
  if (f.sizeGt !== undefined && !(v.size > f.sizeGt)) return false;
  if (f.sizeLt !== undefined && !(v.size < f.sizeLt)) return false;
  return true;
}

export interface LifecycleCounts { expired: number; noncurrentExpired: number; deleteMarkersRemoved: number; uploadsAborted: number; lockedSkipped: number }
export const zeroCounts = (): LifecycleCounts => ({ expired: 0, noncurrentExpired: 0, deleteMarkersRemoved: 0, uploadsAborted: 0, lockedSkipped: 0 });
export function addCounts(a: LifecycleCounts, b: Partial<LifecycleCounts>): LifecycleCounts {
  for (const k of Object.keys(a) as Array<keyof LifecycleCounts>) a[k] += b[k] ?? 0;
  return a;
}

const locked = (v: db.ObjectRow, now: number) => v.legalHold === true || (!!v.lockMode && !!v.lockUntil && v.lockUntil.getTime() > now);

export interface ApplyContext { walrus: Walrus; bucket: db.BucketRow; rules: LifecycleRule[]; now: number; daySeconds: number }

/** Applies the rules to one key; returns what was done. */
export async function applyToKey(c: ApplyContext, keyBytes: Buffer): Promise<LifecycleCounts> {
  const out = zeroCounts();
  const key = keyBytes.toString('utf8');
  const rules = c.rules.filter((r) => r.status === 'Enabled' && (!r.filter.prefix || key.startsWith(r.filter.prefix)));
  if (!rules.length) return out;
  const { now, daySeconds } = c;
  const name = c.bucket.name;
  let vs = await ldb.versionsOf(name, keyBytes);
  if (!vs.length) return out;
  const due = (r: LifecycleRule, from: Date) => {
    const e = r.expiration!;
    if (e.date) return now >= Date.parse(e.date);
    return e.days !== undefined && now >= afterDays(from, e.days, daySeconds);
  };

  // 1. the current version
  const cur = vs[0];
  if (!cur.deleteMarker && rules.some((r) => (r.expiration?.days !== undefined || r.expiration?.date) && filterMatches(r.filter, key, cur) && due(r, cur.lastModified))) {
    if (c.bucket.versioning === 'Off' && locked(cur, now)) out.lockedSkipped++;
    else {
      await c.walrus.deleteObject(name, key, undefined, c.bucket.accountId);
      out.expired++;
      vs = await ldb.versionsOf(name, keyBytes);
    }
  }

  // 2. noncurrent versions (vs[i] became noncurrent when vs[i-1] was created)
  const nc = rules.filter((r) => r.noncurrentExpiration);
  if (nc.length && vs.length > 1) {
    let removed = false;
    for (let i = 1; i < vs.length; i++) {
      const v = vs[i];
      const expire = nc.some((r) => {
        const x = r.noncurrentExpiration!;
        return filterMatches(r.filter, key, v) && (x.newer === undefined || i - 1 >= x.newer) && now >= afterDays(vs[i - 1].lastModified, x.days, daySeconds);
      });
      if (!expire) continue;
      if (locked(v, now)) { out.lockedSkipped++; continue; }
      try {
        const r = await c.walrus.deleteObject(name, key, v.versionId, c.bucket.accountId, (row) => { if (locked(row, Date.now())) throw new Error('locked'); });
        if (r.found) { out.noncurrentExpired++; removed = true; }
      } catch (e) { if ((e as Error).message === 'locked') out.lockedSkipped++; else throw e; }
    }
    if (removed) vs = await ldb.versionsOf(name, keyBytes);
  }

  // 3. an expired object delete marker: the key's only version
  if (vs.length === 1 && vs[0].deleteMarker) {
    const dm = vs[0];
    const remove = rules.some((r) => filterMatches(r.filter, key, dm) &&
      (r.expiration?.expiredObjectDeleteMarker || ((r.expiration?.days !== undefined || r.expiration?.date) && due(r, dm.lastModified))));
    if (remove) {
      const r = await c.walrus.deleteObject(name, key, dm.versionId, c.bucket.accountId);
      if (r.found) out.deleteMarkersRemoved++;
    }
  }
  return out;
}

/** One page of keys after `cursor` (base64 of the last key's bytes); returns the next cursor or null at the end. */
export async function applyBatch(c: ApplyContext, cursor: string | null, pageSize = 200, onKey?: () => void): Promise<{ cursor: string | null; counts: LifecycleCounts }> {
  const counts = zeroCounts();
  const keys = await ldb.keysAfter(c.bucket.name, cursor ? Buffer.from(cursor, 'base64') : null, pageSize);
  for (const k of keys) { addCounts(counts, await applyToKey(c, k)); onKey?.(); }
  return { cursor: keys.length === pageSize ? keys[keys.length - 1].toString('base64') : null, counts };
}

/** AbortIncompleteMultipartUpload: uploads initiated DaysAfterInitiation ago or earlier. */
export async function abortUploads(c: ApplyContext, onUpload?: () => void): Promise<number> {
  const rules = c.rules.filter((r) => r.status === 'Enabled' && r.abortUpload);
  if (!rules.length) return 0;
  let aborted = 0;
  let afterKey: Buffer | null = null; let afterId: string | null = null;
  for (;;) {
    const ups = await db.listUploads(c.bucket.name, '', afterKey, afterId, 500);
    for (const u of ups) {
      onUpload?.();
      if (!rules.some((r) => (!r.filter.prefix || u.key.startsWith(r.filter.prefix)) && c.now >= afterDays(u.initiated, r.abortUpload!.days, c.daySeconds))) continue;
      const files = await db.deleteUpload(u.uploadId);
      if (!files) continue;
      for (const f of files) await c.walrus.store.remove(f);
      aborted++;
    }
    if (ups.length < 500) return aborted;
    const last = ups[ups.length - 1];
    afterKey = Buffer.from(last.key, 'utf8'); afterId = last.uploadId;
  }
}
