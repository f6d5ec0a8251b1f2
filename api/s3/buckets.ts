// Bucket operations and listings.
import * as db from '../../db/walrus';
import { S3Error } from './errors';
import { xmlDoc, parseXml, xmlValue, isoDate, type XmlNode } from './xml';
import { type Ctx, hdr, loadBucket, readSmallBody, cannedAcl, ownerXml, validateTags } from './context';
import { keyError, versionIdError } from './keys';
import { checkCreateHeader, initBucketLock, assertVersioningChangeAllowed, deleteGuard } from './objectLock';
import { readCheckedBody } from './integrity';
import { creationOwnership, isAllowed } from './access';
import { setObjectOwnership } from '../../db/walrusAccess';

export function sendXml(ctx: Ctx, status: number, xml: string) {
  ctx.res.status(status).setHeader('Content-Type', 'application/xml');
  ctx.res.setHeader('Content-Length', Buffer.byteLength(xml));
  ctx.res.end(xml);
}

export async function listBuckets(ctx: Ctx) {
  if (!ctx.caller) throw new S3Error('AccessDenied');
  // pages (max-buckets, continuation-token), prefix and bucket-region, as S3 has them since 2024
  const mb = ctx.q.get('max-buckets');
  if (mb !== undefined && (!/^\d{1,5}$/.test(mb) || Number(mb) < 1 || Number(mb) > 10000)) {
    throw new S3Error('InvalidArgument', 'Argument max-buckets must be an integer between 1 and 10000.', { ArgumentName: 'max-buckets', ArgumentValue: mb });
  }
  const tok = ctx.q.get('continuation-token');
  let after: string | undefined;
  if (tok) {
    const m = /^b:([a-z0-9.-]+)$/.exec(Buffer.from(tok, 'base64url').toString('utf8'));
    if (!m) throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token', ArgumentValue: tok });
    after = m[1];
  }
  const prefix = ctx.q.get('prefix') ?? '';
  const region = ctx.q.get('bucket-region');
  const all = (await db.listBuckets(ctx.caller)).filter((b) => b.name.startsWith(prefix) && (!region || b.region === region) && (after === undefined || b.name > after));
  const max = mb === undefined ? Infinity : Number(mb);
  const bs = all.slice(0, max);
  const next = all.length > bs.length ? Buffer.from('b:' + bs[bs.length - 1].name).toString('base64url') : undefined;
  sendXml(ctx, 200, xmlDoc('ListAllMyBucketsResult', {
    Buckets: { Bucket: bs.map((b) => ({ Name: b.name, CreationDate: isoDate(b.createdAt), BucketRegion: b.region })) },
    Owner: ownerXml(ctx.caller),
    ContinuationToken: next, Prefix: ctx.q.has('prefix') ? prefix : undefined,
  }));
}

export function validBucketName(n: string): boolean {
  if (n.length < 3 || n.length > 63) return false;
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(n)) return false;
  if (n.includes('..') || n.includes('.-') || n.includes('-.')) return false;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(n)) return false;
  if (n.startsWith('xn--') || n.startsWith('sthree-') || n.endsWith('-s3alias') || n.endsWith('--ol-s3')) return false;
  return true;
}

