// Multipart uploads: create, upload part (and part copy), complete, abort, list parts and uploads.
import { createHash } from 'node:crypto';
import * as db from '../../db/walrus';
import { S3Error } from './errors';
import { xmlDoc, parseXml, isoDate, type XmlNode } from './xml';
import { checksumHeader, newHasher, parseAlgo, type ChecksumAlgo } from '../../walrus/checksums';
import {
  type Ctx, hdr, loadBucket, cannedAcl, objectHeaders, parseTaggingHeader, payloadSource, checksumRequest, verifyWritten,
  declaredSize, readSmallBody, ownerXml,
} from './context';
import { sendXml } from './buckets';
import { checkKey, loadCopySource, parseRange } from './objects';

const MAX_PART = 5 * 1024 ** 3;

export async function createUpload(ctx: Ctx) {
  const key = ctx.key!; checkKey(key);
  const b = await loadBucket(ctx, 'write');
  await readSmallBody(ctx, 0);
  const algoHdr = hdr(ctx, 'x-amz-checksum-algorithm');
  const algo = algoHdr ? parseAlgo(algoHdr) : undefined;
  if (algoHdr && !algo) throw new S3Error('InvalidRequest', `Checksum algorithm ${algoHdr} is not supported`);
  let ctype = (hdr(ctx, 'x-amz-checksum-type') ?? '').toUpperCase() || undefined;
  if (ctype && ctype !== 'COMPOSITE' && ctype !== 'FULL_OBJECT') throw new S3Error('InvalidRequest', 'Invalid x-amz-checksum-type');
  if (algo) ctype ??= algo === 'CRC64NVME' ? 'FULL_OBJECT' : 'COMPOSITE';
  if (algo === 'CRC64NVME' && ctype === 'COMPOSITE') throw new S3Error('InvalidRequest', 'The COMPOSITE checksum type cannot be used with the CRC64NVME checksum algorithm.');
  if ((algo === 'SHA1' || algo === 'SHA256') && ctype === 'FULL_OBJECT') throw new S3Error('InvalidRequest', `The FULL_OBJECT checksum type cannot be used with the ${algo} checksum algorithm.`);
  const uploadId = await db.createUpload({
    bucket: b.name, key, ownerId: b.accountId, headers: objectHeaders(ctx), checksumAlgo: algo ?? null, checksumType: ctype ?? null,
    acl: cannedAcl(ctx) ?? 'private', tags: parseTaggingHeader(hdr(ctx, 'x-amz-tagging')),
  });
  if (algo) { ctx.res.setHeader('x-amz-checksum-algorithm', algo); ctx.res.setHeader('x-amz-checksum-type', ctype!); }
  sendXml(ctx, 200, xmlDoc('InitiateMultipartUploadResult', { Bucket: b.name, Key: key, UploadId: uploadId }));
}

async function loadUpload(ctx: Ctx): Promise<db.UploadRow> {
  const u = await db.getUpload(ctx.q.get('uploadId') ?? '');
  if (!u || u.bucket !== ctx.bucket || u.key !== ctx.key) throw new S3Error('NoSuchUpload', undefined, { UploadId: ctx.q.get('uploadId') });
  return u;
}

function partNumber(ctx: Ctx): number {
  const pn = ctx.q.get('partNumber') ?? '';
  if (!/^\d{1,5}$/.test(pn) || Number(pn) < 1 || Number(pn) > 10000) {
    throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', { ArgumentName: 'partNumber', ArgumentValue: pn });
  }
  return Number(pn);
}

