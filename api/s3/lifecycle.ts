// Put/Get/DeleteBucketLifecycleConfiguration (and the older PutBucketLifecycle, same
// sub-resource). Rules are validated as S3 validates them and stored parsed; the
// walrusLifecycle workflow applies them (walrus/lifecycle.ts).
import { randomBytes } from 'node:crypto';
import { S3Error } from './errors';
import { xmlDoc, parseXml, type XmlNode } from './xml';
import { type Ctx, loadBucket } from './context';
import { readCheckedBody } from './integrity';
import { sendXml } from './buckets';
import { list, text } from './cors';
import * as cfg from '../../db/walrusConfigs';
import type { LifecycleRule, LifecycleFilter } from '../../walrus/lifecycle';
import type { Tag } from '../../db/walrus';

const MAX_RULES = 1000;
const bad = () => new S3Error('MalformedXML');
const isEmpty = (v: unknown) => v === '' || (typeof v === 'string' && !v.trim());
const obj = (v: unknown): any => (isEmpty(v) ? {} : typeof v === 'object' && v !== null && !Array.isArray(v) ? v : (() => { throw bad(); })());

function positiveInt(v: unknown, what: string): number {
  const s = text(v);
  if (s === undefined || !/^-?\d+$/.test(s) || Number(s) <= 0) throw new S3Error('InvalidArgument', what);
  return Number(s);
}

function parseTag(v: unknown): Tag {
  const t = obj(v);
  const key = text(t.Key);
  if (!key) throw bad();
  return { Key: key, Value: text(t.Value) ?? '' };
}

function sizeOf(v: unknown, name: string): number {
  const s = text(v);
  if (s === undefined || !/^\d+$/.test(s)) throw new S3Error('InvalidArgument', `${name} must be a non-negative integer`, { ArgumentName: name });
  return Number(s);
}

