/**
 * AWS Signature Version 4 verifier (header auth and presigned query auth).
 *
 * Service neutral: EC2 uses it with the defaults; S3 can reuse it with
 * `doubleEncodePath: false` and `allowUnsignedPayload: true` (or its own
 * `resolvePayloadHash`), and map `AuthError.kind` onto its own error codes.
 *
 * Spec: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface Credential {
  accessKeyId: string;
  secretAccessKey: string;
  accountId: string;
  userName?: string;
}

export interface SignedRequest {
  method: string;
  /** raw path as received, not decoded */
  path: string;
  /** raw query string without '?' */
  query: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** What went wrong, independent of the service's error vocabulary. */
export type AuthErrorKind =
  | 'missing' // no auth at all
  | 'unknown-key' // access key id not found
  | 'malformed' // Authorization / X-Amz-* unparseable or incomplete
  | 'scope' // credential scope wrong (region, service, date, terminator)
  | 'bad-signature'
  | 'payload-hash' // x-amz-content-sha256 does not match the body
  | 'skew' // request date too far from server time
  | 'expired'; // presigned URL expired

export class AuthError extends Error {
  constructor(
    public code: string,
    message: string,
    public httpStatus = 401 /* 403 for S3 */,
    public kind: AuthErrorKind = 'missing',
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

export interface VerifyOptions {
  service: string;
  /** if set, scope region must match; if unset any region accepted */
  region?: string;
  now?: Date;
  /** default 15 min */
  maxSkewMs?: number;
  /**
   * true (default, every service but S3): the canonical URI is the received
   * (already encoded) path, normalized and URI-encoded once more.
   * false (S3): the received path is decoded and encoded once, not normalized.
   */
  doubleEncodePath?: boolean;
  /** S3: accept `x-amz-content-sha256: UNSIGNED-PAYLOAD` (and presign without body hash). */
  allowUnsignedPayload?: boolean;
  /**
   * Hook deciding the payload hash placed in the canonical request. Receives
   * the declared x-amz-content-sha256 (if any) and the hash computed from the
   * raw body. Return the string to use, or throw AuthError. Overrides the
   * default policy (declared must equal computed, except UNSIGNED-PAYLOAD when
   * allowUnsignedPayload).
   */
  resolvePayloadHash?: (declared: string | undefined, computedHex: string, mode: 'header' | 'query') => string;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const TERMINATOR = 'aws4_request';
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
const DEFAULT_SKEW_MS = 15 * 60 * 1000;
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const MSG_AUTH_FAILURE = 'AWS was not able to validate the provided access credentials';
const MSG_BAD_SIGNATURE =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

const authFailure = (kind: AuthErrorKind, message = MSG_AUTH_FAILURE) => new AuthError('AuthFailure', message, 401, kind);
const incomplete = (message: string) => new AuthError('IncompleteSignature', message, 400, 'malformed');
const sigMismatch = (message = MSG_BAD_SIGNATURE, kind: AuthErrorKind = 'bad-signature') =>
  new AuthError('SignatureDoesNotMatch', message, 403, kind);
const expired = (message: string, kind: AuthErrorKind) => new AuthError('RequestExpired', message, 400, kind);

// ---------------------------------------------------------------- encoding

/** RFC 3986 encoding as SigV4 wants it: only A-Z a-z 0-9 - _ . ~ unescaped, %XX upper-case. */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** Percent-decode one query component ('+' is a space, as form encoding and AWS treat it). */
function decodeComponent(s: string): string {
  const plus = s.replace(/\+/g, ' ');
  if (!plus.includes('%')) return plus;
  return decodeURIComponent(plus); // throws URIError on bad escapes / invalid UTF-8
}

/** Parse a raw query string into ordered [key, value] pairs (decoded). Throws URIError. */
export function parseQueryPairs(query: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (!query) return out;
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    out.push([decodeComponent(k), decodeComponent(v)]);
  }
  return out;
}

function canonicalQuery(pairs: Array<[string, string]>, excludeSignature: boolean): string {
  const enc: Array<[string, string]> = [];
  for (const [k, v] of pairs) {
    if (excludeSignature && k === 'X-Amz-Signature') continue;
    enc.push([uriEncode(k), uriEncode(v)]);
  }
  // sort by code point of the encoded key, then encoded value (all ASCII here)
  enc.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return enc.map(([k, v]) => `${k}=${v}`).join('&');
}

function canonicalPath(rawPath: string, doubleEncode: boolean): string {
  const path = rawPath === '' ? '/' : rawPath;
  if (!doubleEncode) {
    // S3: single encoding of the decoded path, no normalization
    return path
      .split('/')
      .map((seg) => uriEncode(decodeURIComponent(seg)))
      .join('/');
  }
  const segs: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') segs.pop();
    else segs.push(seg);
  }
  const normalized = `${path.startsWith('/') ? '/' : ''}${segs.join('/')}${segs.length > 0 && path.endsWith('/') ? '/' : ''}`;
  return uriEncode(normalized).replace(/%2F/g, '/');
}

function headerValue(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : v;
}

function canonicalHeaderValue(v: string): string {
  return v.replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').trim();
}

function lowerHeaders(h: SignedRequest['headers']): Map<string, string> {
  const m = new Map<string, string>();
  for (const [name, raw] of Object.entries(h)) {
    const v = headerValue(raw);
    if (v === undefined) continue;
    const ln = name.toLowerCase();
    const prev = m.get(ln);
    m.set(ln, prev === undefined ? v : `${prev},${v}`);
  }
  return m;
}

const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

// signing keys are per (secret, date, region, service); cache a few
const keyCache = new Map<string, Buffer>();
function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const cacheKey = `${sha256Hex(secret)}/${date}/${region}/${service}`;
  const hit = keyCache.get(cacheKey);
  if (hit) return hit;
  const kDate = createHmac('sha256', 'AWS4' + secret).update(date).digest();
  const kRegion = createHmac('sha256', kDate).update(region).digest();
  const kService = createHmac('sha256', kRegion).update(service).digest();
  const kSigning = createHmac('sha256', kService).update(TERMINATOR).digest();
  if (keyCache.size >= 256) keyCache.delete(keyCache.keys().next().value as string);
  keyCache.set(cacheKey, kSigning);
  return kSigning;
}