export async function uploadPart(ctx: Ctx) {
  await loadBucket(ctx, 'write');
  const pn = partNumber(ctx);
  const u = await loadUpload(ctx);
  const size = declaredSize(ctx);
  if (size !== undefined && size > MAX_PART) throw new S3Error('EntityTooLarge', undefined, { ProposedSize: size, MaxSizeAllowed: MAX_PART });
  if (hdr(ctx, 'content-length') === undefined && hdr(ctx, 'transfer-encoding') === undefined) throw new S3Error('MissingContentLength');
  const ck = checksumRequest(ctx, u.checksumAlgo);
  if (u.checksumAlgo && ck && ck.algo !== u.checksumAlgo) throw new S3Error('InvalidRequest', `Checksum Type mismatch occurred, expected checksum Type: ${u.checksumAlgo.toLowerCase()}, actual checksum Type: ${ck.algo.toLowerCase()}`);
  const temp = await ctx.walrus.store.writeTemp(payloadSource(ctx), { algos: ck ? [ck.algo] : [], sha256: !!ctx.auth.contentSha256, maxSize: MAX_PART });
  let file: string | undefined;
  try {
    verifyWritten(ctx, temp, ck);
    file = await ctx.walrus.store.publish(temp);
    const etag = temp.md5.toString('hex');
    const checksum = ck ? temp.checksums[ck.algo]!.toString('base64') : null;
    const old = await db.putPart({ uploadId: u.uploadId, partNumber: pn, size: temp.size, etag, file, checksum });
    await ctx.walrus.store.remove(old);
    ctx.res.setHeader('ETag', `"${etag}"`);
    if (ck && checksum) ctx.res.setHeader(checksumHeader(ck.algo), checksum);
    ctx.res.status(200).setHeader('Content-Length', 0); ctx.res.end();
  } catch (e) {
    if (file) await ctx.walrus.store.remove(file); else await ctx.walrus.store.discard(temp);
    if (e instanceof db.WalrusDbError) throw new S3Error(e.code);
    throw e;
  }
}

export async function uploadPartCopy(ctx: Ctx) {
  await loadBucket(ctx, 'write');
  const pn = partNumber(ctx);
  const u = await loadUpload(ctx);
  await readSmallBody(ctx, 0);
  const src = await loadCopySource(ctx);
  let start = 0, end = src.size - 1;
  const rh = hdr(ctx, 'x-amz-copy-source-range');
  if (rh !== undefined) {
    const r = /^bytes=(\d+)-(\d+)$/.exec(rh.trim()) ? parseRange(rh, src.size) : undefined;
    if (!r || r === 'bad' || Number(/-(\d+)$/.exec(rh)![1]) >= src.size) {
      throw new S3Error('InvalidArgument', `Range specified is not valid for source object of size: ${src.size}`, { ArgumentName: 'x-amz-copy-source-range', ArgumentValue: rh });
    }
    start = r.start; end = r.end;
  }
  if (end - start + 1 > MAX_PART) throw new S3Error('EntityTooLarge');
  const algos: ChecksumAlgo[] = u.checksumAlgo ? [u.checksumAlgo as ChecksumAlgo] : [];
  const temp = await ctx.walrus.store.concat(src.size ? [{ file: src.file!, start, end }] : [], { algos });
  let file: string | undefined;
  try {
    file = await ctx.walrus.store.publish(temp);
    const etag = temp.md5.toString('hex');
    const checksum = algos[0] ? temp.checksums[algos[0]]!.toString('base64') : null;
    const old = await db.putPart({ uploadId: u.uploadId, partNumber: pn, size: temp.size, etag, file, checksum });
    await ctx.walrus.store.remove(old);
    sendXml(ctx, 200, xmlDoc('CopyPartResult', { ETag: `"${etag}"`, LastModified: isoDate(new Date()), ...(checksum ? { [`Checksum${algos[0]}`]: checksum } : {}) }));
  } catch (e) {
    if (file) await ctx.walrus.store.remove(file); else await ctx.walrus.store.discard(temp);
    if (e instanceof db.WalrusDbError) throw new S3Error(e.code);
    throw e;
  }
}

const unq = (s: string) => s.trim().replace(/^"+|"+$/g, '');

