// Multipart uploads: create, upload part (and part copy), complete, abort, list parts and uploads.
import { createHash } from 'node:crypto';
import * as db from '../../db/walrus';
import { S3Error } from './errors';
import { xmlDoc, parseXml, xmlValue, isoDate, type XmlNode } from './xml';
import { checksumHeader, newHasher, parseAlgo, type ChecksumAlgo } from '../../walrus/checksums';
import {
  type Ctx, hdr, loadBucket, cannedAcl, objectHeaders, parseTaggingHeader, payloadSource, checksumRequest, verifyWritten,
  declaredSize, readSmallBody, ownerXml,
} from './context';
import { sendXml, encoder } from './buckets';
import { checkKey, loadCopySource } from './objects';
import { objectOwnerFor } from './access';
import { lockForWrite, lockForCompletion } from './objectLock';
import { writeCondition, checkWriteCondition } from './conditional';
import { setInitiator, recordCompleted, getCompleted, type CompletedUpload } from '../../db/walrusMultipart';
import { getIamUser } from '../../db/iamUsers';
import { userArn } from '../iam/principal';

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
    bucket: b.name, key, ownerId: objectOwnerFor(ctx, b, cannedAcl(ctx)), headers: objectHeaders(ctx), checksumAlgo: algo ?? null, checksumType: ctype ?? null,
    acl: cannedAcl(ctx) ?? 'private', tags: parseTaggingHeader(hdr(ctx, 'x-amz-tagging')),
    lock: await lockForWrite(ctx, b.name, { deferDefault: true }),   // x-amz-object-lock-*; a default retention applies at completion
  });
  // the upload's Initiator and Owner (ListParts, ListMultipartUploads): whoever started it
  const userName = ctx.auth.cred?.userName;
  const user = userName ? await getIamUser(ctx.caller!, userName) : undefined;
  await setInitiator(uploadId, ctx.caller!, user ? userArn(user) : null);
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
    // bytes=first-last, both given; a range the source does not hold is InvalidRange (as S3 answers)
    const m = /^bytes=(\d+)-(\d+)$/.exec(rh.trim());
    if (!m) throw new S3Error('InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy', { ArgumentName: 'x-amz-copy-source-range', ArgumentValue: rh });
    start = Number(m[1]); end = Number(m[2]);
    if (start > end || end >= src.size) throw new S3Error('InvalidRange', `Range specified is not valid for source object of size: ${src.size}`, { RangeRequested: rh, ActualObjectSize: src.size });
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

/** The parts a CompleteMultipartUpload body names, in its order (PartNumber, ETag, per-part checksums). */
function namedParts(doc: any): Array<{ pn: number; etag: string; raw: any }> {
  const list: any[] = doc?.Part ?? [];
  if (!list.length) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
  return list.map((p) => {
    const pn = Number(xmlValue(p?.PartNumber));
    if (!Number.isInteger(pn) || typeof p?.ETag !== 'string') throw new S3Error('MalformedXML');
    return { pn, etag: unq(p.ETag), raw: p };
  });
}

/** A multipart object's ETag: the MD5 of its parts' MD5s, and how many there were. */
function multipartEtag(partEtags: string[]): string {
  const md5s = createHash('md5');
  for (const e of partEtags) md5s.update(Buffer.from(e, 'hex'));
  return `${md5s.digest('hex')}-${partEtags.length}`;
}

function sendCompleted(ctx: Ctx, bucket: string, key: string, r: Pick<CompletedUpload, 'versionId' | 'etag' | 'checksumAlgo' | 'checksum' | 'checksumType'>) {
  if (r.versionId !== 'null') ctx.res.setHeader('x-amz-version-id', r.versionId);
  const host = hdr(ctx, 'host') ?? 'localhost';
  const ck: Record<string, XmlNode> = r.checksumAlgo && r.checksum ? { [`Checksum${r.checksumAlgo}`]: r.checksum, ChecksumType: r.checksumType } : {};
  sendXml(ctx, 200, xmlDoc('CompleteMultipartUploadResult', {
    Location: `http://${host}/${bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`, Bucket: bucket, Key: key, ETag: `"${r.etag}"`, ...ck,
  }));
}

