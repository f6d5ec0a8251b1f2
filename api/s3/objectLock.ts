// S3 Object Lock (WORM): buckets created with x-amz-bucket-object-lock-enabled
// (versioning on for good), Put/GetObjectLockConfiguration (default retention),
// Put/GetObjectRetention (GOVERNANCE: bypassable with
// x-amz-bypass-governance-retention; COMPLIANCE: only ever extended),
// Put/GetObjectLegalHold, x-amz-object-lock-* on the writes, and versions that
// cannot be deleted while retained or held. A delete without a version id
// still only adds a delete marker, as in S3.
import { S3Error } from './errors';
import { xmlDoc, parseXml, isoDate } from './xml';
import { type Ctx, hdr, loadBucket } from './context';
import { readCheckedBody, hasIntegrity } from './integrity';
import { sendXml } from './buckets';
import { text } from './cors';
import * as db from '../../db/walrus';
import * as cfg from '../../db/walrusConfigs';

export interface DefaultRetention { mode: db.LockMode; days?: number; years?: number }
export interface LockConfig { enabled: true; rule?: DefaultRetention }

const MODES = ['GOVERNANCE', 'COMPLIANCE'];
const LOCKED = 'Access Denied because object protected by object lock.';
const NO_CONFIG_OBJECT_OPS = 'Bucket is missing Object Lock Configuration';
const NO_CONFIG_PUT = 'Bucket is missing ObjectLockConfiguration';

export const lockConfigOf = (bucket: string) => cfg.getBucketConfig<LockConfig>(bucket, 'object-lock');

// ------------------------------------------------------------------ bucket configuration

/** CreateBucket with x-amz-bucket-object-lock-enabled: true (called once the bucket exists). */
export async function initBucketLock(ctx: Ctx, bucket: string): Promise<void> {
  const v = hdr(ctx, 'x-amz-bucket-object-lock-enabled');
  if (v === undefined || v.trim().toLowerCase() !== 'true') return;
  await cfg.enableObjectLock(bucket, { enabled: true } satisfies LockConfig, false);
}

/** x-amz-bucket-object-lock-enabled must be true or false (checked before the bucket is created). */
export function checkCreateHeader(ctx: Ctx): void {
  const v = hdr(ctx, 'x-amz-bucket-object-lock-enabled');
  if (v !== undefined && !['true', 'false'].includes(v.trim().toLowerCase())) {
    throw new S3Error('InvalidArgument', 'Invalid x-amz-bucket-object-lock-enabled header value', { ArgumentName: 'x-amz-bucket-object-lock-enabled', ArgumentValue: v });
  }
}

/** PutBucketVersioning Suspended on a locked bucket. */
export async function assertVersioningChangeAllowed(bucket: string, status: string): Promise<void> {
  if (status !== 'Enabled' && await lockConfigOf(bucket)) {
    throw new S3Error('InvalidBucketState', 'An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.', { BucketName: bucket }, 409);
  }
}

const positive = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) && Number(s) > 0 ? Number(s) : undefined);

export function parseLockConfig(body: Buffer): LockConfig {
  const doc = parseXml(body, 'ObjectLockConfiguration');
  if (typeof doc !== 'object' || text(doc.ObjectLockEnabled) !== 'Enabled') throw new S3Error('MalformedXML');
  const out: LockConfig = { enabled: true };
  if (doc.Rule === undefined) return out;
  const dr = doc.Rule?.DefaultRetention;
  if (typeof dr !== 'object' || dr === null) throw new S3Error('MalformedXML');
  const mode = text(dr.Mode);
  if (!mode || !MODES.includes(mode)) throw new S3Error('MalformedXML');
  const hasDays = dr.Days !== undefined, hasYears = dr.Years !== undefined;
  if (hasDays === hasYears) throw new S3Error('MalformedXML');
  const n = positive(text(hasDays ? dr.Days : dr.Years));
  if (n === undefined) throw new S3Error('InvalidArgument', 'Default retention period must be a positive integer value.', { ArgumentName: hasDays ? 'Days' : 'Years' });
  if ((hasDays && n > 36500) || (hasYears && n > 100)) throw new S3Error('InvalidArgument', 'Default retention period is too large.', { ArgumentName: hasDays ? 'Days' : 'Years' });
  out.rule = { mode: mode as db.LockMode, ...(hasDays ? { days: n } : { years: n }) };
  return out;
}