export async function completeUpload(ctx: Ctx) {
  const b = await loadBucket(ctx, 'write');
  const u = await loadUpload(ctx);
  const doc = parseXml(await readSmallBody(ctx), 'CompleteMultipartUpload');
  const list: any[] = doc?.Part ?? [];
  if (!list.length) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
  const stored = new Map((await db.listParts(u.uploadId)).map((p) => [p.partNumber, p]));
  const algo = u.checksumAlgo as ChecksumAlgo | null;
  const chosen: db.PartRow[] = [];
  let last = 0;
  for (const p of list) {
    const pn = Number(p?.PartNumber);
    if (!Number.isInteger(pn) || typeof p?.ETag !== 'string') throw new S3Error('MalformedXML');
    if (pn <= last) throw new S3Error('InvalidPartOrder', undefined, { UploadId: u.uploadId });
    last = pn;
    const sp = stored.get(pn);
    if (!sp || sp.etag !== unq(p.ETag)) throw new S3Error('InvalidPart', undefined, { UploadId: u.uploadId, PartNumber: pn, ETag: p.ETag });
    if (algo) {
      const given = p[`Checksum${algo}`];
      if (given !== undefined && given !== sp.checksum) throw new S3Error('InvalidPart', `The ${algo} checksum of part ${pn} does not match`, { PartNumber: pn });
    }
    chosen.push(sp);
  }
  for (let i = 0; i < chosen.length - 1; i++) {
    if (chosen[i].size < ctx.opts.minPartSize) {
      throw new S3Error('EntityTooSmall', undefined, { ProposedSize: chosen[i].size, MinSizeAllowed: ctx.opts.minPartSize, PartNumber: chosen[i].partNumber, ETag: chosen[i].etag });
    }
  }
  const md5s = createHash('md5');
  for (const p of chosen) md5s.update(Buffer.from(p.etag, 'hex'));
  const etag = `${md5s.digest('hex')}-${chosen.length}`;
  const fullObject = algo && u.checksumType === 'FULL_OBJECT';
  let checksum: string | null = null;
  if (algo && !fullObject) {
    const h = newHasher(algo);
    for (const p of chosen) h.update(Buffer.from(p.checksum ?? '', 'base64'));
    checksum = `${h.digest().toString('base64')}-${chosen.length}`;
  }
  const temp = await ctx.walrus.store.concat(chosen.map((p) => ({ file: p.file })), { algos: fullObject ? [algo!] : [] });
  if (fullObject) checksum = temp.checksums[algo!]!.toString('base64');
  if (fullObject && hdr(ctx, checksumHeader(algo!)) !== undefined && hdr(ctx, checksumHeader(algo!)) !== checksum) {
    await ctx.walrus.store.discard(temp);
    throw new S3Error('BadDigest', `The ${algo} you specified did not match the calculated checksum.`);
  }
  let file: string | undefined;
  let r;
  try {
    file = await ctx.walrus.store.publish(temp);
    r = await db.putObjectVersion({
      bucket: b.name, key: u.key, size: temp.size, etag, file, ownerId: u.ownerId, headers: u.headers, acl: u.acl, tags: u.tags,
      checksumAlgo: algo, checksum, checksumType: algo ? u.checksumType : null, partsCount: chosen.length,
    }, b.versioning, u.uploadId);
  } catch (e) {
    if (file) await ctx.walrus.store.remove(file); else await ctx.walrus.store.discard(temp);
    if (e instanceof db.WalrusDbError) throw new S3Error(e.code, undefined, { UploadId: u.uploadId });
    throw e;
  }
  await ctx.walrus.store.remove(r.replacedFile);
  for (const f of r.partFiles) await ctx.walrus.store.remove(f);
  if (r.versionId !== 'null') ctx.res.setHeader('x-amz-version-id', r.versionId);
  const host = hdr(ctx, 'host') ?? 'localhost';
  const ck: Record<string, XmlNode> = algo && checksum ? { [`Checksum${algo}`]: checksum, ChecksumType: u.checksumType } : {};
  sendXml(ctx, 200, xmlDoc('CompleteMultipartUploadResult', {
    Location: `http://${host}/${b.name}/${encodeURIComponent(u.key).replace(/%2F/g, '/')}`, Bucket: b.name, Key: u.key, ETag: `"${etag}"`, ...ck,
  }));
}