export async function createBucket(ctx: Ctx) {
  if (!ctx.caller) throw new S3Error('AccessDenied');
  const name = ctx.bucket!;
  if (!validBucketName(name)) throw new S3Error('InvalidBucketName', undefined, { BucketName: name });
  const acl = cannedAcl(ctx) ?? 'private';
  const ownership = creationOwnership(ctx, acl);   // x-amz-object-ownership (api/s3/access.ts)
  checkCreateHeader(ctx);
  const body = await readSmallBody(ctx, 64 * 1024);
  let region = ctx.opts.region;
  if (body.length && body.toString('utf8').trim()) {
    const cfg = parseXml(body, 'CreateBucketConfiguration');
    const lc = typeof cfg === 'object' && typeof cfg.LocationConstraint === 'string' ? cfg.LocationConstraint.trim() : typeof cfg === 'object' ? cfg.LocationConstraint : undefined;
    if (lc !== undefined && lc !== '' && typeof lc === 'string') {
      if (lc !== ctx.opts.region) {
        throw new S3Error('InvalidLocationConstraint', `The specified location-constraint is not valid: ${lc}; this endpoint serves ${ctx.opts.region}`, { LocationConstraint: lc });
      }
      region = lc;
    } else if (lc !== undefined && typeof lc !== 'string') throw new S3Error('MalformedXML');
  }
  try { await db.createBucket(name, ctx.caller, region, acl); } catch (e) {
    if (e instanceof db.WalrusDbError) throw new S3Error(e.code, undefined, { BucketName: name });
    throw e;
  }
  if (ownership) await setObjectOwnership(name, ownership);
  // x-amz-bucket-object-lock-enabled: true (api/s3/objectLock.ts); a bucket that cannot get it goes again
  try { await initBucketLock(ctx, name); } catch (e) { await db.deleteBucket(name).catch(() => undefined); throw e; }
  ctx.res.setHeader('Location', `/${name}`);
  ctx.res.status(200).setHeader('Content-Length', 0); ctx.res.end();
}

export async function deleteBucket(ctx: Ctx) {
  await loadBucket(ctx, 'owner');
  let partFiles: string[];
  try { partFiles = await db.deleteBucket(ctx.bucket!); } catch (e) {
    if (e instanceof db.WalrusDbError) throw new S3Error(e.code, undefined, { BucketName: ctx.bucket });
    throw e;
  }
  // uploads in progress went with the bucket (as in S3); their parts' bytes go now
  for (const f of partFiles) await ctx.walrus.store.remove(f);
  ctx.res.status(204).end();
}

export async function headBucket(ctx: Ctx) {
  const b = await loadBucket(ctx, 'read');
  ctx.res.setHeader('x-amz-bucket-region', b.region);
  ctx.res.status(200).end();
}

export async function getLocation(ctx: Ctx) {
  const b = await loadBucket(ctx, 'owner');
  sendXml(ctx, 200, `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${b.region}</LocationConstraint>`);
}

export async function getVersioning(ctx: Ctx) {
  const b = await loadBucket(ctx, 'owner');
  sendXml(ctx, 200, xmlDoc('VersioningConfiguration', b.versioning === 'Off' ? {} : { Status: b.versioning }));
}

export async function putVersioning(ctx: Ctx) {
  await loadBucket(ctx, 'owner');
  const cfg = parseXml(await readSmallBody(ctx, 64 * 1024), 'VersioningConfiguration');
  const st = xmlValue(cfg?.Status);
  if (st !== 'Enabled' && st !== 'Suspended') throw new S3Error('MalformedXML');
  await assertVersioningChangeAllowed(ctx.bucket!, st);
  await db.updateBucket(ctx.bucket!, { versioning: st });
  ctx.res.status(200).setHeader('Content-Length', 0); ctx.res.end();
}

// ACLs, bucket policies, Object Ownership, Block Public Access: api/s3/permissions.ts

// ------------------------------------------------------------------ tagging

export async function parseTagging(ctx: Ctx, max: number, requireIntegrity = false): Promise<db.Tag[]> {
  // PutBucketTagging must carry Content-MD5 or a checksum, as in S3 (api/s3/integrity.ts)
  const t = parseXml(requireIntegrity ? await readCheckedBody(ctx) : await readSmallBody(ctx, 64 * 1024), 'Tagging');
  const list: any[] = t?.TagSet?.Tag ?? [];
  if (t?.TagSet === undefined) throw new S3Error('MalformedXML');
  const tags = list.map((x) => {
    if (typeof x !== 'object' || typeof x.Key !== 'string') throw new S3Error('MalformedXML');
    return { Key: x.Key, Value: typeof x.Value === 'string' ? x.Value : '' };
  });
  validateTags(tags, max);
  return tags;
}

