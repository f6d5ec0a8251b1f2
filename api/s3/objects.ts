// Object operations: PUT, GET/HEAD (ranges, conditionals, overrides), DELETE, COPY, ACL, tagging.
import { pipeline } from 'node:stream/promises';
import * as db from '../../db/walrus';
import { S3Error } from './errors';
import { xmlDoc, isoDate, httpDate } from './xml';
import { checksumHeader, parseAlgo, type ChecksumAlgo } from '../../walrus/checksums';
import {
  type Ctx, hdr, loadBucket, cannedAcl, objectHeaders, parseTaggingHeader, payloadSource, checksumRequest, verifyWritten,
  declaredSize, readSmallBody,
} from './context';
import { sendXml, parseTagging, tagsXml } from './buckets';
import { authorizeObjectRequest, objectOwnerFor } from './access';
import { checkKeyAndVersion, versionIdError } from './keys';
import { writeCondition, checkWriteCondition } from './conditional';
import { metadataWire, headerWire } from './headerText';
import { lockForWrite, setLockResponseHeaders, deleteGuard } from './objectLock';

export function checkKey(key: string) {
  if (Buffer.byteLength(key) > 1024) throw new S3Error('KeyTooLongError');
}

function versionHeader(ctx: Ctx, b: db.BucketRow | undefined, vid: string) {
  if (vid !== 'null' || (b && b.versioning !== 'Off')) ctx.res.setHeader('x-amz-version-id', vid);
}

export async function putObject(ctx: Ctx) {
  const key = ctx.key!; checkKey(key);
  const b = await loadBucket(ctx, 'write');
  const size = declaredSize(ctx);
  if (size === undefined && hdr(ctx, 'content-length') === undefined && hdr(ctx, 'transfer-encoding') === undefined) throw new S3Error('MissingContentLength');
  if (size !== undefined && size > ctx.opts.maxObjectSize) throw new S3Error('EntityTooLarge', undefined, { ProposedSize: size, MaxSizeAllowed: ctx.opts.maxObjectSize });
  if (hdr(ctx, 'content-md5') !== undefined) { const { decodeMd5 } = await import('./context'); decodeMd5(hdr(ctx, 'content-md5')!); }
  const headers = objectHeaders(ctx);
  const acl = cannedAcl(ctx) ?? 'private';
  const tags = parseTaggingHeader(hdr(ctx, 'x-amz-tagging'));
  const condition = writeCondition(ctx);
  await checkWriteCondition(b.name, key, condition);
  const lock = await lockForWrite(ctx, b.name, { requireIntegrity: true });   // Object Lock (api/s3/objectLock.ts)
  const ck = checksumRequest(ctx);
  const { row } = await ctx.walrus.putObject({
    bucket: b.name, key, ownerId: objectOwnerFor(ctx, b, acl), source: payloadSource(ctx), headers, acl, tags, condition, lock,
    algos: ck ? [ck.algo] : [], sha256: !!ctx.auth.contentSha256, maxSize: ctx.opts.maxObjectSize, checksumAlgo: ck?.algo,
    verify: (t) => verifyWritten(ctx, t, ck),
  });
  ctx.res.setHeader('ETag', `"${row.etag}"`);
  versionHeader(ctx, b, row.versionId);
  if (row.checksum && row.checksumAlgo) { ctx.res.setHeader(checksumHeader(row.checksumAlgo as ChecksumAlgo), row.checksum); ctx.res.setHeader('x-amz-checksum-type', row.checksumType ?? 'FULL_OBJECT'); }
  ctx.res.status(200).setHeader('Content-Length', 0); ctx.res.end();
}