export function lockConfigXml(c: LockConfig): string {
  return xmlDoc('ObjectLockConfiguration', {
    ObjectLockEnabled: 'Enabled',
    Rule: c.rule ? { DefaultRetention: { Mode: c.rule.mode, Days: c.rule.days, Years: c.rule.years } } : undefined,
  });
}

export async function getObjectLockConfiguration(ctx: Ctx) {
  await loadBucket(ctx, 'owner');
  const c = await lockConfigOf(ctx.bucket!);
  if (!c) throw new S3Error('ObjectLockConfigurationNotFoundError', 'Object Lock configuration does not exist for this bucket', { BucketName: ctx.bucket }, 404);
  sendXml(ctx, 200, lockConfigXml(c));
}

export async function putObjectLockConfiguration(ctx: Ctx) {
  await loadBucket(ctx, 'owner');
  const c = parseLockConfig(await readCheckedBody(ctx));
  // S3 turns Object Lock on for an existing bucket whose versioning is Enabled (and never off again)
  if (await cfg.enableObjectLock(ctx.bucket!, c, true) === 'versioning') {
    throw new S3Error('InvalidBucketState', "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration", { BucketName: ctx.bucket }, 409);
  }
  ctx.res.status(200).setHeader('Content-Length', 0); ctx.res.end();
}

// ------------------------------------------------------------------ writes

/** The retention a default rule gives a version created at `now`. */
export function defaultRetention(rule: DefaultRetention, now = new Date()): { mode: db.LockMode; until: Date } {
  const until = new Date(now.getTime());
  if (rule.days) until.setTime(until.getTime() + rule.days * 86_400_000);
  if (rule.years) until.setUTCFullYear(until.getUTCFullYear() + rule.years);
  return { mode: rule.mode, until };
}

function parseRetainUntil(v: string, arg: string): Date {
  const d = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/.test(v.trim()) ? new Date(v.trim()) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw new S3Error('InvalidArgument', 'The retain until date must be provided in ISO 8601 format', { ArgumentName: arg, ArgumentValue: v });
  return d;
}

/** x-amz-object-lock-mode / -retain-until-date / -legal-hold of PutObject, CopyObject or CreateMultipartUpload. */
export function lockHeaders(ctx: Ctx): db.ObjectLock | null {
  const mode = hdr(ctx, 'x-amz-object-lock-mode');
  const until = hdr(ctx, 'x-amz-object-lock-retain-until-date');
  const hold = hdr(ctx, 'x-amz-object-lock-legal-hold');
  if (mode === undefined && until === undefined && hold === undefined) return null;
  if ((mode === undefined) !== (until === undefined)) {
    throw new S3Error('InvalidArgument', 'x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied', { ArgumentName: mode === undefined ? 'x-amz-object-lock-mode' : 'x-amz-object-lock-retain-until-date' });
  }
  const out: db.ObjectLock = { mode: null, until: null, legalHold: null };
  if (mode !== undefined) {
    if (!MODES.includes(mode.trim())) throw new S3Error('InvalidArgument', 'Unknown wormMode directive.', { ArgumentName: 'x-amz-object-lock-mode', ArgumentValue: mode });
    out.mode = mode.trim() as db.LockMode;
    out.until = parseRetainUntil(until!, 'x-amz-object-lock-retain-until-date');
    if (out.until.getTime() <= Date.now()) throw new S3Error('InvalidArgument', 'The retain until date must be in the future!', { ArgumentName: 'x-amz-object-lock-retain-until-date', ArgumentValue: until });
  }
  if (hold !== undefined) {
    if (!['ON', 'OFF'].includes(hold.trim())) throw new S3Error('InvalidArgument', "Legal Hold must be either of 'ON' or 'OFF'", { ArgumentName: 'x-amz-object-lock-legal-hold', ArgumentValue: hold });
    out.legalHold = hold.trim() === 'ON';
  }
  return out;
}