export const tagsXml = (tags: db.Tag[] | null) => xmlDoc('Tagging', { TagSet: { Tag: (tags ?? []).map((t) => ({ Key: t.Key, Value: t.Value })) } });

export async function getBucketTagging(ctx: Ctx) {
  const b = await loadBucket(ctx, 'owner');
  if (!b.tags || !b.tags.length) throw new S3Error('NoSuchTagSet', undefined, { BucketName: b.name });
  sendXml(ctx, 200, tagsXml(b.tags));
}
export async function putBucketTagging(ctx: Ctx) {
  await loadBucket(ctx, 'owner');
  await db.updateBucket(ctx.bucket!, { tags: await parseTagging(ctx, 50, true) });
  ctx.res.status(204).end();
}
export async function deleteBucketTagging(ctx: Ctx) {
  await loadBucket(ctx, 'owner');
  await db.updateBucket(ctx.bucket!, { tags: null });
  ctx.res.status(204).end();
}

// ------------------------------------------------------------------ listings

const kb = (s: string) => Buffer.from(s, 'utf8');
const skipPrefix = (p: string) => Buffer.concat([kb(p), Buffer.from([0xff])]);

function maxKeysParam(ctx: Ctx, name = 'max-keys'): number {
  const v = ctx.q.get(name);
  if (v === undefined) return 1000;
  if (!/^\d+$/.test(v)) throw new S3Error('InvalidArgument', `Provided ${name} not an integer or within integer range`, { ArgumentName: name, ArgumentValue: v });
  return Math.min(Number(v), 1000);
}