/** Loads the object a GET/HEAD/ACL/tagging call addresses, applying its permission (api/s3/access.ts) and version/delete-marker rules. */
export async function loadObject(ctx: Ctx, need: 'read' | 'owner'): Promise<{ b: db.BucketRow; o: db.ObjectRow }> {
  const b = await db.getBucket(ctx.bucket!);
  if (!b) throw new S3Error('NoSuchBucket', undefined, { BucketName: ctx.bucket });
  const vid = ctx.q.get('versionId');
  if (vid === '') throw new S3Error('InvalidArgument', 'Version id cannot be the empty string', { ArgumentName: 'versionId', ArgumentValue: '' });
  const o = await db.getObject(b.name, ctx.key!, vid);
  // no such object (or a delete marker as the latest): S3 tells a caller without list rights AccessDenied rather than NoSuchKey
  authorizeObjectRequest(ctx, b, ctx.key!, o && !(o.deleteMarker && vid === undefined) ? o : undefined);
  void need;
  if (!o) {
    if (vid !== undefined) throw versionIdError(vid) ?? new S3Error('NoSuchVersion', undefined, { Key: ctx.key, VersionId: vid });
    throw new S3Error('NoSuchKey', undefined, { Key: ctx.key });
  }
  if (o.deleteMarker) {
    ctx.res.setHeader('x-amz-delete-marker', 'true');
    ctx.res.setHeader('x-amz-version-id', o.versionId);
    if (vid !== undefined) { ctx.res.setHeader('Allow', 'DELETE'); throw new S3Error('MethodNotAllowed', undefined, { Method: ctx.method, ResourceType: 'DeleteMarker' }); }
    throw new S3Error('NoSuchKey', undefined, { Key: ctx.key });
  }
  return { b, o };
}