// ---------------------------------------------------------------- dates

/** yyyyMMdd'T'HHmmss'Z' -> Date */
function parseAmzDate(s: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  return Number.isNaN(d.getTime()) || d.getUTCDate() !== +m[3] ? undefined : d;
}

function toAmzDate(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

// ---------------------------------------------------------------- parsing

interface ParsedAuth {
  mode: 'header' | 'query';
  accessKeyId: string;
  scopeDate: string;
  scopeRegion: string;
  scopeService: string;
  scopeTerminator: string;
  signedHeaders: string[];
  signature: string;
  amzDate: string; // the string signed as the timestamp
  requestTime: Date;
  expiresSec?: number;
}

function parseCredential(cred: string, where: string): Omit<ParsedAuth, 'mode' | 'signedHeaders' | 'signature' | 'amzDate' | 'requestTime'> {
  const parts = cred.split('/');
  if (parts.length !== 5 || parts.some((p) => p === '')) {
    throw incomplete(
      `${where} Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`,
    );
  }
  return {
    accessKeyId: parts[0],
    scopeDate: parts[1],
    scopeRegion: parts[2],
    scopeService: parts[3],
    scopeTerminator: parts[4],
  };
}

function parseHeaderAuth(authz: string, headers: Map<string, string>): ParsedAuth {
  const trimmed = authz.trim();
  const sp = trimmed.indexOf(' ');
  const algorithm = sp < 0 ? trimmed : trimmed.slice(0, sp);
  if (algorithm !== ALGORITHM) {
    throw incomplete(`Unsupported Authorization Type (${algorithm}); only ${ALGORITHM} is supported`);
  }
  const fields = new Map<string, string>();
  for (const piece of (sp < 0 ? '' : trimmed.slice(sp + 1)).split(',')) {
    const p = piece.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq < 0) throw incomplete(`'${p}' not a valid key=value pair (missing equal-sign) in Authorization header: '${authz}'.`);
    fields.set(p.slice(0, eq).trim(), p.slice(eq + 1).trim());
  }
  const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((k) => !fields.get(k));
  if (missing.length) {
    throw incomplete(missing.map((k) => `Authorization header requires '${k}' parameter.`).join(' ') + ` Authorization=${authz}`);
  }
  let amzDate = headers.get('x-amz-date');
  let requestTime: Date | undefined;
  if (amzDate !== undefined) {
    requestTime = parseAmzDate(amzDate.trim());
    if (!requestTime) throw incomplete(`Invalid X-Amz-Date header value: '${amzDate}'.`);
    amzDate = amzDate.trim();
  } else {
    const date = headers.get('date');
    if (date === undefined) {
      throw incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
    }
    const t = new Date(date);
    if (Number.isNaN(t.getTime())) throw incomplete(`Invalid Date header value: '${date}'.`);
    requestTime = t;
    amzDate = toAmzDate(t);
  }
  return {
    mode: 'header',
    ...parseCredential(fields.get('Credential')!, 'Authorization header'),
    signedHeaders: fields.get('SignedHeaders')!.split(';'),
    signature: fields.get('Signature')!,
    amzDate,
    requestTime,
  };
}

