// Per-request context shared by the S3 handlers.
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { S3Error } from './errors';
import type { AuthResult } from './auth';
import { decodeAwsChunked, type ChunkedState } from './chunked';
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
    ctx.chunked = { signing: m === 'streaming-unsigned-trailer' ? undefined : ctx.auth.chunkSigning, trailer: m.endsWith('trailer'), trailers: {}, decodedLength: 0 };
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

const CANNED = new Set(['private', 'public-read', 'public-read-write', 'authenticated-read', 'bucket-owner-read', 'bucket-owner-full-control', 'aws-exec-read', 'log-delivery-write']);
export function cannedAcl(ctx: Ctx): string | undefined {
  const v = hdr(ctx, 'x-amz-acl');
  if (v === undefined) {
    const gr = hdr(ctx, 'x-amz-grant-read');
    if (gr && /AllUsers/.test(gr)) return 'public-read';
    if (gr && /AuthenticatedUsers/.test(gr)) return 'authenticated-read';
    return undefined;
  }
  if (!CANNED.has(v)) throw new S3Error('InvalidArgument', `Invalid canned ACL ${v}`, { ArgumentName: 'x-amz-acl', ArgumentValue: v });
  return v;
}

export function canRead(acl: string, owner: string, caller: string | null): boolean {
  return caller === owner || acl === 'public-read' || acl === 'public-read-write' || (acl === 'authenticated-read' && caller !== null);
}

/** The bucket, which must exist; `need` says what the caller must be allowed. */
export async function loadBucket(ctx: Ctx, need: 'owner' | 'read' | 'write'): Promise<db.BucketRow> {
  const b = await db.getBucket(ctx.bucket!);
  if (!b) throw new S3Error('NoSuchBucket', undefined, { BucketName: ctx.bucket });
  const ok = ctx.caller === b.accountId || (need === 'read' && canRead(b.acl, b.accountId, ctx.caller)) ||
    (need === 'write' && b.acl === 'public-read-write');
  if (!ok) throw new S3Error('AccessDenied');
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

export function validateTags(tags: db.Tag[], max: number): void {
  if (tags.length > max) throw new S3Error('BadRequest', `Object tags cannot be greater than ${max}`, {}, 400);
  const seen = new Set<string>();
  for (const t of tags) {
    if (!t.Key || t.Key.length > 128 || (t.Value ?? '').length > 256) throw new S3Error('InvalidTag', 'The TagKey or TagValue you have provided is invalid');
    if (seen.has(t.Key)) throw new S3Error('InvalidTag', 'Cannot provide multiple Tags with the same key');
    seen.add(t.Key);
  }
}

export function ownerXml(id: string) { return { ID: id, DisplayName: id }; }

/**
 * The request body as an async iterable that, unlike `for await (req)`, does
 * not destroy the socket when the consumer stops early (a refused upload gets
 * its XML error, then the connection is closed).
 */
export async function* readBody(req: import('node:http').IncomingMessage): AsyncGenerator<Buffer> {
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
