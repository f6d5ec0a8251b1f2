// Per-request context shared by the S3 handlers.
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { S3Error } from './errors';
import type { AuthResult } from './auth';
import { decodeAwsChunked, type ChunkedState } from './chunked';
import { allowBody } from './continue';
import { aclFromHeaders, grantsAllow, grantsOf } from './acl';
import { authorizeBucketRequest } from './access';
import type { Walrus } from '../../walrus/engine';
import * as db from '../../db/walrus';
import { parseAlgo, checksumHeader, CHECKSUM_ALGOS, type ChecksumAlgo } from '../../walrus/checksums';
import type { WrittenTemp } from '../../walrus/store';
import { createHash } from 'node:crypto';

export const MAX_OBJECT = 5 * 1024 ** 3;
export const MAX_XML_BODY = 4 * 1024 * 1024;

export interface S3Options {
  log: Logger;
  dataDir: string;
  lookupCredential: (accessKeyId: string) => Promise<{ accessKeyId: string; secretAccessKey: string; accountId: string } | undefined>;
  region?: string;
  /** virtual-host suffixes: Host <bucket>.<domain> */
  domains?: string[];
  /** minimum size of every part but the last (default 5 MiB) */
  minPartSize?: number;
  /** largest single PUT (default 5 GiB) */
  maxObjectSize?: number;
}

export interface Ctx {
  req: Request; res: Response; requestId: string; method: string;
  bucket?: string; key?: string; q: Map<string, string>;
  auth: AuthResult; caller: string | null;
  opts: Required<Pick<S3Options, 'region' | 'minPartSize' | 'maxObjectSize'>> & S3Options;
  walrus: Walrus;
  resource: string;
  vhost: boolean;
  chunked?: ChunkedState;
}

export function hdr(ctx: Ctx, name: string): string | undefined {
  const v = ctx.req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}
export const qhas = (ctx: Ctx, k: string) => ctx.q.has(k);

/** Reads a small request body (XML documents), verifying the signed payload hash and Content-MD5. */
export async function readSmallBody(ctx: Ctx, limit = MAX_XML_BODY): Promise<Buffer> {
  const parts: Buffer[] = []; let n = 0;
  for await (const c of payloadSource(ctx)) {
    n += c.length;
    if (n > limit) throw new S3Error('MaxMessageLengthExceeded', 'Your request was too big.', {}, 400);
    parts.push(c);
  }
  const body = Buffer.concat(parts);
  if (ctx.auth.contentSha256 && createHash('sha256').update(body).digest('hex') !== ctx.auth.contentSha256) throw new S3Error('XAmzContentSHA256Mismatch');
  const md5 = hdr(ctx, 'content-md5');
  if (md5 !== undefined) {
    const want = decodeMd5(md5);
    if (!createHash('md5').update(body).digest().equals(want)) throw new S3Error('BadDigest');
  }
  return body;
}

export function decodeMd5(v: string): Buffer {
  const b = Buffer.from(v, 'base64');
  if (b.length !== 16 || !/^[A-Za-z0-9+/]+=*$/.test(v.trim())) throw new S3Error('InvalidDigest');
  return b;
}

/** The request body with aws-chunked decoding when the payload mode needs it. */
export function payloadSource(ctx: Ctx): AsyncIterable<Buffer> {
  const m = ctx.auth.mode;
  const enc = hdr(ctx, 'content-encoding') ?? '';
  if (m.startsWith('streaming') || /aws-chunked/.test(enc) && m !== 'signed') {
    if (!m.startsWith('streaming')) return readBody(ctx.req);
    ctx.chunked = { signing: m === 'streaming-unsigned-trailer' ? undefined : ctx.auth.chunkSigning, trailer: m.endsWith('trailer'), trailers: Object.create(null) as Record<string, string>, decodedLength: 0 };
    return decodeAwsChunked(readBody(ctx.req), ctx.chunked);
  }
  return readBody(ctx.req);
}