export async function completeUpload(ctx: Ctx) {
  const b = await loadBucket(ctx, 'write');
  const uploadId = ctx.q.get('uploadId') ?? '';
  const u = await db.getUpload(uploadId);
  if (!u || u.bucket !== ctx.bucket || u.key !== ctx.key) {
    // Completed already (a client whose answer was lost asks again): the same 200 and result,
    // as S3 gives, when the body names the same parts.
    const done = await getCompleted(uploadId);
    if (done && done.bucket === ctx.bucket && done.key === ctx.key) {
      const parts = namedParts(parseXml(await readSmallBody(ctx), 'CompleteMultipartUpload'));
      if (multipartEtag(parts.map((p) => p.etag)) === done.etag) return sendCompleted(ctx, b.name, done.key, done);
    }
    throw new S3Error('NoSuchUpload', undefined, { UploadId: uploadId });
  }
  const cond = writeCondition(ctx);
  await checkWriteCondition(b.name, u.key, cond);
  const list = namedParts(parseXml(await readSmallBody(ctx), 'CompleteMultipartUpload'));
  const stored = new Map((await db.listParts(u.uploadId)).map((p) => [p.partNumber, p]));
  const algo = u.checksumAlgo as ChecksumAlgo | null;
  const chosen: db.PartRow[] = [];
  let last = 0;
  for (const { pn, etag: given, raw: p } of list) {
    if (pn <= last) throw new S3Error('InvalidPartOrder', undefined, { UploadId: u.uploadId });
    last = pn;
    const sp = stored.get(pn);
    if (!sp || sp.etag !== given) throw new S3Error('InvalidPart', undefined, { UploadId: u.uploadId, PartNumber: pn, ETag: p.ETag });
    if (algo) {
      const ck = xmlValue(p[`Checksum${algo}`]);
      if (ck !== undefined && ck !== sp.checksum) throw new S3Error('InvalidPart', `The ${algo} checksum of part ${pn} does not match`, { PartNumber: pn });
    }
    chosen.push(sp);
  }
  for (let i = 0; i < chosen.length - 1; i++) {
    if (chosen[i].size < ctx.opts.minPartSize) {
      throw new S3Error('EntityTooSmall', undefined, { ProposedSize: chosen[i].size, MinSizeAllowed: ctx.opts.minPartSize, PartNumber: chosen[i].partNumber, ETag: chosen[i].etag });
    }
  }
  const etag = multipartEtag(chosen.map((p) => p.etag));
  const fullObject = algo && u.checksumType === 'FULL_OBJECT';
  let checksum: string | null = null;
  if (algo && !fullObject) {
    const h = newHasher(algo);
    for (const p of chosen) h.update(Buffer.from(p.checksum ?? '', 'base64'));
    checksum = `${h.digest().toString('base64')}-${chosen.length}`;
    // the composite checksum the client computed must be the one of these parts
    const want = hdr(ctx, checksumHeader(algo))?.trim();
    if (want !== undefined && want !== checksum && want !== checksum.replace(/-\d+$/, '')) {
      throw new S3Error('BadDigest', `The ${algo} you specified did not match the calculated checksum.`);
    }
  }
  let temp;
  try {
    temp = await ctx.walrus.store.concat(chosen.map((p) => ({ file: p.file })), { algos: fullObject ? [algo!] : [] });
  } catch (e: any) {
    // a part uploaded again meanwhile replaced (and removed) the file being read
    if (e?.code === 'ENOENT') throw new S3Error('InvalidPart', undefined, { UploadId: u.uploadId });
    throw e;
  }
  if (fullObject) checksum = temp.checksums[algo!]!.toString('base64');
  if (fullObject && hdr(ctx, checksumHeader(algo!)) !== undefined && hdr(ctx, checksumHeader(algo!))!.trim() !== checksum) {
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
      partSizes: chosen.map((p) => [p.size, p.checksum]), lock: await lockForCompletion(b.name, u.lock),
    }, b.versioning, u.uploadId, {
      condition: cond,
      expectParts: chosen.map((p) => ({ partNumber: p.partNumber, file: p.file })),
      inTx: (c, row) => recordCompleted(c, { uploadId: u.uploadId, bucket: b.name, key: u.key, versionId: row.versionId, etag, checksumAlgo: algo, checksum, checksumType: algo ? u.checksumType : null }),
    });
  } catch (e) {
    if (file) await ctx.walrus.store.remove(file); else await ctx.walrus.store.discard(temp);
    if (e instanceof db.WalrusDbError) throw new S3Error(e.code, undefined, { UploadId: u.uploadId });
    throw e;
  }
  await ctx.walrus.store.remove(r.replacedFile);
  for (const f of r.partFiles) await ctx.walrus.store.remove(f);
  sendCompleted(ctx, b.name, u.key, { versionId: r.versionId, etag, checksumAlgo: algo, checksum, checksumType: algo ? u.checksumType : null });
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
    Initiator: initiatorXml(u), Owner: uploadOwnerXml(u), StorageClass: 'STANDARD',
    ChecksumAlgorithm: u.checksumAlgo ?? undefined, ChecksumType: u.checksumType ?? undefined,
  }));
}