/**
 * The lock a new version of `bucket` gets: the request's x-amz-object-lock-*
 * headers, else the bucket's default retention. With `requireIntegrity` (a
 * PutObject body) S3 wants Content-MD5 or a checksum on such a write.
 */
export async function lockForWrite(ctx: Ctx, bucket: string, opts: { requireIntegrity?: boolean; deferDefault?: boolean } = {}): Promise<db.ObjectLock | null> {
  const asked = lockHeaders(ctx);
  const c = await lockConfigOf(bucket);
  if (!c) {
    if (asked) throw new S3Error('InvalidRequest', NO_CONFIG_PUT);
    return null;
  }
  if (opts.requireIntegrity && (asked || c.rule) && !hasIntegrity(ctx)) {
    throw new S3Error('InvalidRequest', 'Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters');
  }
  if (asked?.mode || opts.deferDefault || !c.rule) return asked;
  return { ...defaultRetention(c.rule), legalHold: asked?.legalHold ?? null };
}

/** CompleteMultipartUpload: what CreateMultipartUpload asked for, else the default retention now. */
export async function lockForCompletion(bucket: string, asked: db.ObjectLock | null | undefined): Promise<db.ObjectLock | null> {
  if (asked?.mode) return asked;
  const c = await lockConfigOf(bucket);
  if (!c?.rule) return asked ?? null;
  return { ...defaultRetention(c.rule), legalHold: asked?.legalHold ?? null };
}

/** x-amz-object-lock-* of GET and HEAD. */
export function setLockResponseHeaders(ctx: Ctx, o: db.ObjectRow): void {
  if (o.lockMode && o.lockUntil) {
    ctx.res.setHeader('x-amz-object-lock-mode', o.lockMode);
    ctx.res.setHeader('x-amz-object-lock-retain-until-date', isoDate(o.lockUntil));
  }
  if (o.legalHold !== null) ctx.res.setHeader('x-amz-object-lock-legal-hold', o.legalHold ? 'ON' : 'OFF');
}

// ------------------------------------------------------------------ protection

export const bypassRequested = (ctx: Ctx) => (hdr(ctx, 'x-amz-bypass-governance-retention') ?? '').trim().toLowerCase() === 'true';

/** Why a version may not be deleted now, or undefined. GOVERNANCE gives way to the bypass header. */
export function protection(o: Pick<db.ObjectRow, 'lockMode' | 'lockUntil' | 'legalHold'>, bypass: boolean, now = Date.now()): 'legal-hold' | 'COMPLIANCE' | 'GOVERNANCE' | undefined {
  if (o.legalHold) return 'legal-hold';
  if (o.lockMode && o.lockUntil && o.lockUntil.getTime() > now) {
    if (o.lockMode === 'COMPLIANCE') return 'COMPLIANCE';
    if (!bypass) return 'GOVERNANCE';
  }
  return undefined;
}

/** The guard DeleteObject(s) with a version id hand to the engine: refuses a protected version. */
export function deleteGuard(ctx: Ctx): (row: db.ObjectRow) => void {
  const bypass = bypassRequested(ctx);
  return (row) => { if (protection(row, bypass)) throw new S3Error('AccessDenied', LOCKED); };
}

// ------------------------------------------------------------------ retention and legal hold

/** The version a retention / legal-hold call addresses (the latest unless ?versionId). */
async function loadVersion(ctx: Ctx): Promise<db.ObjectRow> {
  await loadBucket(ctx, 'owner');
  if (!(await lockConfigOf(ctx.bucket!))) throw new S3Error('InvalidRequest', NO_CONFIG_OBJECT_OPS);
  const vid = ctx.q.get('versionId');
  if (vid === '') throw new S3Error('InvalidArgument', 'Version id cannot be the empty string', { ArgumentName: 'versionId', ArgumentValue: '' });
  const o = await db.getObject(ctx.bucket!, ctx.key!, vid);
  if (!o) {
    if (vid !== undefined) throw new S3Error('NoSuchVersion', undefined, { Key: ctx.key, VersionId: vid });
    throw new S3Error('NoSuchKey', undefined, { Key: ctx.key });
  }
  if (o.deleteMarker) {
    ctx.res.setHeader('x-amz-delete-marker', 'true');
    if (vid !== undefined) { ctx.res.setHeader('Allow', 'DELETE'); throw new S3Error('MethodNotAllowed', undefined, { Method: ctx.method, ResourceType: 'DeleteMarker' }); }
    throw new S3Error('NoSuchKey', undefined, { Key: ctx.key });
  }
  return o;
}

