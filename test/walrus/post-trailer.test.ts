// Walrus: browser POST uploads (policy + SigV4 / SigV2 form signatures) and
// signed trailers (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER), as raw requests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { closePool } from '../../db/pool';
import { signingKeyV4, signPolicyV4, signPolicyV2 } from '../../api/s3/auth';
import { startTestS3, signed, raw, errCode, signer, type TestS3, type Acct } from './helpers';

let t: TestS3;
let bucket: string;
before(async () => {
  t = await startTestS3();
  bucket = `post-${Date.now().toString(36)}${crypto.randomBytes(2).toString('hex')}`;
  assert.equal((await signed(t, t.a, 'PUT', `/${bucket}`)).status, 200);
});
after(async () => { await t?.close(); await closePool(); });

function form(fields: Array<[string, string]>, file: { name?: string; data: Buffer; type?: string }, after: Array<[string, string]> = []) {
  const boundary = '----walrus' + crypto.randomBytes(8).toString('hex');
  const parts: Buffer[] = [Buffer.from('preamble to ignore\r\n')];
  const field = ([k, v]: [string, string]) => Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`);
  for (const f of fields) parts.push(field(f));
  parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${file.name ?? 'upload.bin'}"\r\nContent-Type: ${file.type ?? 'application/octet-stream'}\r\n\r\n`), file.data, Buffer.from('\r\n'));
  for (const f of after) parts.push(field(f));
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

const amzNow = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');