function parseFilter(r: any): { filter: LifecycleFilter; shape: LifecycleRule['shape'] } {
  if (r.Filter !== undefined && r.Prefix !== undefined) throw bad();
  if (r.Filter === undefined) return { filter: r.Prefix !== undefined ? { prefix: text(r.Prefix) ?? '' } : {}, shape: r.Prefix !== undefined ? 'prefix' : 'filter' };
  const f = obj(r.Filter);
  const preds = ['Prefix', 'Tag', 'And', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan'].filter((k) => f[k] !== undefined);
  if (preds.length > 1 || list(f.Tag).length > 1) throw bad();
  const filter: LifecycleFilter = {};
  if (f.Prefix !== undefined) filter.prefix = text(f.Prefix) ?? '';
  if (f.Tag !== undefined) filter.tags = [parseTag(list(f.Tag)[0])];
  if (f.ObjectSizeGreaterThan !== undefined) filter.sizeGt = sizeOf(f.ObjectSizeGreaterThan, 'ObjectSizeGreaterThan');
  if (f.ObjectSizeLessThan !== undefined) filter.sizeLt = sizeOf(f.ObjectSizeLessThan, 'ObjectSizeLessThan');
  if (f.And === undefined) return { filter, shape: 'filter' };
  const a = obj(f.And);
  if (a.Prefix !== undefined) filter.prefix = text(a.Prefix) ?? '';
  const tags = list(a.Tag).map(parseTag);
  if (new Set(tags.map((t) => t.Key)).size !== tags.length) throw new S3Error('InvalidRequest', 'Duplicate Tag Keys are not allowed.');
  if (tags.length) filter.tags = tags;
  if (a.ObjectSizeGreaterThan !== undefined) filter.sizeGt = sizeOf(a.ObjectSizeGreaterThan, 'ObjectSizeGreaterThan');
  if (a.ObjectSizeLessThan !== undefined) filter.sizeLt = sizeOf(a.ObjectSizeLessThan, 'ObjectSizeLessThan');
  if (filter.sizeGt !== undefined && filter.sizeLt !== undefined && filter.sizeGt >= filter.sizeLt) {
    throw new S3Error('InvalidArgument', 'The ObjectSizeGreaterThan value must be less than the ObjectSizeLessThan value.', { ArgumentName: 'ObjectSizeLessThan' });
  }
  return { filter, shape: 'and' };
}

export function parseLifecycle(body: Buffer): LifecycleRule[] {
  const doc = obj(parseXml(body, 'LifecycleConfiguration'));
  const rules = list(doc.Rule);
  if (!rules.length || rules.length > MAX_RULES) throw bad();
  const ids = new Set<string>();
  return rules.map((raw): LifecycleRule => {
    const r = obj(raw);
    let id = text(r.ID) ?? '';
    if (id.length > 255) throw new S3Error('InvalidArgument', 'ID length should not exceed allowed limit of 255', { ArgumentName: 'ID' });
    if (!id) id = randomBytes(24).toString('base64').replace(/[+/=]/g, '').slice(0, 32);   // S3 names a rule that has none
    if (ids.has(id)) throw new S3Error('InvalidArgument', 'Rule ID must be unique. Found same ID for more than one rule', { ArgumentName: 'ID', ArgumentValue: id });
    ids.add(id);
    const status = text(r.Status);
    if (status !== 'Enabled' && status !== 'Disabled') throw bad();
    const { filter, shape } = parseFilter(r);
    if (r.Transition !== undefined || r.NoncurrentVersionTransition !== undefined) {
      throw new S3Error('NotImplemented', 'Lifecycle transitions are not implemented: Walrus keeps every object in the STANDARD storage class');
    }
    const rule: LifecycleRule = { id, status, filter, shape };
    if (r.Expiration !== undefined) {
      const e = obj(r.Expiration);
      const has = ['Days', 'Date', 'ExpiredObjectDeleteMarker'].filter((k) => e[k] !== undefined);
      if (has.length !== 1) throw bad();
      if (e.Days !== undefined) rule.expiration = { days: positiveInt(e.Days, "'Days' for Expiration action must be a positive integer") };
      else if (e.Date !== undefined) {
        const d = new Date(text(e.Date) ?? '');
        if (Number.isNaN(d.getTime())) throw new S3Error('InvalidArgument', "'Date' must be in ISO 8601 format", { ArgumentName: 'Date' });
        if (d.getUTCHours() || d.getUTCMinutes() || d.getUTCSeconds() || d.getUTCMilliseconds()) throw new S3Error('InvalidArgument', "'Date' must be at midnight GMT", { ArgumentName: 'Date' });
        rule.expiration = { date: d.toISOString() };
      } else {
        const v = text(e.ExpiredObjectDeleteMarker);
        if (v !== 'true' && v !== 'false') throw bad();
        if (v === 'true' && filter.tags?.length) throw new S3Error('InvalidRequest', 'ExpiredObjectDeleteMarker cannot be specified with Tags.');
        rule.expiration = { expiredObjectDeleteMarker: v === 'true' };
      }
    }
    if (r.NoncurrentVersionExpiration !== undefined) {
      const n = obj(r.NoncurrentVersionExpiration);
      if (n.NoncurrentDays === undefined) throw bad();
      rule.noncurrentExpiration = { days: positiveInt(n.NoncurrentDays, "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer") };
      if (n.NewerNoncurrentVersions !== undefined) {
        const k = positiveInt(n.NewerNoncurrentVersions, "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive integer");
        if (k > 100) throw new S3Error('InvalidArgument', "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be less than or equal to 100");
        rule.noncurrentExpiration.newer = k;
      }
    }
    if (r.AbortIncompleteMultipartUpload !== undefined) {
      const a = obj(r.AbortIncompleteMultipartUpload);
      if (filter.tags?.length) throw new S3Error('InvalidRequest', 'AbortIncompleteMultipartUpload cannot be specified with Tags.');
      if (filter.sizeGt !== undefined || filter.sizeLt !== undefined) throw new S3Error('InvalidRequest', 'AbortIncompleteMultipartUpload cannot be specified with an object size filter.');
      rule.abortUpload = { days: positiveInt(a.DaysAfterInitiation, "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer") };
    }
    if (!rule.expiration && !rule.noncurrentExpiration && !rule.abortUpload) throw new S3Error('InvalidRequest', 'At least one action needs to be specified in a rule');
    return rule;
  });
}

function filterXml(r: LifecycleRule): { [k: string]: XmlNode } {
  const f = r.filter;
  if (r.shape === 'prefix') return { Prefix: f.prefix ?? '' };
  const tag = (t: Tag) => ({ Key: t.Key, Value: t.Value });
  if (r.shape === 'and') {
    return { Filter: { And: { Prefix: f.prefix, Tag: (f.tags ?? []).map(tag), ObjectSizeGreaterThan: f.sizeGt, ObjectSizeLessThan: f.sizeLt } } };
  }
  return { Filter: { Prefix: f.prefix, Tag: f.tags?.[0] ? tag(f.tags[0]) : undefined, ObjectSizeGreaterThan: f.sizeGt, ObjectSizeLessThan: f.sizeLt } };
}

export function lifecycleXml(rules: LifecycleRule[]): string {
  return xmlDoc('LifecycleConfiguration', {
    Rule: rules.map((r) => ({
      Expiration: r.expiration ? { Date: r.expiration.date, Days: r.expiration.days, ExpiredObjectDeleteMarker: r.expiration.expiredObjectDeleteMarker } : undefined,
      ID: r.id,
      ...filterXml(r),
      Status: r.status,
      NoncurrentVersionExpiration: r.noncurrentExpiration ? { NoncurrentDays: r.noncurrentExpiration.days, NewerNoncurrentVersions: r.noncurrentExpiration.newer } : undefined,
      AbortIncompleteMultipartUpload: r.abortUpload ? { DaysAfterInitiation: r.abortUpload.days } : undefined,
    })),
  });
}

// S3 answers both with the minimum object size transitions apply to (its default).
const MIN_SIZE_HEADER = 'x-amz-transition-default-minimum-object-size';

export async function putBucketLifecycle(ctx: Ctx) {
  await loadBucket(ctx, 'owner');
  const rules = parseLifecycle(await readCheckedBody(ctx, 1024 * 1024));
  await cfg.putBucketConfig(ctx.bucket!, 'lifecycle', rules);
  ctx.res.setHeader(MIN_SIZE_HEADER, 'all_storage_classes_128K');
  ctx.res.status(200).setHeader('Content-Length', 0); ctx.res.end();
}

export async function getBucketLifecycle(ctx: Ctx) {
  await loadBucket(ctx, 'owner');
  const rules = await cfg.getBucketConfig<LifecycleRule[]>(ctx.bucket!, 'lifecycle');
  if (!rules) throw new S3Error('NoSuchLifecycleConfiguration', 'The lifecycle configuration does not exist', { BucketName: ctx.bucket });
  ctx.res.setHeader(MIN_SIZE_HEADER, 'all_storage_classes_128K');
  sendXml(ctx, 200, lifecycleXml(rules));
}

export async function deleteBucketLifecycle(ctx: Ctx) {
  await loadBucket(ctx, 'owner');
  await cfg.deleteBucketConfig(ctx.bucket!, 'lifecycle');
  ctx.res.status(204).end();
}
