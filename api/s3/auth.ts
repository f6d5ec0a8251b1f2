// S3 authentication: SigV4 (header and presigned query, through api/auth/sigv4.ts),
// SigV2 (header and query), or anonymous. Returns who is calling and how the
// payload is to be read (plain, unsigned, aws-chunked signed or with trailers).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { AuthError, verifySigV4, parseQueryPairs, type Credential } from '../auth/sigv4';
import { S3Error } from './errors';
import { utf8Headers } from './headerText';

export type PayloadMode = 'signed' | 'unsigned' | 'streaming-signed' | 'streaming-signed-trailer' | 'streaming-unsigned-trailer';

export interface ChunkSigning { key: Buffer; seedSignature: string; amzDate: string; scope: string }

export interface AuthResult {
  cred: Credential | null; // null: anonymous
  mode: PayloadMode;
  /** hex sha256 the body must hash to (mode 'signed' with a non-empty body) */
  contentSha256?: string;
  chunkSigning?: ChunkSigning;
  sigVersion: 2 | 4 | 0;
}

export type Lookup = (accessKeyId: string) => Promise<Credential | undefined>;

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const STREAMING = new Set(['STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'UNSIGNED-PAYLOAD']);

const SUBRESOURCES = new Set(['acl', 'delete', 'lifecycle', 'location', 'logging', 'notification', 'partNumber', 'policy', 'requestPayment',
  'tagging', 'torrent', 'uploadId', 'uploads', 'versionId', 'versioning', 'versions', 'website', 'cors', 'restore', 'replication',
  'response-content-type', 'response-content-language', 'response-expires', 'response-cache-control', 'response-content-disposition',
  'response-content-encoding', 'select', 'select-type', 'encryption', 'object-lock', 'retention', 'legal-hold', 'accelerate', 'analytics',
  'inventory', 'metrics', 'ownershipControls', 'publicAccessBlock', 'intelligent-tiering', 'attributes']);

export interface AuthInput {
  method: string; rawPath: string; rawQuery: string; headers: Record<string, string | string[] | undefined>;
  /** bucket when addressed virtual-host style (SigV2 resource needs it) */
  vhostBucket?: string;
  hasBody: boolean;
}

function h(headers: AuthInput['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function mapV4Error(e: unknown, query: boolean): never {
  if (e instanceof S3Error) throw e;
  if (!(e instanceof AuthError)) throw e;
  switch (e.kind) {
    case 'unknown-key': throw new S3Error('InvalidAccessKeyId');
    case 'bad-signature': throw new S3Error('SignatureDoesNotMatch');
    case 'payload-hash': throw new S3Error('XAmzContentSHA256Mismatch');
    case 'skew':
      if (query) throw new S3Error('AccessDenied', e.message);
      throw new S3Error('RequestTimeTooSkewed');
    case 'expired': throw new S3Error('AccessDenied', 'Request has expired');
    case 'scope':
    case 'malformed':
    default:
      throw new S3Error(query ? 'AuthorizationQueryParametersError' : 'AuthorizationHeaderMalformed', e.message);
  }
}

export async function authenticate(inp: AuthInput, lookup: Lookup, now = new Date()): Promise<AuthResult> {
  const authz = h(inp.headers, 'authorization');
  let q: Map<string, string>;
  try { q = new Map(parseQueryPairs(inp.rawQuery)); } catch { throw new S3Error('InvalidURI', "Couldn't parse the specified URI."); }
  if ((authz && authz.startsWith('AWS4-')) || q.has('X-Amz-Algorithm')) return sigV4(inp, lookup, now, !!q.has('X-Amz-Algorithm') && !authz);
  if (authz && /^AWS\s/.test(authz)) return sigV2Header(inp, authz, lookup, now);
  if (q.has('AWSAccessKeyId') && q.has('Signature')) return sigV2Query(inp, q, lookup, now);
  if (authz) throw new S3Error('InvalidArgument', 'Unsupported Authorization Type', { ArgumentName: 'Authorization', ArgumentValue: authz.slice(0, 40) });
  const declared = h(inp.headers, 'x-amz-content-sha256');
  return { cred: null, mode: declared?.startsWith('STREAMING-UNSIGNED') ? 'streaming-unsigned-trailer' : 'unsigned', sigVersion: 0 };
}

async function sigV4(inp: AuthInput, lookup: Lookup, now: Date, query: boolean): Promise<AuthResult> {
  const declared = h(inp.headers, 'x-amz-content-sha256')?.trim();
  const resolve = (d: string | undefined, _computed: string, mode: 'header' | 'query') => {
    if (d === undefined) {
      if (mode === 'query') return 'UNSIGNED-PAYLOAD';
      if (!inp.hasBody) return EMPTY_SHA256;
      throw new S3Error('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
    }
    if (STREAMING.has(d)) return d;
    if (/^[0-9a-fA-F]{64}$/.test(d)) return d;
    throw new S3Error('InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.',
      { ArgumentName: 'x-amz-content-sha256', ArgumentValue: d });
  };
  let cred: Credential;
  // Header values beyond ASCII: as UTF-8 text first (what Go clients sign), then as the bytes'
  // latin1 characters (what Node's client signs). The reading that verified is kept in
  // inp.headers (the request's), so the object stores that text (api/s3/headerText.ts).
  const utf8 = utf8Headers(inp.headers);
  const verify = (headers: AuthInput['headers']) => verifySigV4({ method: inp.method, path: inp.rawPath, query: inp.rawQuery, headers, body: Buffer.alloc(0) }, lookup,
    { service: 's3', now, doubleEncodePath: false, allowUnsignedPayload: true, resolvePayloadHash: resolve });
  try {
    if (utf8) {
      try {
        cred = await verify(utf8);
        Object.assign(inp.headers, utf8);
      } catch (e) {
        if (!(e instanceof AuthError && e.kind === 'bad-signature')) throw e;
        cred = await verify(inp.headers);
      }
    } else cred = await verify(inp.headers);
  } catch (e) { mapV4Error(e, query); }
  const res: AuthResult = { cred, mode: 'unsigned', sigVersion: 4 };
  if (query || declared === 'UNSIGNED-PAYLOAD') return res;
  if (declared === undefined) { res.mode = 'signed'; res.contentSha256 = EMPTY_SHA256; return res; }
  if (declared === 'STREAMING-UNSIGNED-PAYLOAD-TRAILER') { res.mode = 'streaming-unsigned-trailer'; return res; }
  if (declared.startsWith('STREAMING-AWS4-HMAC-SHA256-PAYLOAD')) {
    res.mode = declared.endsWith('TRAILER') ? 'streaming-signed-trailer' : 'streaming-signed';
    // re-read the pieces the chunk signatures chain from
    const authz = h(inp.headers, 'authorization')!;
    const cm = /Credential=([^,\s]+)/.exec(authz); const sm = /Signature=([0-9a-fA-F]+)/.exec(authz);
    const parts = cm![1].split('/');
    const amzDate = h(inp.headers, 'x-amz-date')?.trim() ?? '';
    const [, date, region, service] = parts;
    let k = createHmac('sha256', 'AWS4' + cred.secretAccessKey).update(date).digest();
    k = createHmac('sha256', k).update(region).digest();
    k = createHmac('sha256', k).update(service).digest();
    k = createHmac('sha256', k).update('aws4_request').digest();
    res.chunkSigning = { key: k, seedSignature: sm![1].toLowerCase(), amzDate, scope: `${date}/${region}/${service}/aws4_request` };
    return res;
  }
  res.mode = 'signed'; res.contentSha256 = declared.toLowerCase();
  return res;
}

// ------------------------------------------------------------------ SigV2

function v2Resource(inp: AuthInput, decodeValues: boolean): string {
  let res = (inp.vhostBucket ? `/${inp.vhostBucket}` : '') + (inp.rawPath || '/');
  const subs: Array<[string, string | undefined]> = [];
  for (const part of inp.rawQuery ? inp.rawQuery.split('&') : []) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    if (!SUBRESOURCES.has(k)) continue;
    let v = eq < 0 ? undefined : part.slice(eq + 1);
    if (v !== undefined && decodeValues) { try { v = decodeURIComponent(v.replace(/\+/g, ' ')); } catch { /* keep raw */ } }
    subs.push([k, v]);
  }
  subs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  if (subs.length) res += '?' + subs.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join('&');
  return res;
}

function v2StringToSign(inp: AuthInput, dateOrExpires: string, decodeValues: boolean): string {
  const amz: Array<[string, string]> = [];
  for (const [name, raw] of Object.entries(inp.headers)) {
    const ln = name.toLowerCase();
    if (!ln.startsWith('x-amz-') || raw === undefined) continue;
    const v = (Array.isArray(raw) ? raw : [raw]).map((x) => x.trim()).join(',');
    amz.push([ln, v]);
  }
  amz.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return [inp.method, h(inp.headers, 'content-md5') ?? '', h(inp.headers, 'content-type') ?? '', dateOrExpires].join('\n') + '\n' +
    amz.map(([k, v]) => `${k}:${v}\n`).join('') + v2Resource(inp, decodeValues);
}

function v2Check(inp: AuthInput, secret: string, dateOrExpires: string, sig: string): boolean {
  const given = Buffer.from(sig);
  // botocore signs a bucket's path-style resource with a trailing '/'; values decoded or as sent
  const paths = [inp.rawPath];
  if (!inp.vhostBucket && /^\/[^/]+$/.test(inp.rawPath)) paths.push(inp.rawPath + '/');
  for (const rawPath of paths) {
    for (const dec of [true, false]) {
      const exp = Buffer.from(createHmac('sha1', secret).update(v2StringToSign({ ...inp, rawPath }, dateOrExpires, dec)).digest('base64'));
      if (exp.length === given.length && timingSafeEqual(exp, given)) return true;
    }
  }
  return false;
}

async function sigV2Header(inp: AuthInput, authz: string, lookup: Lookup, now: Date): Promise<AuthResult> {
  const m = /^AWS\s+([^:\s]+):(\S+)$/.exec(authz.trim());
  if (!m) throw new S3Error('InvalidArgument', 'Authorization header is invalid -- one and only one \' \' (space) is required', { ArgumentName: 'Authorization' });
  const dateStr = h(inp.headers, 'x-amz-date') ?? h(inp.headers, 'date');
  if (!dateStr) throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  const t = new Date(dateStr).getTime();
  if (Number.isNaN(t)) throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  if (Math.abs(now.getTime() - t) > 15 * 60 * 1000) throw new S3Error('RequestTimeTooSkewed');
  const cred = await lookup(m[1]);
  if (!cred) throw new S3Error('InvalidAccessKeyId');
  const dateLine = h(inp.headers, 'x-amz-date') !== undefined ? '' : dateStr;
  if (!v2Check(inp, cred.secretAccessKey, dateLine, m[2])) throw new S3Error('SignatureDoesNotMatch');
  return { cred, mode: 'unsigned', sigVersion: 2 };
}

async function sigV2Query(inp: AuthInput, q: Map<string, string>, lookup: Lookup, now: Date): Promise<AuthResult> {
  const expires = q.get('Expires') ?? '';
  if (!/^\d+$/.test(expires)) throw new S3Error('AccessDenied', 'Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters');
  if (Number(expires) * 1000 < now.getTime()) throw new S3Error('AccessDenied', 'Request has expired');
  const cred = await lookup(q.get('AWSAccessKeyId')!);
  if (!cred) throw new S3Error('InvalidAccessKeyId');
  if (!v2Check(inp, cred.secretAccessKey, expires, q.get('Signature')!)) throw new S3Error('SignatureDoesNotMatch');
  return { cred, mode: 'unsigned', sigVersion: 2 };
}

/** POST policy signatures. */
export function signPolicyV4(key: Buffer, policyB64: string): string { return createHmac('sha256', key).update(policyB64).digest('hex'); }
export function signingKeyV4(secret: string, date: string, region: string, service: string): Buffer {
  let k = createHmac('sha256', 'AWS4' + secret).update(date).digest();
  for (const p of [region, service, 'aws4_request']) k = createHmac('sha256', k).update(p).digest();
  return k;
}
export function signPolicyV2(secret: string, policyB64: string): string { return createHmac('sha1', secret).update(policyB64).digest('base64'); }
export const sha256hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