const sec = (d: Date) => Math.floor(d.getTime() / 1000);
function parseHttpDate(s: string | undefined): Date | undefined {
  if (!s) return undefined;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? undefined : d;
}
const etagMatches = (list: string, etag: string) => list.split(',').map((s) => s.trim().replace(/^W\//, '').replace(/"/g, '')).some((t) => t === '*' || t === etag);

/** RFC 7232 evaluation as S3 does it: 412 or 304 (GET/HEAD), or nothing. */
export function evalConditions(get: (n: string) => string | undefined, o: db.ObjectRow, prefix = ''): 'ok' | 412 | 304 {
  const im = get(`${prefix}if-match`), inm = get(`${prefix}if-none-match`);
  const ims = parseHttpDate(get(`${prefix}if-modified-since`)), ius = parseHttpDate(get(`${prefix}if-unmodified-since`));
  const lm = sec(o.lastModified);
  if (im !== undefined) { if (!etagMatches(im, o.etag)) return 412; }
  else if (ius && lm > sec(ius)) return 412;
  if (inm !== undefined) { if (etagMatches(inm, o.etag)) return 304; }
  else if (ims && lm <= sec(ims) && ims.getTime() <= Date.now()) return 304;
  return 'ok';
}

function setObjectHeaders(ctx: Ctx, b: db.BucketRow, o: db.ObjectRow) {
  const res = ctx.res;
  for (const [k, v] of Object.entries(o.headers)) res.setHeader(k, k.startsWith('x-amz-meta-') ? metadataWire(v) : headerWire(v));
  res.setHeader('ETag', `"${o.etag}"`);
  res.setHeader('Last-Modified', httpDate(o.lastModified));
  res.setHeader('Accept-Ranges', 'bytes');
  versionHeader(ctx, b, o.versionId);
  if (o.partsCount) res.setHeader('x-amz-mp-parts-count', o.partsCount);
  if (o.tags?.length) res.setHeader('x-amz-tagging-count', o.tags.length);
  res.setHeader('x-amz-storage-class', 'STANDARD');
  setLockResponseHeaders(ctx, o);
  if (o.checksum && o.checksumAlgo && (hdr(ctx, 'x-amz-checksum-mode') ?? '').toUpperCase() === 'ENABLED') {
    res.setHeader(checksumHeader(o.checksumAlgo as ChecksumAlgo), o.checksum);
    res.setHeader('x-amz-checksum-type', o.checksumType ?? 'FULL_OBJECT');
  }
  const overrides: Array<[string, string]> = [['response-content-type', 'Content-Type'], ['response-content-language', 'Content-Language'],
    ['response-expires', 'Expires'], ['response-cache-control', 'Cache-Control'], ['response-content-disposition', 'Content-Disposition'],
    ['response-content-encoding', 'Content-Encoding']];
  for (const [q, h] of overrides) {
    const v = ctx.q.get(q);
    if (v === undefined) continue;
    if (!ctx.caller) throw new S3Error('InvalidRequest', 'Request specific response headers cannot be used for anonymous GET requests.');
    res.setHeader(h, v);
  }
}

/** Parses a Range header: undefined = whole object (absent or unparseable), 'bad' = unsatisfiable. */
export function parseRange(v: string | undefined, size: number): { start: number; end: number } | undefined | 'bad' {
  if (!v) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(v.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'bad';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  let end = m[2] === '' ? size - 1 : Number(m[2]);
  if (m[2] !== '' && end < start) return undefined;
  if (start >= size) return 'bad';
  if (end >= size) end = size - 1;
  return { start, end };
}

export async function getObject(ctx: Ctx, head: boolean) {
  const { b, o } = await loadObject(ctx, 'read');
  const cond = evalConditions((n) => hdr(ctx, n), o);
  if (cond === 412) throw new S3Error('PreconditionFailed', undefined, { Condition: hdr(ctx, 'if-match') !== undefined ? 'If-Match' : 'If-Unmodified-Since' });
  if (cond === 304) {
    ctx.res.setHeader('ETag', `"${o.etag}"`); ctx.res.setHeader('Last-Modified', httpDate(o.lastModified));
    versionHeader(ctx, b, o.versionId);
    ctx.res.status(304).end(); return;
  }
  let range = parseRange(hdr(ctx, 'range'), o.size);
  let part: { start: number; end: number; checksum: string | null } | undefined;
  const pn = ctx.q.get('partNumber');
  if (pn !== undefined) {
    if (!/^\d+$/.test(pn) || Number(pn) < 1 || Number(pn) > 10000) throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', { ArgumentName: 'partNumber', ArgumentValue: pn });
    if (hdr(ctx, 'range') !== undefined) throw new S3Error('InvalidRequest', 'Cannot specify both Range header and partNumber query parameter');
    if (Number(pn) > (o.partsCount ?? 1)) throw new S3Error('InvalidPartNumber', 'The requested partnumber is not satisfiable', {}, 416);
    if (!o.partsCount) range = undefined; // the whole object is part 1
    else if (!o.partSizes) throw new S3Error('NotImplemented', 'This object was completed before its part layout was kept: GetObject by partNumber is not available for it');
    else {
      // the part's bytes, as S3 answers: 206 with the part's Content-Range, the object's ETag and parts count
      let start = 0;
      for (let i = 0; i < Number(pn) - 1; i++) start += o.partSizes[i][0];
      part = { start, end: start + o.partSizes[Number(pn) - 1][0] - 1, checksum: o.partSizes[Number(pn) - 1][1] };
      range = part;
    }
  }
  if (range === 'bad') {
    ctx.res.setHeader('Content-Range', `bytes */${o.size}`);
    throw new S3Error('InvalidRange', undefined, { RangeRequested: hdr(ctx, 'range'), ActualObjectSize: o.size });
  }
  setObjectHeaders(ctx, b, o);
  if (part && part.end < part.start) {   // an empty last part: nothing to send, no range to name
    ctx.res.status(200).setHeader('Content-Length', 0); ctx.res.end(); return;
  }
  if (range) {
    ctx.res.status(206);
    ctx.res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${o.size}`);
    ctx.res.setHeader('Content-Length', range.end - range.start + 1);
    // a checksum of the whole object does not describe a range
    if (o.checksumAlgo) ctx.res.removeHeader(checksumHeader(o.checksumAlgo as ChecksumAlgo));
    // a part of a composite-checksum object has its own
    if (part?.checksum && o.checksumAlgo && o.checksumType === 'COMPOSITE' && (hdr(ctx, 'x-amz-checksum-mode') ?? '').toUpperCase() === 'ENABLED') {
      ctx.res.setHeader(checksumHeader(o.checksumAlgo as ChecksumAlgo), part.checksum);
    }
  } else {
    ctx.res.status(200);
    ctx.res.setHeader('Content-Length', o.size);
  }
  if (head || o.size === 0 || !o.file) { ctx.res.end(); return; }
  const stream = ctx.walrus.store.openRead(o.file, range?.start, range?.end ?? o.size - 1);
  try {
    await pipeline(stream, ctx.res);
  } catch (err: any) {
    if (err?.code !== 'ERR_STREAM_PREMATURE_CLOSE') ctx.opts.log.warn({ err: err?.message, key: o.key }, 'GET stream ended early');
    ctx.res.destroy();
  }
}

export async function deleteObject(ctx: Ctx) {
  const b = await loadBucket(ctx, 'write');
  const vid = ctx.q.get('versionId');
  if (vid === '') throw new S3Error('InvalidArgument', 'Version id cannot be the empty string', { ArgumentName: 'versionId', ArgumentValue: '' });
  const r = await ctx.walrus.deleteObject(b.name, ctx.key!, vid, ctx.caller ?? b.accountId, deleteGuard(ctx));   // Object Lock
  if (r.deleteMarker) ctx.res.setHeader('x-amz-delete-marker', 'true');
  if (r.versionId && (r.versionId !== 'null' || b.versioning !== 'Off')) ctx.res.setHeader('x-amz-version-id', r.versionId);
  ctx.res.status(204).end();
}

/** Parses x-amz-copy-source: "[/]bucket/key[?versionId=v]" (URL-encoded). */
export function parseCopySource(v: string): { bucket: string; key: string; versionId?: string } {
  let s = v.trim();
  let versionId: string | undefined;
  const qi = s.indexOf('?');
  if (qi >= 0) {
    const qs = new URLSearchParams(s.slice(qi + 1));
    versionId = qs.get('versionId') ?? undefined;
    s = s.slice(0, qi);
  }
  try { s = decodeURIComponent(s); } catch { throw new S3Error('InvalidArgument', 'Invalid copy source encoding', { ArgumentName: 'x-amz-copy-source' }); }
  if (s.startsWith('/')) s = s.slice(1);
  const i = s.indexOf('/');
  if (i <= 0 || i === s.length - 1) throw new S3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', { ArgumentName: 'x-amz-copy-source', ArgumentValue: v });
  return { bucket: s.slice(0, i), key: s.slice(i + 1), versionId };
}

/** The source object of a copy, with read permission and x-amz-copy-source-if-* checked. */
export async function loadCopySource(ctx: Ctx): Promise<db.ObjectRow> {
  const src = parseCopySource(hdr(ctx, 'x-amz-copy-source')!);
  checkKeyAndVersion(src.key, src.versionId);
  const sb = await db.getBucket(src.bucket);
  if (!sb) throw new S3Error('NoSuchBucket', undefined, { BucketName: src.bucket });
  const srcOwner = hdr(ctx, 'x-amz-source-expected-bucket-owner');
  if (srcOwner !== undefined && srcOwner.trim() !== sb.accountId) throw new S3Error('AccessDenied');
  const o = await db.getObject(src.bucket, src.key, src.versionId);
  // reading the source: s3:GetObject (s3:GetObjectVersion for a version) in the source bucket
  authorizeObjectRequest(ctx, sb, src.key, o && !(o.deleteMarker && !src.versionId) ? o : undefined, src.versionId ? 'GetObjectVersion' : 'GetObject');
  if (!o) {
    throw new S3Error(src.versionId ? 'NoSuchVersion' : 'NoSuchKey', undefined, { Key: src.key, VersionId: src.versionId });
  }
  if (o.deleteMarker) throw new S3Error(src.versionId ? 'InvalidRequest' : 'NoSuchKey', src.versionId ? 'The source of a copy request may not specifically refer to a delete marker by version id.' : undefined, { Key: src.key });
  if (evalConditions((n) => hdr(ctx, n), o, 'x-amz-copy-source-') !== 'ok') throw new S3Error('PreconditionFailed', undefined, { Condition: 'x-amz-copy-source-If-*' });
  if (o.versionId !== 'null') ctx.res.setHeader('x-amz-copy-source-version-id', o.versionId);
  return o;
}

export async function copyObject(ctx: Ctx) {
  const key = ctx.key!; checkKey(key);
  const b = await loadBucket(ctx, 'write');
  await readSmallBody(ctx, 0);
  const src = await loadCopySource(ctx);
  const directive = (hdr(ctx, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
  const tagDirective = (hdr(ctx, 'x-amz-tagging-directive') ?? 'COPY').toUpperCase();
  if (!['COPY', 'REPLACE'].includes(directive)) throw new S3Error('InvalidArgument', 'Unknown metadata directive.', { ArgumentName: 'x-amz-metadata-directive', ArgumentValue: directive });
  if (!['COPY', 'REPLACE'].includes(tagDirective)) throw new S3Error('InvalidArgument', 'Unknown tagging directive.', { ArgumentName: 'x-amz-tagging-directive', ArgumentValue: tagDirective });
  const same = src.bucket === b.name && src.key === key && src.versionId === (await db.getObject(b.name, key))?.versionId;
  if (same && directive === 'COPY' && b.versioning === 'Off' && !hdr(ctx, 'x-amz-storage-class') && !hdr(ctx, 'x-amz-acl')) {
    throw new S3Error('InvalidRequest', "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.");
  }
  const headers = directive === 'REPLACE' ? objectHeaders(ctx) : src.headers;
  const tags = tagDirective === 'REPLACE' ? parseTaggingHeader(hdr(ctx, 'x-amz-tagging')) : src.tags;
  const lock = await lockForWrite(ctx, b.name);   // the copy's own x-amz-object-lock-* or the default retention, never the source's
  const file = await ctx.walrus.cloneFile(src.file!);
  let r;
  try {
    r = await db.putObjectVersion({
      bucket: b.name, key, size: src.size, etag: src.etag, file, ownerId: objectOwnerFor(ctx, b, cannedAcl(ctx)), headers, acl: cannedAcl(ctx) ?? 'private', tags,
      checksumAlgo: src.checksumAlgo, checksum: src.checksum, checksumType: src.checksumType, partsCount: null, lock,
    }, b.versioning);
  } catch (e) { await ctx.walrus.store.remove(file); throw e; }
  await ctx.walrus.store.remove(r.replacedFile);
  versionHeader(ctx, b, r.versionId);
  const ck = src.checksumAlgo && src.checksum && !src.checksum.includes('-') ? { [`Checksum${src.checksumAlgo}`]: src.checksum } : {};
  sendXml(ctx, 200, xmlDoc('CopyObjectResult', { ETag: `"${src.etag}"`, LastModified: isoDate(r.row.lastModified), ...ck }));
}

export async function getObjectTagging(ctx: Ctx) {
  const { o } = await loadObject(ctx, 'owner');
  if (o.versionId !== 'null') ctx.res.setHeader('x-amz-version-id', o.versionId);
  sendXml(ctx, 200, tagsXml(o.tags));
}
export async function putObjectTagging(ctx: Ctx) {
  const { o } = await loadObject(ctx, 'owner');
  await db.updateObject(o.id, { tags: await parseTagging(ctx, 10) });
  if (o.versionId !== 'null') ctx.res.setHeader('x-amz-version-id', o.versionId);
  ctx.res.status(200).setHeader('Content-Length', 0); ctx.res.end();
}
export async function deleteObjectTagging(ctx: Ctx) {
  const { o } = await loadObject(ctx, 'owner');
  await db.updateObject(o.id, { tags: null });
  ctx.res.status(204).end();
}

export { parseAlgo };