/** The declared body size (decoded length for aws-chunked); undefined if not known. */
export function declaredSize(ctx: Ctx): number | undefined {
  const d = hdr(ctx, 'x-amz-decoded-content-length');
  if (d !== undefined && /^\d+$/.test(d)) return Number(d);
  const cl = hdr(ctx, 'content-length');
  if (cl !== undefined && /^\d+$/.test(cl) && !ctx.auth.mode.startsWith('streaming')) return Number(cl);
  return undefined;
}

/** Which checksum the client asks for (header value, trailer, or algorithm only). */
export interface ChecksumRequest { algo: ChecksumAlgo; value?: string; trailer: boolean }
export function checksumRequest(ctx: Ctx, defaultAlgo?: string | null): ChecksumRequest | undefined {
  for (const a of CHECKSUM_ALGOS) {
    const v = hdr(ctx, checksumHeader(a));
    if (v !== undefined) return { algo: a, value: v.trim(), trailer: false };
  }
  const tr = hdr(ctx, 'x-amz-trailer');
  if (tr) {
    const name = tr.trim().toLowerCase();
    const a = CHECKSUM_ALGOS.find((x) => checksumHeader(x) === name);
    if (!a) throw new S3Error('InvalidRequest', `Unsupported trailer ${tr}`);
    return { algo: a, trailer: true };
  }
  const sdk = hdr(ctx, 'x-amz-sdk-checksum-algorithm') ?? hdr(ctx, 'x-amz-checksum-algorithm');
  if (sdk) {
    const a = parseAlgo(sdk);
    if (!a) throw new S3Error('InvalidRequest', `Checksum algorithm ${sdk} is not supported`);
    return { algo: a, trailer: false };
  }
  const d = parseAlgo(defaultAlgo ?? undefined);
  return d ? { algo: d, trailer: false } : undefined;
}

/** Verifies size, Content-MD5, x-amz-content-sha256 and the checksum against what was written. */
export function verifyWritten(ctx: Ctx, t: WrittenTemp, ck: ChecksumRequest | undefined): void {
  const want = declaredSize(ctx);
  if (want !== undefined && want !== t.size) throw new S3Error('IncompleteBody');
  const md5 = hdr(ctx, 'content-md5');
  if (md5 !== undefined && !t.md5.equals(decodeMd5(md5))) throw new S3Error('BadDigest');
  if (ctx.auth.contentSha256 && t.sha256 && t.sha256.toString('hex') !== ctx.auth.contentSha256) throw new S3Error('XAmzContentSHA256Mismatch');
  if (ck) {
    const got = t.checksums[ck.algo]?.toString('base64');
    const given = ck.trailer ? ctx.chunked?.trailers[checksumHeader(ck.algo)] : ck.value;
    if (ck.trailer && given === undefined) throw new S3Error('InvalidRequest', `The ${checksumHeader(ck.algo)} trailer was declared but not sent`);
    if (given !== undefined && given !== got) throw new S3Error('BadDigest', `The ${ck.algo} you specified did not match the calculated checksum.`);
  }
}

/** The ACL a write's headers ask for (x-amz-acl or x-amz-grant-*, api/s3/acl.ts): a canned name, encoded grants, or undefined. */
export function cannedAcl(ctx: Ctx): string | undefined {
  return aclFromHeaders((n) => hdr(ctx, n));
}

/** Do the stored ACL's grants let `caller` (null: anonymous) read what `owner` owns? */
export function canRead(acl: string, owner: string, caller: string | null): boolean {
  return caller === owner || grantsAllow(grantsOf(acl, owner, owner), caller, ['READ'], false);
}

/**
 * The bucket, which must exist, with the request authorized: bucket policy, ACLs,
 * Object Ownership and Block Public Access for the S3 action the request is
 * (api/s3/access.ts). `need` only matters for a request S3 has no action for
 * (then it is the owner's alone).
 */
export async function loadBucket(ctx: Ctx, need: 'owner' | 'read' | 'write'): Promise<db.BucketRow> {
  void need;
  const b = await db.getBucket(ctx.bucket!);
  if (!b) throw new S3Error('NoSuchBucket', undefined, { BucketName: ctx.bucket });
  authorizeBucketRequest(ctx, b);
  return b;
}

export const STORED_HEADERS = ['content-type', 'content-encoding', 'content-disposition', 'content-language', 'cache-control', 'expires', 'x-amz-website-redirect-location'];