export async function listUploads(ctx: Ctx) {
  await loadBucket(ctx, 'write');
  const enc = encoder(ctx);
  const prefix = ctx.q.get('prefix') ?? '';
  const delimiter = ctx.q.get('delimiter') ?? '';
  const keyMarker = ctx.q.get('key-marker') ?? '';
  const idMarker = ctx.q.get('upload-id-marker') ?? '';
  const mu = ctx.q.get('max-uploads') ?? '1000';
  if (!/^\d+$/.test(mu)) throw new S3Error('InvalidArgument', 'Provided max-uploads not an integer or within integer range', { ArgumentName: 'max-uploads', ArgumentValue: mu });
  const max = Math.min(Number(mu), 1000);
  // uploads in key order (then upload id); with a delimiter, the keys under one common prefix
  // count once, as that prefix, and the walk jumps past them
  const skip = (p: string) => Buffer.concat([Buffer.from(p, 'utf8'), Buffer.from([0xff])]);
  let afterKey: Buffer | null = keyMarker ? Buffer.from(keyMarker, 'utf8') : null;
  let afterId: string | null = keyMarker && idMarker ? idMarker : null;
  if (keyMarker && delimiter && keyMarker.startsWith(prefix)) {
    const d = keyMarker.indexOf(delimiter, prefix.length);
    if (d >= 0) { afterKey = skip(keyMarker.slice(0, d + delimiter.length)); afterId = null; }
  }
  const uploads: db.UploadRow[] = []; const prefixes: string[] = [];
  let truncated = false; let nextKey: string | undefined; let nextId: string | undefined;
  outer: while (max > 0) {
    const rows = await db.listUploads(ctx.bucket!, prefix, afterKey, afterId, 1000);
    if (!rows.length) break;
    for (const x of rows) {
      if (uploads.length + prefixes.length >= max) { truncated = true; break outer; }
      const d = delimiter ? x.key.indexOf(delimiter, prefix.length) : -1;
      if (d >= 0) {
        const cp = x.key.slice(0, d + delimiter.length);
        prefixes.push(cp); nextKey = cp; nextId = undefined;
        afterKey = skip(cp); afterId = null;
        continue outer;
      }
      uploads.push(x); nextKey = x.key; nextId = x.uploadId;
      afterKey = Buffer.from(x.key, 'utf8'); afterId = x.uploadId;
    }
    if (rows.length < 1000) break;
  }
  sendXml(ctx, 200, xmlDoc('ListMultipartUploadsResult', {
    Bucket: ctx.bucket, KeyMarker: enc(keyMarker), UploadIdMarker: idMarker,
    NextKeyMarker: truncated && nextKey !== undefined ? enc(nextKey) : undefined, NextUploadIdMarker: truncated ? nextId : undefined,
    Delimiter: delimiter ? enc(delimiter) : undefined, Prefix: enc(prefix), MaxUploads: max, EncodingType: ctx.q.get('encoding-type'), IsTruncated: truncated,
    Upload: uploads.map((x) => ({ Key: enc(x.key), UploadId: x.uploadId, Initiator: initiatorXml(x), Owner: uploadOwnerXml(x), StorageClass: 'STANDARD',
      Initiated: isoDate(x.initiated), ChecksumAlgorithm: x.checksumAlgo ?? undefined, ChecksumType: x.checksumType ?? undefined })),
    CommonPrefixes: prefixes.map((p) => ({ Prefix: enc(p) })),
  }));
}

/** Who started an upload: an IAM user by ARN and name, an account (root) by its id. */
function initiatorXml(u: db.UploadRow): XmlNode {
  if (u.initiator?.arn) return { ID: u.initiator.arn, DisplayName: u.initiator.arn.replace(/^.*\//, '') };
  return ownerXml(u.initiator?.account ?? u.ownerId);
}
/** The account that started it. */
const uploadOwnerXml = (u: db.UploadRow): XmlNode => ownerXml(u.initiator?.account ?? u.ownerId);