export async function abortUpload(ctx: Ctx) {
  await loadBucket(ctx, 'write');
  const u = await loadUpload(ctx);
  const files = await db.deleteUpload(u.uploadId);
  if (!files) throw new S3Error('NoSuchUpload', undefined, { UploadId: u.uploadId });
  for (const f of files) await ctx.walrus.store.remove(f);
  ctx.res.status(204).end();
}

export async function listParts(ctx: Ctx) {
  await loadBucket(ctx, 'write');
  const u = await loadUpload(ctx);
  const mp = ctx.q.get('max-parts') ?? '1000';
  const marker = ctx.q.get('part-number-marker') ?? '0';
  if (!/^\d+$/.test(mp)) throw new S3Error('InvalidArgument', 'Provided max-parts not an integer or within integer range', { ArgumentName: 'max-parts', ArgumentValue: mp });
  if (!/^\d+$/.test(marker)) throw new S3Error('InvalidArgument', 'Provided part-number-marker not an integer or within integer range', { ArgumentName: 'part-number-marker', ArgumentValue: marker });
  const max = Math.min(Number(mp), 1000);
  const parts = await db.listParts(u.uploadId, Number(marker), max + 1);
  const truncated = parts.length > max;
  const shown = parts.slice(0, max);
  sendXml(ctx, 200, xmlDoc('ListPartsResult', {
    Bucket: u.bucket, Key: u.key, UploadId: u.uploadId, PartNumberMarker: Number(marker),
    NextPartNumberMarker: shown.length ? shown[shown.length - 1].partNumber : undefined, MaxParts: max, IsTruncated: truncated,
    Part: shown.map((p) => ({ PartNumber: p.partNumber, LastModified: isoDate(p.lastModified), ETag: `"${p.etag}"`, Size: p.size,
      ...(u.checksumAlgo && p.checksum ? { [`Checksum${u.checksumAlgo}`]: p.checksum } : {}) })),
    Initiator: ownerXml(u.ownerId), Owner: ownerXml(u.ownerId), StorageClass: 'STANDARD',
    ChecksumAlgorithm: u.checksumAlgo ?? undefined, ChecksumType: u.checksumType ?? undefined,
  }));
}

export async function listUploads(ctx: Ctx) {
  await loadBucket(ctx, 'write');
  const prefix = ctx.q.get('prefix') ?? '';
  const keyMarker = ctx.q.get('key-marker') ?? '';
  const idMarker = ctx.q.get('upload-id-marker') ?? '';
  const mu = ctx.q.get('max-uploads') ?? '1000';
  if (!/^\d+$/.test(mu)) throw new S3Error('InvalidArgument', 'Provided max-uploads not an integer or within integer range', { ArgumentName: 'max-uploads', ArgumentValue: mu });
  const max = Math.min(Number(mu), 1000);
  const rows = await db.listUploads(ctx.bucket!, prefix, keyMarker ? Buffer.from(keyMarker) : null, keyMarker && idMarker ? idMarker : null, max + 1);
  const truncated = rows.length > max;
  const shown = rows.slice(0, max);
  const lastU = shown[shown.length - 1];
  sendXml(ctx, 200, xmlDoc('ListMultipartUploadsResult', {
    Bucket: ctx.bucket, KeyMarker: keyMarker, UploadIdMarker: idMarker, NextKeyMarker: truncated ? lastU?.key : undefined,
    NextUploadIdMarker: truncated ? lastU?.uploadId : undefined, Prefix: prefix, MaxUploads: max, IsTruncated: truncated,
    Upload: shown.map((x) => ({ Key: x.key, UploadId: x.uploadId, Initiator: ownerXml(x.ownerId), Owner: ownerXml(x.ownerId), StorageClass: 'STANDARD',
      Initiated: isoDate(x.initiated), ChecksumAlgorithm: x.checksumAlgo ?? undefined, ChecksumType: x.checksumType ?? undefined })),
  }));
}
