import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { AuthError, parseQueryPairs, type Credential } from '../../api/auth/sigv4';
import { SIGV2_AUTH_PARAMS, isSigV2, verifySigV2, type SigV2Request } from '../../api/auth/sigv2';

const CRED: Credential = {
  accessKeyId: 'AKIDEXAMPLE000000002',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  accountId: '000000000002',
  userName: 'bob',
};
const lookup = async (id: string) => (id === CRED.accessKeyId ? CRED : undefined);
const NOW = new Date('2026-11-25T11:25:41.000Z');
const NOW_S = NOW.getTime() / 1000;
const URL_ = 'http://127.0.0.1:8773/';
const MIN = 60;

const ACTION: Array<[string, string]> = [
  ['Action', 'CreateSecurityGroup'],
  ['Version', '2014-06-15'],
  ['GroupName', 'café'],
  ['GroupDescription', "名前 and 😀 ~*'()!+/=& x"],
  ['Filter.10.Name', 'b'],
  ['Filter.1.Name', 'a'],
  ['Filter.1-x', 'c'],
  ['aLower', ''],
  // UTF-16 order puts the astral one first, byte (code point) order the BMP one
  ['Tag.\uFF2B', '1'],
  ['Tag.😀', '2'],
];

interface Spec {
  method: 'GET' | 'POST';
  url?: string;
  params?: Array<[string, string]>;
  secret?: string;
  timestamp?: number;
  expires?: string;
  sha1?: boolean;
}
interface Wire {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

const SPECS = {
  get: { method: 'GET' },
  post: { method: 'POST' },
  postSha1: { method: 'POST', sha1: true },
  getSha1: { method: 'GET', sha1: true },
  wrongSecret: { method: 'GET', secret: 'not-the-secret' },
  old: { method: 'GET', timestamp: NOW_S - 20 * MIN },
  future: { method: 'POST', timestamp: NOW_S + 20 * MIN },
  expiresFuture: { method: 'POST', expires: '2026-11-25T11:30:00Z' },
  expiresPast: { method: 'GET', expires: '2026-11-25T11:20:00Z' },
  upperHost: { method: 'GET', url: 'http://EC2.Example.COM:8773/services/compute' },
  plain: { method: 'GET', params: [['Action', 'DescribeRegions'], ['Version', '2009-11-30']] },
} satisfies Record<string, Spec>;

let signed: Record<keyof typeof SPECS, Wire>;

before(async () => {
  const names = Object.keys(SPECS) as Array<keyof typeof SPECS>;
  const specs = names.map((n) => {
    const s: Spec = SPECS[n];
    return {
      method: s.method,
      url: s.url ?? URL_,
      params: s.params ?? ACTION,
      access_key: CRED.accessKeyId,
      secret: s.secret ?? CRED.secretAccessKey,
      timestamp: s.timestamp ?? NOW_S,
      expires: s.expires,
      sha1: s.sha1,
    };
  });
  const { stdout } = await promisify(execFile)('python3', [path.join(__dirname, 'sigv2_sign.py'), JSON.stringify(specs)]);
  const out = JSON.parse(stdout) as Wire[];
  signed = Object.fromEntries(names.map((n, i) => [n, out[i]])) as typeof signed;
});

/** What the server would receive for what botocore sent. */
function received(w: Wire): SigV2Request {
  const m = /^https?:\/\/([^/?#]+)([^?#]*)(?:\?([^#]*))?/.exec(w.url);
  assert.ok(m, w.url);
  const params = parseQueryPairs(m[3] ?? '');
  if (w.method === 'POST') params.push(...parseQueryPairs(w.body));
  return { method: w.method, host: m[1], path: m[2], params };
}

const get = (r: SigV2Request, k: string) => r.params.find(([n]) => n === k)?.[1];
const withParam = (r: SigV2Request, k: string, v: string | undefined): SigV2Request => ({
  ...r,
  params: v === undefined ? r.params.filter(([n]) => n !== k) : r.params.map(([n, x]) => [n, n === k ? v : x] as [string, string]),
});

function enc(s: string) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** Independent node:crypto signer following the SigV2 string to sign. */
function nodeSign(
  params: Array<[string, string]>,
  o: { method?: string; host?: string; path?: string; alg?: 'sha1' | 'sha256'; secret?: string } = {},
): SigV2Request {
  const alg = o.alg ?? 'sha256';
  const all: Array<[string, string]> = [
    ...params,
    ['AWSAccessKeyId', CRED.accessKeyId],
    ['SignatureVersion', '2'],
    ['SignatureMethod', alg === 'sha1' ? 'HmacSHA1' : 'HmacSHA256'],
    ['Timestamp', NOW.toISOString()],
  ];
  const sorted = [...all].sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
  const host = o.host ?? '127.0.0.1:8773';
  const sts = `${o.method ?? 'GET'}\n${host.toLowerCase()}\n${o.path ?? '/'}\n${sorted.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&')}`;
  const sig = createHmac(alg, o.secret ?? CRED.secretAccessKey).update(sts).digest('base64');
  return { method: o.method ?? 'GET', host, path: o.path ?? '/', params: [...all, ['Signature', sig]] };
}

async function rejects(p: Promise<unknown>, code: string, message?: RegExp, status?: number) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof AuthError, `expected AuthError, got ${e}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    if (status !== undefined) assert.equal(e.httpStatus, status);
    assert.ok(!e.message.includes(CRED.secretAccessKey), 'secret leaked into the message');
    return true;
  });
}

const BAD_SIG = /signature we calculated does not match the signature you provided/;
const opts = { now: NOW };

test('botocore GET (HmacSHA256, non-ASCII, tricky sort order) verifies', async () => {
  const r = received(signed.get);
  assert.equal(get(r, 'SignatureMethod'), 'HmacSHA256');
  assert.equal(get(r, 'GroupName'), 'café');
  assert.ok(isSigV2(r.params));
  const c = await verifySigV2(r, lookup, opts);
  assert.equal(c.accountId, CRED.accountId);
  assert.equal(c.userName, 'bob');
  // what the caller hands to the action
  assert.deepEqual(
    r.params.filter(([k]) => !SIGV2_AUTH_PARAMS.has(k)),
    ACTION,
  );
});

test('botocore POST form body verifies; a "Version from 2009" request verifies too', async () => {
  const r = received(signed.post);
  assert.equal(r.method, 'POST');
  assert.equal(get(received({ ...signed.post, body: '' }), 'Signature'), undefined); // all in the body
  assert.ok(isSigV2(r.params));
  await verifySigV2(r, lookup, opts);
  await verifySigV2(received(signed.plain), lookup, opts);
});

test('HmacSHA1: botocore code path with sha1, and an independent node:crypto signature', async () => {
  for (const w of [signed.postSha1, signed.getSha1]) {
    const r = received(w);
    assert.equal(get(r, 'SignatureMethod'), 'HmacSHA1');
    await verifySigV2(r, lookup, opts);
  }
  await verifySigV2(nodeSign(ACTION, { alg: 'sha1' }), lookup, opts);
  await verifySigV2(nodeSign(ACTION, { alg: 'sha256', method: 'POST', path: '/services/compute/' }), lookup, opts);
  // SHA1 signature presented as SHA256 (or the reverse) fails
  await rejects(verifySigV2(withParam(nodeSign(ACTION, { alg: 'sha1' }), 'SignatureMethod', 'HmacSHA256'), lookup, opts), 'AuthFailure', BAD_SIG);
});

test('unsupported SignatureMethod -> AuthFailure', async () => {
  const r = received(signed.get);
  await rejects(verifySigV2(withParam(r, 'SignatureMethod', 'HmacMD5'), lookup, opts), 'AuthFailure', /HmacMD5/, 401);
  await rejects(verifySigV2(withParam(r, 'SignatureMethod', 'hmacsha256'), lookup, opts), 'AuthFailure');
});

test('tampering fails with AuthFailure: signature does not match', async () => {
  const r = received(signed.get);
  await rejects(verifySigV2(withParam(r, 'GroupName', 'cafe'), lookup, opts), 'AuthFailure', BAD_SIG, 401);
  await rejects(verifySigV2(withParam(r, 'GroupDescription', "名前 and 😀 ~*'()!+/=&  x"), lookup, opts), 'AuthFailure', BAD_SIG);
  await rejects(verifySigV2(withParam(r, 'aLower', undefined), lookup, opts), 'AuthFailure', BAD_SIG);
  await rejects(verifySigV2({ ...r, params: [...r.params, ['Extra', '1']] }, lookup, opts), 'AuthFailure', BAD_SIG);
  await rejects(verifySigV2({ ...r, host: 'evil:8773' }, lookup, opts), 'AuthFailure', BAD_SIG);
  await rejects(verifySigV2({ ...r, host: '127.0.0.1' }, lookup, opts), 'AuthFailure', BAD_SIG);
  await rejects(verifySigV2({ ...r, path: '/other' }, lookup, opts), 'AuthFailure', BAD_SIG);
  await rejects(verifySigV2({ ...r, method: 'POST' }, lookup, opts), 'AuthFailure', BAD_SIG);
  const sig = get(r, 'Signature')!;
  await rejects(verifySigV2(withParam(r, 'Signature', sig.slice(0, -2) + '=='), lookup, opts), 'AuthFailure', BAD_SIG);
  await rejects(verifySigV2(withParam(r, 'Signature', 'AAAA'), lookup, opts), 'AuthFailure', BAD_SIG);
});

test('wrong secret -> signature mismatch; unknown key -> AuthFailure', async () => {
  await rejects(verifySigV2(received(signed.wrongSecret), lookup, opts), 'AuthFailure', BAD_SIG, 401);
  await assert.rejects(verifySigV2(received(signed.get), async () => undefined, opts), (e: AuthError) => {
    assert.equal(e.code, 'AuthFailure');
    assert.equal(e.message, 'AWS was not able to validate the provided access credentials');
    assert.equal(e.httpStatus, 401);
    assert.equal(e.kind, 'unknown-key');
    return true;
  });
});

test('Timestamp 20 minutes old or ahead -> RequestExpired (before the key is looked up)', async () => {
  const noLookup = async () => assert.fail('lookup must not be called');
  await rejects(verifySigV2(received(signed.old), noLookup, opts), 'RequestExpired', /15 minutes/, 400);
  await rejects(verifySigV2(received(signed.future), noLookup, opts), 'RequestExpired');
  await verifySigV2(received(signed.old), lookup, { ...opts, maxSkewMs: 25 * 60 * 1000 });
  await verifySigV2(received(signed.old), lookup, { now: new Date(NOW.getTime() - 6 * 60 * 1000) });
});

test('Expires: in the future verifies, past -> RequestExpired', async () => {
  const f = received(signed.expiresFuture);
  assert.equal(get(f, 'Timestamp'), undefined);
  await verifySigV2(f, lookup, opts);
  await rejects(verifySigV2(f, lookup, { now: new Date('2026-11-25T11:30:01Z') }), 'RequestExpired', /expired/, 400);
  await rejects(verifySigV2(received(signed.expiresPast), lookup, opts), 'RequestExpired', /expired/);
});

test('Timestamp and Expires: neither -> MissingParameter, both -> AuthFailure, garbage -> InvalidParameterValue', async () => {
  const r = received(signed.get);
  await rejects(verifySigV2(withParam(r, 'Timestamp', undefined), lookup, opts), 'MissingParameter', /Timestamp or Expires/, 400);
  await rejects(verifySigV2({ ...r, params: [...r.params, ['Expires', '2030-01-01T00:00:00Z']] }, lookup, opts), 'AuthFailure', /not both/);
  await rejects(verifySigV2(withParam(r, 'Timestamp', 'yesterday'), lookup, opts), 'InvalidParameterValue', /Timestamp/, 400);
  await rejects(verifySigV2(withParam(r, 'Timestamp', '2026-02-30T00:00:00Z'), lookup, opts), 'InvalidParameterValue');
  // other ISO 8601 spellings of the same instant are read correctly (then fail only on the signature)
  await rejects(verifySigV2(withParam(r, 'Timestamp', '2026-11-25T12:25:41.123+01:00'), lookup, opts), 'AuthFailure', BAD_SIG);
  await rejects(verifySigV2(withParam(r, 'Timestamp', '2026-11-25T11:25:41'), lookup, opts), 'AuthFailure', BAD_SIG);
  await rejects(verifySigV2(withParam(r, 'Timestamp', '2026-11-25T12:25:41.123Z'), lookup, opts), 'RequestExpired');
});

test('SignatureVersion 0/1 or absent -> AuthFailure: only version 2 is supported', async () => {
  const r = received(signed.get);
  for (const v of ['1', '0', undefined]) {
    await rejects(verifySigV2(withParam(r, 'SignatureVersion', v), lookup, opts), 'AuthFailure', /only signature version 2 is supported/, 401);
  }
});

test('missing Signature or AWSAccessKeyId -> MissingParameter', async () => {
  const r = received(signed.get);
  await rejects(verifySigV2(withParam(r, 'Signature', undefined), lookup, opts), 'MissingParameter', /Signature/, 400);
  await rejects(verifySigV2(withParam(r, 'Signature', ''), lookup, opts), 'MissingParameter', /Signature/);
  await rejects(verifySigV2(withParam(r, 'AWSAccessKeyId', undefined), lookup, opts), 'MissingParameter', /AWSAccessKeyId/);
  await rejects(verifySigV2(withParam(r, 'SignatureMethod', undefined), lookup, opts), 'MissingParameter', /SignatureMethod/);
});

test('duplicate parameter names are refused', async () => {
  const r = received(signed.get);
  await rejects(verifySigV2({ ...r, params: [...r.params, ['GroupName', 'café']] }, lookup, opts), 'AuthFailure', /GroupName appears more than once/);
  await rejects(verifySigV2({ ...r, params: [['Signature', 'x'], ...r.params] }, lookup, opts), 'AuthFailure', /more than once/);
});

test('host: lower-cased for signing, port kept; botocore-style as-written host also accepted', async () => {
  const w = signed.upperHost;
  const r = received(w);
  assert.equal(r.host, 'EC2.Example.COM:8773');
  assert.equal(r.path, '/services/compute');
  await verifySigV2(r, lookup, opts); // botocore signed the host as written
  // boto2/euca2ools sign the lower-cased host; the Host header may be in any case
  const n = nodeSign(ACTION, { host: 'ec2.example.com:8773' });
  await verifySigV2({ ...n, host: 'EC2.EXAMPLE.com:8773' }, lookup, opts);
  await rejects(verifySigV2({ ...n, host: 'ec2.example.com' }, lookup, opts), 'AuthFailure', BAD_SIG);
  // empty path signs as "/"
  await verifySigV2({ ...nodeSign(ACTION), path: '' }, lookup, opts);
});

test('an unencoded "+" in the Signature (received as a space) still verifies', async () => {
  let r = nodeSign([['Action', 'DescribeRegions'], ['Version', '2016-11-15']]);
  for (let i = 0; !get(r, 'Signature')!.includes('+'); i++) {
    r = nodeSign([['Action', 'DescribeRegions'], ['Version', '2016-11-15'], ['Nonce', String(i)]]);
  }
  await verifySigV2(withParam(r, 'Signature', get(r, 'Signature')!.replace(/\+/g, ' ')), lookup, opts);
});

test('isSigV2 and SIGV2_AUTH_PARAMS', () => {
  assert.equal(isSigV2([['Action', 'X'], ['SignatureVersion', '2']]), true);
  assert.equal(isSigV2([['AWSAccessKeyId', 'A'], ['Signature', 's']]), true);
  assert.equal(isSigV2([['AWSAccessKeyId', 'A']]), false);
  assert.equal(isSigV2([['Action', 'X'], ['Version', '2016-11-15']]), false);
  assert.equal(isSigV2([['SignatureVersion', '2'], ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256']]), false);
  assert.equal(isSigV2([['AWSAccessKeyId', 'A'], ['Signature', 's'], ['X-Amz-Signature', 'x']]), false);
  assert.deepEqual(
    [...SIGV2_AUTH_PARAMS].sort(),
    ['AWSAccessKeyId', 'Expires', 'SecurityToken', 'Signature', 'SignatureMethod', 'SignatureVersion', 'Timestamp'],
  );
});