export function encoder(ctx: Ctx): (s: string) => string {
  const et = ctx.q.get('encoding-type');
  if (et === undefined) return (s) => s;
  if (et !== 'url') throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type', ArgumentValue: et });
  return (s) => encodeURIComponent(s).replace(/%2F/g, '/').replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

interface Walk { contents: db.ObjectRow[]; prefixes: string[]; truncated: boolean; next?: string }

/** Walks latest objects after `marker`, rolling keys up into common prefixes. */
async function walkLatest(bucket: string, prefix: string, delimiter: string, marker: string, maxKeys: number): Promise<Walk> {
  const out: Walk = { contents: [], prefixes: [], truncated: false };
  let cursor: Buffer | null = marker ? kb(marker) : null;
  if (marker && delimiter && marker.startsWith(prefix)) {
    const i = marker.indexOf(delimiter, prefix.length);
    if (i >= 0) cursor = skipPrefix(marker.slice(0, i + delimiter.length));
  }
  if (maxKeys === 0) return out;   // S3: nothing listed, and not truncated (there is no next page to give)
  let count = 0;
  for (;;) {
    const rows = await db.listLatest(bucket, prefix, cursor, Math.min(1000, maxKeys - count + 1));
    if (!rows.length) return out;
    let jumped = false;
    for (const r of rows) {
      if (count >= maxKeys) { out.truncated = true; return out; }
      const i = delimiter ? r.key.indexOf(delimiter, prefix.length) : -1;
      if (i >= 0) {
        const cp = r.key.slice(0, i + delimiter.length);
        out.prefixes.push(cp); count++; out.next = cp;
        cursor = skipPrefix(cp); jumped = true; break;
      }
      out.contents.push(r); count++; out.next = r.key; cursor = kb(r.key);
    }
    if (!jumped && rows.length < Math.min(1000, maxKeys - count + 1) && count < maxKeys) return out;
    if (count >= maxKeys) { const more = await db.listLatest(bucket, prefix, cursor, 1); out.truncated = more.length > 0; return out; }
  }
}

function contentXml(r: db.ObjectRow, enc: (s: string) => string, owner: boolean): XmlNode {
  return {
    Key: enc(r.key), LastModified: isoDate(r.lastModified), ETag: `"${r.etag}"`,
    ChecksumAlgorithm: r.checksumAlgo ?? undefined, ChecksumType: r.checksumType ?? undefined,
    Size: r.size, Owner: owner ? ownerXml(r.ownerId) : undefined, StorageClass: 'STANDARD',
  };
}

export async function listObjects(ctx: Ctx, v2: boolean) {
  await loadBucket(ctx, 'read');
  const enc = encoder(ctx);
  const prefix = ctx.q.get('prefix') ?? '';
  const delimiter = ctx.q.get('delimiter') ?? '';
  const maxKeys = maxKeysParam(ctx);
  let marker = '';
  if (v2) {
    const tok = ctx.q.get('continuation-token');
    if (tok) {   // an empty token is the first page, as S3 takes it
      const m = /^1:(.*)$/s.exec(Buffer.from(tok, 'base64url').toString('utf8'));
      if (!m) throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
      marker = m[1];
    } else marker = ctx.q.get('start-after') ?? '';
  } else marker = ctx.q.get('marker') ?? '';
  const w = await walkLatest(ctx.bucket!, prefix, delimiter, marker, maxKeys);
  const fetchOwner = !v2 || ctx.q.get('fetch-owner') === 'true';
  const common = { CommonPrefixes: w.prefixes.map((p) => ({ Prefix: enc(p) })) };
  const contents = w.contents.map((r) => contentXml(r, enc, fetchOwner));
  const encType = ctx.q.get('encoding-type');
  if (v2) {
    sendXml(ctx, 200, xmlDoc('ListBucketResult', {
      Name: ctx.bucket, Prefix: enc(prefix), Delimiter: delimiter ? enc(delimiter) : undefined, MaxKeys: maxKeys, EncodingType: encType,
      KeyCount: w.contents.length + w.prefixes.length, IsTruncated: w.truncated,
      ContinuationToken: ctx.q.get('continuation-token'), StartAfter: ctx.q.has('start-after') ? enc(ctx.q.get('start-after')!) : undefined,
      NextContinuationToken: w.truncated && w.next !== undefined ? Buffer.from('1:' + w.next).toString('base64url') : undefined,
      Contents: contents, ...common,
    }));
  } else {
    sendXml(ctx, 200, xmlDoc('ListBucketResult', {
      Name: ctx.bucket, Prefix: enc(prefix), Marker: enc(marker), NextMarker: w.truncated && delimiter && w.next !== undefined ? enc(w.next) : undefined,
      MaxKeys: maxKeys, Delimiter: delimiter ? enc(delimiter) : undefined, EncodingType: encType, IsTruncated: w.truncated,
      Contents: contents, ...common,
    }));
  }
}

export async function listObjectVersions(ctx: Ctx) {
  await loadBucket(ctx, 'owner');
  const enc = encoder(ctx);
  const prefix = ctx.q.get('prefix') ?? '';
  const delimiter = ctx.q.get('delimiter') ?? '';
  const maxKeys = maxKeysParam(ctx);
  const keyMarker = ctx.q.get('key-marker') ?? '';
  const vidMarker = ctx.q.get('version-id-marker') || null;
  let afterKey: Buffer | null = keyMarker ? kb(keyMarker) : null;
  let afterVid: string | null = keyMarker ? vidMarker : null;
  const entries: db.ObjectRow[] = []; const prefixes: string[] = [];
  let truncated = false; let nextKey: string | undefined; let nextVid: string | undefined;
  let count = 0;
  outer: for (;;) {
    const rows = await db.listVersions(ctx.bucket!, prefix, afterKey, afterVid, 1000);
    if (!rows.length) break;
    for (const r of rows) {
      if (count >= maxKeys) { truncated = true; break outer; }
      const i = delimiter ? r.key.indexOf(delimiter, prefix.length) : -1;
      if (i >= 0) {
        const cp = r.key.slice(0, i + delimiter.length);
        prefixes.push(cp); count++; nextKey = cp; nextVid = undefined;
        afterKey = skipPrefix(cp); afterVid = null; continue outer;
      }
      entries.push(r); count++; nextKey = r.key; nextVid = r.versionId;
      afterKey = kb(r.key); afterVid = r.versionId;
    }
    if (rows.length < 1000) break;
  }
  const versions: XmlNode[] = []; const markers: XmlNode[] = [];
  for (const r of entries) {
    const common = { Key: enc(r.key), VersionId: r.versionId, IsLatest: r.isLatest, LastModified: isoDate(r.lastModified) };
    if (r.deleteMarker) markers.push({ Owner: ownerXml(r.ownerId), ...common });
    else versions.push({ ...common, ETag: `"${r.etag}"`, Size: r.size, StorageClass: 'STANDARD', Owner: ownerXml(r.ownerId), ChecksumAlgorithm: r.checksumAlgo ?? undefined });
  }
  sendXml(ctx, 200, xmlDoc('ListVersionsResult', {
    Name: ctx.bucket, Prefix: enc(prefix), KeyMarker: enc(keyMarker), VersionIdMarker: vidMarker ?? '',
    NextKeyMarker: truncated && nextKey !== undefined ? enc(nextKey) : undefined, NextVersionIdMarker: truncated ? nextVid : undefined,
    MaxKeys: maxKeys, Delimiter: delimiter ? enc(delimiter) : undefined, EncodingType: ctx.q.get('encoding-type'), IsTruncated: truncated,
    Version: versions, DeleteMarker: markers, CommonPrefixes: prefixes.map((p) => ({ Prefix: enc(p) })),
  }));
}

export async function deleteObjects(ctx: Ctx) {
  const b = await loadBucket(ctx, 'owner');   // the bucket must exist; each key is authorized below
  const d = parseXml(await readSmallBody(ctx), 'Delete');
  const objs: any[] = d?.Object ?? [];
  if (!objs.length || objs.length > 1000) throw new S3Error('MalformedXML');
  const quiet = (xmlValue(d.Quiet) ?? '').toLowerCase() === 'true';
  const deleted: XmlNode[] = []; const errors: XmlNode[] = [];
  for (const o of objs) {
    // the key exactly as written (spaces, line ends and all: api/s3/xml.ts keeps them)
    const key = typeof o?.Key === 'string' ? o.Key : undefined;
    if (!key) throw new S3Error('MalformedXML');
    const vid = typeof o.VersionId === 'string' && o.VersionId ? o.VersionId : undefined;
    const refused = keyError(key) ?? (vid !== undefined ? versionIdError(vid) : undefined);
    if (refused) { errors.push({ Key: key, VersionId: vid, Code: refused.code, Message: refused.message }); continue; }
    // S3 authorizes every key as its own DeleteObject / DeleteObjectVersion (api/s3/access.ts)
    if (!isAllowed(ctx, b, vid !== undefined ? 'DeleteObjectVersion' : 'DeleteObject', key)) {
      errors.push({ Key: key, VersionId: vid, Code: 'AccessDenied', Message: 'Access Denied' }); continue;
    }
    try {
      const r = await ctx.walrus.deleteObject(ctx.bucket!, key, vid, ctx.caller ?? b.accountId, deleteGuard(ctx));   // Object Lock
      if (!quiet) deleted.push({
        Key: key, VersionId: vid,
        DeleteMarker: r.deleteMarker ? true : undefined,
        DeleteMarkerVersionId: r.deleteMarker ? r.versionId : undefined,
      });
    } catch (e: any) {
      const code = e instanceof S3Error || e instanceof db.WalrusDbError ? e.code : 'InternalError';
      if (code === 'InternalError') ctx.opts.log.warn({ err: e, key }, 'DeleteObjects entry failed');
      errors.push({ Key: key, VersionId: vid, Code: code, Message: e instanceof S3Error ? e.message : code === 'InternalError' ? 'We encountered an internal error. Please try again.' : code });
    }
  }
  sendXml(ctx, 200, xmlDoc('DeleteResult', { Deleted: deleted, Error: errors }));
}

export { hdr };
