/**
 * AWS Signature Version 2 verifier for Query APIs (EC2 as euca2ools, boto2 and
 * botocore's SigV2Auth sign it).
 *
 *   StringToSign = METHOD \n lower(Host) \n path \n CanonicalQuery
 *   Signature    = Base64(HMAC-SHA256|HMAC-SHA1(secret, StringToSign))
 *
 * CanonicalQuery: every parameter but Signature, sorted by name in byte order
 * (UTF-8), names and values RFC 3986 encoded, joined with '=' and '&'.
 *
 * Spec: https://docs.aws.amazon.com/general/latest/gr/signature-version-2.html
 *
 * The caller decides that the request is SigV2 (isSigV2), collects the decoded
 * parameters of the URL query and, for form POSTs, of the body, verifies, and
 * then drops SIGV2_AUTH_PARAMS from what it hands to the action.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { AuthError, uriEncode, type AuthErrorKind, type Credential } from './sigv4';

export interface SigV2Request {
  method: string;
  /** Host header as received (port kept) */
  host: string;
  /** raw path, not decoded */
  path: string;
  /** decoded pairs of the URL query plus, for POST form bodies, the body, in order */
  params: Array<[string, string]>;
}

export interface SigV2Options {
  now?: Date;
  /** how far Timestamp may be from now; default 15 min */
  maxSkewMs?: number;
}

/** Authentication parameters; the caller removes them from the action's parameters. */
export const SIGV2_AUTH_PARAMS: ReadonlySet<string> = new Set([
  'AWSAccessKeyId',
  'Signature',
  'SignatureMethod',
  'SignatureVersion',
  'Timestamp',
  'Expires',
  'SecurityToken',
]);

const SIGV4_PARAMS = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature'];
const DEFAULT_SKEW_MS = 15 * 60 * 1000;

const METHODS: Record<string, 'sha256' | 'sha1'> = { HmacSHA256: 'sha256', HmacSHA1: 'sha1' };

const MSG_AUTH_FAILURE = 'AWS was not able to validate the provided access credentials';
const MSG_BAD_SIGNATURE =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your key and signing method.';

const authFailure = (kind: AuthErrorKind, message = MSG_AUTH_FAILURE) => new AuthError('AuthFailure', message, 401, kind);
const missingParameter = (message: string) => new AuthError('MissingParameter', message, 400, 'malformed');
const invalidValue = (message: string) => new AuthError('InvalidParameterValue', message, 400, 'malformed');
const expired = (message: string, kind: AuthErrorKind) => new AuthError('RequestExpired', message, 400, kind);

/**
 * True when the parameters carry SigV2 query auth: a SignatureVersion, or
 * AWSAccessKeyId together with Signature, and no SigV4 query auth. (An
 * Authorization header is the caller's to check: it means SigV4.)
 */
export function isSigV2(params: Array<[string, string]>): boolean {
  let version = false;
  let key = false;
  let sig = false;
  for (const [k] of params) {
    if (SIGV4_PARAMS.includes(k)) return false;
    if (k === 'SignatureVersion') version = true;
    else if (k === 'AWSAccessKeyId') key = true;
    else if (k === 'Signature') sig = true;
  }
  return version || (key && sig);
}

// ---------------------------------------------------------------- dates

/**
 * ISO 8601 date-time: YYYY-MM-DDThh:mm:ss[.fraction][Z|±hh:mm|±hhmm]. No zone
 * means UTC (as AWS reads it).
 */
function parseIso8601(s: string): Date | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/i.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec] = [+m[1], +m[2], +m[3], +m[4], +m[5], +m[6]];
  if (mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 59) return undefined;
  const ms = m[7] ? Math.floor(Number('0.' + m[7]) * 1000) : 0;
  let t = Date.UTC(y, mo - 1, d, h, mi, sec, ms);
  const check = new Date(t);
  if (check.getUTCDate() !== d || check.getUTCMonth() !== mo - 1) return undefined;
  const zone = m[8];
  if (zone && zone.toUpperCase() !== 'Z') {
    const z = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
    const off = (+z[2] * 60 + +z[3]) * 60000;
    if (+z[2] > 23 || +z[3] > 59) return undefined;
    t -= z[1] === '+' ? off : -off;
  }
  return new Date(t);
}

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

// ---------------------------------------------------------------- canonical form

const utf8Compare = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