/** Content-* headers and x-amz-meta-* of the request, as stored with an object. */
export function objectHeaders(ctx: Ctx): Record<string, string> {
  const out: Record<string, string> = {};
  let metaSize = 0;
  for (const [name, raw] of Object.entries(ctx.req.headers)) {
    if (raw === undefined) continue;
    const v = Array.isArray(raw) ? raw.join(',') : raw;
    if (name.startsWith('x-amz-meta-')) { out[name] = v; metaSize += name.length - 11 + v.length; }
    else if (STORED_HEADERS.includes(name)) out[name] = v;
  }
  if (out['content-encoding']) {
    const enc = out['content-encoding'].split(',').map((s) => s.trim()).filter((s) => s && s !== 'aws-chunked').join(',');
    if (enc) out['content-encoding'] = enc; else delete out['content-encoding'];
  }
  if (!out['content-type']) out['content-type'] = 'binary/octet-stream';
  if (metaSize > 2048) throw new S3Error('MetadataTooLarge');
  return out;
}

export function parseTaggingHeader(v: string | undefined): db.Tag[] | null {
  if (!v) return null;
  const tags: db.Tag[] = [];
  for (const part of v.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const dec = (s: string) => { try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { throw new S3Error('InvalidArgument', 'Invalid tag'); } };
    tags.push({ Key: dec(eq < 0 ? part : part.slice(0, eq)), Value: dec(eq < 0 ? '' : part.slice(eq + 1)) });
  }
  validateTags(tags, 10);
  return tags;
}

// Tag keys and values as S3 takes them: letters, digits, spaces and + - = . _ : / @; a key of
// 1 to 128 characters, a value of at most 256. Each tag is checked in turn, then the count
// (10 for an object, 50 for a bucket), as S3 orders its errors.
const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
export function validateTags(tags: db.Tag[], max: number): void {
  const seen = new Set<string>();
  for (const t of tags) {
    const klen = Array.from(t.Key ?? '').length, vlen = Array.from(t.Value ?? '').length;
    if (!t.Key || klen > 128 || !TAG_CHARS.test(t.Key)) throw new S3Error('InvalidTag', 'The TagKey you have provided is invalid');
    if (vlen > 256 || !TAG_CHARS.test(t.Value ?? '')) throw new S3Error('InvalidTag', 'The TagValue you have provided is invalid');
    if (seen.has(t.Key)) throw new S3Error('InvalidTag', 'Cannot provide multiple Tags with the same key');
    seen.add(t.Key);
  }
  if (tags.length > max) {
    throw new S3Error('BadRequest', max > 10 ? `Bucket tag count cannot be greater than ${max}` : `Object tags cannot be greater than ${max}`, {}, 400);
  }
}

export function ownerXml(id: string) { return { ID: id, DisplayName: id }; }

/**
 * The request body as an async iterable that, unlike `for await (req)`, does
 * not destroy the socket when the consumer stops early (a refused upload gets
 * its XML error, then the connection is closed).
 */
export async function* readBody(req: import('node:http').IncomingMessage): AsyncGenerator<Buffer> {
  allowBody(req);   // Expect: 100-continue is answered now, when a handler wants the body (api/s3/continue.ts)
  let ended = req.readableEnded, error: Error | undefined, wake: (() => void) | undefined;
  const onReadable = () => wake?.();
  const onEnd = () => { ended = true; wake?.(); };
  const onError = (e: Error) => { error = e; wake?.(); };
  const onClose = () => { if (!ended && !error) error = Object.assign(new Error('aborted'), { code: 'ECONNRESET' }); wake?.(); };
  req.on('readable', onReadable); req.on('end', onEnd); req.on('error', onError); req.on('close', onClose);
  try {
    for (;;) {
      let c: Buffer | null;
      while ((c = req.read()) !== null) yield c;
      if (ended) return;
      if (error) throw error;
      await new Promise<void>((r) => { wake = r; });
      wake = undefined;
    }
  } finally {
    req.off('readable', onReadable); req.off('end', onEnd); req.off('error', onError); req.off('close', onClose);
  }
}