const noLockOnObject = () => new S3Error('NoSuchObjectLockConfiguration', 'The specified object does not have a ObjectLock configuration', {}, 400);

export async function getObjectRetention(ctx: Ctx) {
  const o = await loadVersion(ctx);
  if (!o.lockMode || !o.lockUntil) throw noLockOnObject();
  sendXml(ctx, 200, xmlDoc('Retention', { Mode: o.lockMode, RetainUntilDate: isoDate(o.lockUntil) }));
}

export async function putObjectRetention(ctx: Ctx) {
  const o = await loadVersion(ctx);
  const doc = parseXml(await readCheckedBody(ctx), 'Retention');
  const mode = text(doc?.Mode), untilText = text(doc?.RetainUntilDate);
  if ((mode === undefined) !== (untilText === undefined)) throw new S3Error('MalformedXML');
  if (mode !== undefined && !MODES.includes(mode)) throw new S3Error('MalformedXML');
  let until: Date | null = null;
  if (untilText !== undefined) {
    until = parseRetainUntil(untilText, 'RetainUntilDate');
    if (until.getTime() <= Date.now()) throw new S3Error('InvalidArgument', 'The retain until date must be in the future!', { ArgumentName: 'RetainUntilDate', ArgumentValue: untilText });
  }
  const bypass = bypassRequested(ctx);
  const found = await cfg.updateVersionLock(o.id, (cur) => {
    const active = cur.mode && cur.until && cur.until.getTime() > Date.now();
    if (active) {
      // a retention may be kept or extended, GOVERNANCE may become COMPLIANCE; anything less is
      // a shortening: never for COMPLIANCE, with the bypass header for GOVERNANCE
      const keepsOrExtends = !!until && until.getTime() >= cur.until!.getTime() && (mode === cur.mode || (cur.mode === 'GOVERNANCE' && mode === 'COMPLIANCE'));
      if (!keepsOrExtends && (cur.mode === 'COMPLIANCE' || !bypass)) throw new S3Error('AccessDenied', LOCKED);
    }
    return { mode: (mode as db.LockMode | undefined) ?? null, until, legalHold: cur.legalHold };
  });
  if (!found) throw new S3Error('NoSuchVersion', undefined, { Key: ctx.key, VersionId: o.versionId });
  if (o.versionId !== 'null') ctx.res.setHeader('x-amz-version-id', o.versionId);
  ctx.res.status(200).setHeader('Content-Length', 0); ctx.res.end();
}

export async function getObjectLegalHold(ctx: Ctx) {
  const o = await loadVersion(ctx);
  if (o.legalHold === null) throw noLockOnObject();
  sendXml(ctx, 200, xmlDoc('LegalHold', { Status: o.legalHold ? 'ON' : 'OFF' }));
}

export async function putObjectLegalHold(ctx: Ctx) {
  const o = await loadVersion(ctx);
  const doc = parseXml(await readCheckedBody(ctx), 'LegalHold');
  const st = text(doc?.Status);
  if (st !== 'ON' && st !== 'OFF') throw new S3Error('MalformedXML');
  const found = await cfg.updateVersionLock(o.id, (cur) => ({ ...cur, legalHold: st === 'ON' }));
  if (!found) throw new S3Error('NoSuchVersion', undefined, { Key: ctx.key, VersionId: o.versionId });
  if (o.versionId !== 'null') ctx.res.setHeader('x-amz-version-id', o.versionId);
  ctx.res.status(200).setHeader('Content-Length', 0); ctx.res.end();
}