function canonicalQuery(params: Map<string, string>): string {
  const keys = [...params.keys()].filter((k) => k !== 'Signature').sort(utf8Compare);
  return keys.map((k) => `${uriEncode(k)}=${uriEncode(params.get(k)!)}`).join('&');
}

function constantTimeEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  if (ba.length !== bb.length) {
    timingSafeEqual(ba, ba);
    return false;
  }
  return timingSafeEqual(ba, bb);
}

// ---------------------------------------------------------------- verify

export async function verifySigV2(
  req: SigV2Request,
  lookup: (accessKeyId: string) => Promise<Credential | undefined>,
  opts: SigV2Options = {},
): Promise<Credential> {
  const now = opts.now ?? new Date();
  const maxSkew = opts.maxSkewMs ?? DEFAULT_SKEW_MS;

  // a repeated name would leave the signed value ambiguous: refuse, don't guess
  const params = new Map<string, string>();
  for (const [k, v] of req.params) {
    if (params.has(k)) throw authFailure('malformed', `The parameter ${k} appears more than once in the request.`);
    params.set(k, v);
  }

  const version = params.get('SignatureVersion');
  if (version !== '2') {
    throw authFailure(
      'malformed',
      `Signature version ${version === undefined || version === '' ? '0' : version} is not supported; only signature version 2 is supported.`,
    );
  }
  const methodName = params.get('SignatureMethod');
  if (methodName === undefined || methodName === '') throw missingParameter('The request must contain the parameter SignatureMethod');
  if (!Object.prototype.hasOwnProperty.call(METHODS, methodName)) {
    throw authFailure('malformed', `Signature method ${methodName} is not supported; use HmacSHA256 or HmacSHA1.`);
  }
  const digest = METHODS[methodName];
  const accessKeyId = params.get('AWSAccessKeyId');
  if (accessKeyId === undefined || accessKeyId === '') throw missingParameter('The request must contain the parameter AWSAccessKeyId');
  const signature = params.get('Signature');
  if (signature === undefined || signature === '') throw missingParameter('The request must contain the parameter Signature');

  // exactly one of Timestamp and Expires
  const timestamp = params.get('Timestamp');
  const expires = params.get('Expires');
  if (timestamp === undefined && expires === undefined) {
    throw missingParameter('The request must contain the parameter Timestamp or Expires');
  }
  if (timestamp !== undefined && expires !== undefined) {
    throw authFailure('malformed', 'The request must contain either the parameter Timestamp or Expires, not both.');
  }
  if (timestamp !== undefined) {
    const t = parseIso8601(timestamp);
    if (!t) throw invalidValue(`Value (${timestamp}) for parameter Timestamp is invalid. Must be in ISO 8601 format.`);
    if (Math.abs(now.getTime() - t.getTime()) > maxSkew) {
      throw expired(
        `Request has expired. Timestamp ${timestamp} is more than ${Math.round(maxSkew / 60000)} minutes from the server time ${iso(now)}.`,
        'skew',
      );
    }
  } else {
    const t = parseIso8601(expires!);
    if (!t) throw invalidValue(`Value (${expires}) for parameter Expires is invalid. Must be in ISO 8601 format.`);
    if (now.getTime() > t.getTime()) {
      throw expired(`Request has expired. Expires ${expires} is before the server time ${iso(now)}.`, 'expired');
    }
  }

  const cred = await lookup(accessKeyId);
  if (!cred) throw authFailure('unknown-key');

  let query: string;
  try {
    query = canonicalQuery(params);
  } catch {
    // lone surrogates cannot be UTF-8 encoded, so cannot have been signed
    throw authFailure('bad-signature', MSG_BAD_SIGNATURE);
  }
  const method = req.method.toUpperCase();
  const path = req.path === '' ? '/' : req.path;
  // '+' sent unencoded in a query arrives as a space; it is never base64 padding or data otherwise
  const provided = signature.replace(/ /g, '+');

  // AWS and most clients (boto2, euca2ools) sign the lower-cased host; botocore
  // signs the URL's host as written. Try the lower-cased one, then as sent.
  const hosts = [req.host.toLowerCase()];
  if (req.host !== hosts[0]) hosts.push(req.host);
  let ok = false;
  for (const host of hosts) {
    const stringToSign = `${method}\n${host}\n${path}\n${query}`;
    const expected = createHmac(digest, cred.secretAccessKey).update(stringToSign, 'utf8').digest('base64');
    if (constantTimeEqual(expected, provided)) ok = true;
  }
  if (!ok) throw authFailure('bad-signature', MSG_BAD_SIGNATURE);
  return cred;
}