function parseQueryAuth(q: Map<string, string>): ParsedAuth {
  const alg = q.get('X-Amz-Algorithm')!;
  if (alg !== ALGORITHM) throw incomplete(`X-Amz-Algorithm only supports "${ALGORITHM}"`);
  const req = ['X-Amz-Credential', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Signature'];
  const missing = req.filter((k) => !q.get(k));
  if (missing.length) {
    throw incomplete(missing.map((k) => `Query-string authentication requires the ${k} parameter.`).join(' '));
  }
  const amzDate = q.get('X-Amz-Date')!;
  const requestTime = parseAmzDate(amzDate);
  if (!requestTime) throw incomplete(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`);
  let expiresSec: number | undefined;
  const exp = q.get('X-Amz-Expires');
  if (exp !== undefined) {
    if (!/^\d{1,9}$/.test(exp)) throw incomplete('X-Amz-Expires should be a number');
    expiresSec = Number(exp);
    if (expiresSec > MAX_PRESIGN_SECONDS) {
      throw authFailure('malformed', `X-Amz-Expires must be less than a week (in seconds) that is ${MAX_PRESIGN_SECONDS}`);
    }
  }
  return {
    mode: 'query',
    ...parseCredential(q.get('X-Amz-Credential')!, 'X-Amz-Credential'),
    signedHeaders: q.get('X-Amz-SignedHeaders')!.split(';'),
    signature: q.get('X-Amz-Signature')!,
    amzDate,
    requestTime,
    expiresSec,
  };
}

function constantTimeEqualHex(a: string, b: string): boolean {
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  if (ba.length !== bb.length) {
    // still spend comparable time
    timingSafeEqual(bb, bb);
    return false;
  }
  return timingSafeEqual(ba, bb);
}

// ---------------------------------------------------------------- verify

export async function verifySigV4(
  req: SignedRequest,
  lookup: (accessKeyId: string) => Promise<Credential | undefined>,
  opts: VerifyOptions,
): Promise<Credential> {
  const now = opts.now ?? new Date();
  const maxSkew = opts.maxSkewMs ?? DEFAULT_SKEW_MS;
  const headers = lowerHeaders(req.headers);

  let pairs: Array<[string, string]>;
  try {
    pairs = parseQueryPairs(req.query);
  } catch {
    throw incomplete('The query string contains invalid percent-encoding.');
  }
  const qmap = new Map<string, string>();
  for (const [k, v] of pairs) qmap.set(k, v); // last wins

  const authz = headers.get('authorization');
  const hasQueryAuth = qmap.has('X-Amz-Algorithm');
  if (authz === undefined && !hasQueryAuth) throw authFailure('missing');
  if (authz !== undefined && hasQueryAuth) {
    throw incomplete('Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified');
  }
  const auth = authz !== undefined ? parseHeaderAuth(authz, headers) : parseQueryAuth(qmap);

  // scope checks (before looking the key up, like AWS)
  if (auth.scopeTerminator !== TERMINATOR) {
    throw sigMismatch(`Credential should be scoped with a valid terminator: '${TERMINATOR}', not '${auth.scopeTerminator}'.`, 'scope');
  }
  if (auth.scopeService !== opts.service) {
    throw sigMismatch(`Credential should be scoped to correct service: '${opts.service}'.`, 'scope');
  }
  if (opts.region !== undefined && auth.scopeRegion !== opts.region) {
    throw sigMismatch(`Credential should be scoped to a valid region, not '${auth.scopeRegion}'.`, 'scope');
  }
  if (auth.scopeDate !== auth.amzDate.slice(0, 8)) {
    throw sigMismatch(
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.scopeDate}' != '${auth.amzDate.slice(0, 8)}', from '${auth.amzDate}'.`,
      'scope',
    );
  }
  const signedHeaders = auth.signedHeaders.map((h) => h.trim().toLowerCase());
  if (!signedHeaders.includes('host')) {
    throw sigMismatch("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.", 'scope');
  }

  // time checks
  const t = auth.requestTime.getTime();
  if (auth.mode === 'header') {
    if (Math.abs(now.getTime() - t) > maxSkew) {
      throw expired(
        `Request has expired. Request timestamp ${auth.amzDate} is more than ${Math.round(maxSkew / 60000)} minutes from the server time ${toAmzDate(now)}.`,
        'skew',
      );
    }
  } else {
    if (t - now.getTime() > maxSkew) {
      throw expired(`Request is not yet valid. Request timestamp ${auth.amzDate} is in the future (server time ${toAmzDate(now)}).`, 'skew');
    }
    const expiresSec = auth.expiresSec ?? MAX_PRESIGN_SECONDS;
    if (now.getTime() > t + expiresSec * 1000) {
      throw expired(`Request has expired. Presigned request expired at ${toAmzDate(new Date(t + expiresSec * 1000))}.`, 'expired');
    }
  }

  const cred = await lookup(auth.accessKeyId);
  if (!cred) throw authFailure('unknown-key');

  // payload hash
  const declared = headers.get('x-amz-content-sha256')?.trim();
  const computed = req.body.length === 0 ? EMPTY_SHA256 : sha256Hex(req.body);
  let payloadHash: string;
  if (opts.resolvePayloadHash) {
    payloadHash = opts.resolvePayloadHash(declared, computed, auth.mode);
  } else if (declared === undefined) {
    payloadHash = auth.mode === 'query' && opts.allowUnsignedPayload ? UNSIGNED_PAYLOAD : computed;
  } else if (declared === UNSIGNED_PAYLOAD && opts.allowUnsignedPayload) {
    payloadHash = UNSIGNED_PAYLOAD;
  } else if (declared.toLowerCase() === computed) {
    payloadHash = declared;
  } else {
    throw sigMismatch('The provided x-amz-content-sha256 header does not match what was computed.', 'payload-hash');
  }

  // canonical request
  const headerLines: string[] = [];
  for (const name of signedHeaders) {
    const v = headers.get(name);
    if (v === undefined) {
      // a signed header that was not received can never verify
      throw sigMismatch(MSG_BAD_SIGNATURE);
    }
    headerLines.push(`${name}:${canonicalHeaderValue(v)}`);
  }
  let cpath: string;
  try {
    cpath = canonicalPath(req.path, opts.doubleEncodePath ?? true);
  } catch {
    throw sigMismatch(MSG_BAD_SIGNATURE);
  }
  const canonicalRequest = [
    req.method.toUpperCase(),
    cpath,
    canonicalQuery(pairs, auth.mode === 'query'),
    headerLines.join('\n') + '\n',
    signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
  const scope = `${auth.scopeDate}/${auth.scopeRegion}/${auth.scopeService}/${TERMINATOR}`;
  const stringToSign = [ALGORITHM, auth.amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const key = signingKey(cred.secretAccessKey, auth.scopeDate, auth.scopeRegion, auth.scopeService);
  const expected = createHmac('sha256', key).update(stringToSign).digest('hex');
  if (!constantTimeEqualHex(expected, auth.signature.toLowerCase())) throw sigMismatch();
  return cred;
}

/**
 * The service a SigV4 request is scoped to (`.../REGION/SERVICE/aws4_request`),
 * read without verifying anything, so one listener can route EC2, STS and IAM
 * requests by their signature's scope. undefined when there is no SigV4.
 */
export function sigV4ScopeService(headers: Record<string, string | string[] | undefined>, query: string): string | undefined {
  const authz = lowerHeaders(headers).get('authorization');
  let cred: string | undefined;
  if (authz !== undefined) cred = /Credential=([^,\s]+)/.exec(authz)?.[1];
  else {
    try {
      cred = parseQueryPairs(query).find(([k]) => k === 'X-Amz-Credential')?.[1];
    } catch {
      return undefined;
    }
  }
  return cred?.split('/')[3];
}