function v4Fields(acct: Acct, conditions: unknown[], opts: { expiration?: Date; extra?: Array<[string, string]>; tamper?: boolean } = {}): Array<[string, string]> {
  const amzDate = amzNow(); const date = amzDate.slice(0, 8);
  const credential = `${acct.accessKeyId}/${date}/${t.region}/s3/aws4_request`;
  const policy = Buffer.from(JSON.stringify({
    expiration: (opts.expiration ?? new Date(Date.now() + 600_000)).toISOString(),
    conditions: [...conditions, { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' }, { 'x-amz-credential': credential }, { 'x-amz-date': amzDate }],
  })).toString('base64');
  let sig = signPolicyV4(signingKeyV4(acct.secretAccessKey, date, t.region, 's3'), policy);
  if (opts.tamper) sig = sig.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  return [...(opts.extra ?? []), ['x-amz-algorithm', 'AWS4-HMAC-SHA256'], ['x-amz-credential', credential], ['x-amz-date', amzDate], ['policy', policy], ['x-amz-signature', sig]];
}

async function post(fields: Array<[string, string]>, data: Buffer, opts: { filename?: string; after?: Array<[string, string]> } = {}) {
  const f = form(fields, { data, name: opts.filename }, opts.after);
  return raw(t.url, 'POST', `/${bucket}`, { 'content-type': f.contentType, 'content-length': String(f.body.length) }, f.body);
}
const get = (key: string) => signed(t, t.a, 'GET', `/${bucket}/${key}`.split('/').map((s, i) => (i < 2 ? s : encodeURIComponent(s))).join('/'), { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' });

test('POST upload with a SigV4-signed policy: stored with its fields; 201 answers PostResponse; ${filename}', async () => {
  const data = crypto.randomBytes(300_000);
  // a body boundary-like sequence inside the file must not end it
  data.set(Buffer.from('\r\n--not-the-boundary'), 1000);
  const fields: Array<[string, string]> = [['key', 'uploads/${filename}'], ['Content-Type', 'image/png'], ['x-amz-meta-origin', 'browser'], ['success_action_status', '201'], ['acl', 'private']];
  const r = await post([...fields, ...v4Fields(t.a, [{ bucket }, ['starts-with', '$key', 'uploads/'], { 'content-type': 'image/png' }, ['starts-with', '$x-amz-meta-origin', ''],
    { success_action_status: '201' }, { acl: 'private' }, ['content-length-range', 1, 1_000_000]])], data, { filename: 'pic.png', after: [['ignored-after-file', 'x']] });
  assert.equal(r.status, 201, r.body.toString());
  assert.match(r.body.toString(), /<PostResponse[^>]*>.*<Key>uploads\/pic.png<\/Key>/s);
  const g = await get('uploads/pic.png');
  assert.equal(g.status, 200);
  assert.ok(g.body.equals(data), 'the file, byte for byte');
  assert.equal(g.headers['content-type'], 'image/png');
  assert.equal(g.headers['x-amz-meta-origin'], 'browser');
  assert.equal(g.headers.etag, `"${crypto.createHash('md5').update(data).digest('hex')}"`);
});

test('POST upload with a SigV2 policy signature, and a redirect', async () => {
  const policy = Buffer.from(JSON.stringify({ expiration: new Date(Date.now() + 60_000).toISOString(), conditions: [{ bucket }, { key: 'v2.txt' }, ['starts-with', '$success_action_redirect', 'http://example.com/']] })).toString('base64');
  const r = await post([['key', 'v2.txt'], ['AWSAccessKeyId', t.a.accessKeyId], ['policy', policy], ['signature', signPolicyV2(t.a.secretAccessKey, policy)],
    ['success_action_redirect', 'http://example.com/done']], Buffer.from('hello v2'));
  assert.equal(r.status, 303, r.body.toString());
  const loc = new URL(r.headers.location!);
  assert.equal(loc.searchParams.get('key'), 'v2.txt'); assert.equal(loc.searchParams.get('bucket'), bucket);
  assert.equal((await get('v2.txt')).body.toString(), 'hello v2');
  const bad = await post([['key', 'v2.txt'], ['AWSAccessKeyId', t.a.accessKeyId], ['policy', policy], ['signature', signPolicyV2('wrong', policy)]], Buffer.from('x'));
  assert.equal(bad.status, 403); assert.equal(errCode(bad), 'SignatureDoesNotMatch');
});

test('POST refusals: signature, expiry, conditions, extra fields, size range, anonymous, another account', async () => {
  const base = (key = 'k'): Array<[string, string]> => [['key', key]];
  const conds = [{ bucket }, ['starts-with', '$key', 'ok/']];
  const cases: Array<[string, Promise<any>, number, string]> = [
    ['bad signature', post([...base('ok/1'), ...v4Fields(t.a, conds, { tamper: true })], Buffer.from('x')), 403, 'SignatureDoesNotMatch'],
    ['expired', post([...base('ok/1'), ...v4Fields(t.a, conds, { expiration: new Date(Date.now() - 1000) })], Buffer.from('x')), 403, 'AccessDenied'],
    ['key outside the policy', post([...base('nope/1'), ...v4Fields(t.a, conds)], Buffer.from('x')), 403, 'AccessDenied'],
    ['extra field', post([...base('ok/1'), ['x-amz-meta-sneaky', '1'], ...v4Fields(t.a, conds)], Buffer.from('x')), 403, 'AccessDenied'],
    ['too large', post([...base('ok/1'), ...v4Fields(t.a, [...conds, ['content-length-range', 0, 10]])], Buffer.alloc(11)), 400, 'EntityTooLarge'],
    ['too small', post([...base('ok/1'), ...v4Fields(t.a, [...conds, ['content-length-range', 5, 10]])], Buffer.alloc(2)), 400, 'EntityTooSmall'],
    ['anonymous into a private bucket', post(base('ok/anon'), Buffer.from('x')), 403, 'AccessDenied'],
    ['another account', post([...base('ok/b'), ...v4Fields(t.b, conds)], Buffer.from('x')), 403, 'AccessDenied'],
    ['no key', post(v4Fields(t.a, conds), Buffer.from('x')), 400, 'InvalidArgument'],
    ['bad policy', post([...base('ok/1'), ['policy', 'bm90IGpzb24='], ['AWSAccessKeyId', t.a.accessKeyId], ['signature', signPolicyV2(t.a.secretAccessKey, 'bm90IGpzb24=')]], Buffer.from('x')), 400, 'InvalidPolicyDocument'],
  ];
  for (const [what, p, status, code] of cases) {
    const r = await p;
    assert.equal(r.status, status, `${what}: ${r.body}`); assert.equal(errCode(r), code, what);
  }
  assert.equal((await get('ok/1')).status, 404, 'nothing refused was stored');
  const bad = await raw(t.url, 'POST', `/${bucket}`, { 'content-type': 'multipart/form-data; boundary=zzz', 'content-length': '10' }, 'not-a-form');
  assert.equal(bad.status, 400); assert.equal(errCode(bad), 'MalformedPOSTRequest');
});

// ------------------------------------------------------------------ signed trailers

function trailerBody(body: Buffer, chunkSize: number, key: Buffer, seed: string, amzDate: string, scope: string, trailer: [string, string], corruptTrailerSig = false): Buffer {
  const EMPTY = crypto.createHash('sha256').update('').digest('hex');
  const out: Buffer[] = [];
  let prev = seed;
  const chunks: Buffer[] = [];
  for (let i = 0; i < body.length; i += chunkSize) chunks.push(body.subarray(i, i + chunkSize));
  chunks.push(Buffer.alloc(0));
  for (const ch of chunks) {
    const sts = ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, prev, EMPTY, crypto.createHash('sha256').update(ch).digest('hex')].join('\n');
    const sig = crypto.createHmac('sha256', key).update(sts).digest('hex');
    prev = sig;
    out.push(Buffer.from(`${ch.length.toString(16)};chunk-signature=${sig}\r\n`), ch);
    if (ch.length) out.push(Buffer.from('\r\n'));
  }
  const line = `${trailer[0]}:${trailer[1]}\n`;
  const sts = ['AWS4-HMAC-SHA256-TRAILER', amzDate, scope, prev, crypto.createHash('sha256').update(line).digest('hex')].join('\n');
  let tsig = crypto.createHmac('sha256', key).update(sts).digest('hex');
  if (corruptTrailerSig) tsig = tsig.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  out.push(Buffer.from(`${trailer[0]}:${trailer[1]}\r\nx-amz-trailer-signature:${tsig}\r\n\r\n`));
  return Buffer.concat(out);
}

async function trailerPut(key: string, body: Buffer, checksum: string, corruptSig = false) {
  const amzDate = amzNow(); const date = amzDate.slice(0, 8);
  const scope = `${date}/${t.region}/s3/aws4_request`;
  const trailer: [string, string] = ['x-amz-checksum-crc32', checksum];
  const len = trailerBody(body, 65536, Buffer.alloc(32), 'x'.repeat(64), amzDate, scope, trailer).length;
  const headers: Record<string, string> = {
    'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', 'x-amz-date': amzDate, 'content-encoding': 'aws-chunked',
    'x-amz-decoded-content-length': String(body.length), 'content-length': String(len), 'x-amz-trailer': 'x-amz-checksum-crc32',
  };
  const req = await signer(t.a, t.region).sign({ method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port: t.port, path: `/${bucket}/${key}`, query: {}, headers: { host: `127.0.0.1:${t.port}`, ...headers } }, { signingDate: new Date() });
  const seed = /Signature=([0-9a-f]+)/.exec(req.headers.authorization as string)![1];
  const k = signingKeyV4(t.a.secretAccessKey, date, t.region, 's3');
  return raw(t.url, 'PUT', `/${bucket}/${key}`, req.headers as Record<string, string>, trailerBody(body, 65536, k, seed, req.headers['x-amz-date'] as string, scope, trailer, corruptSig));
}

const crc32b64 = (b: Buffer) => { const o = Buffer.alloc(4); o.writeUInt32BE((zlib as any).crc32(b) >>> 0); return o.toString('base64'); };

test('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: chunk and trailer signatures and the trailing checksum verified', async () => {
  const body = crypto.randomBytes(150_000);
  const ok = await trailerPut('trailer-ok', body, crc32b64(body));
  assert.equal(ok.status, 200, ok.body.toString());
  const g = await signed(t, t.a, 'GET', `/${bucket}/trailer-ok`, { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-checksum-mode': 'ENABLED' });
  assert.ok(g.body.equals(body));
  assert.equal(g.headers['x-amz-checksum-crc32'], crc32b64(body));
  const badSig = await trailerPut('trailer-badsig', body, crc32b64(body), true);
  assert.equal(badSig.status, 403, badSig.body.toString()); assert.equal(errCode(badSig), 'SignatureDoesNotMatch');
  const badSum = await trailerPut('trailer-badsum', body, crc32b64(Buffer.from('other')));
  assert.equal(badSum.status, 400, badSum.body.toString());
  for (const k of ['trailer-badsig', 'trailer-badsum']) assert.equal((await signed(t, t.a, 'HEAD', `/${bucket}/${k}`)).status, 404, `${k} not stored`);
});
