// Walrus S3 API with real clients: boto3 (checksum trailers), the AWS CLI, @aws-sdk/client-s3,
// curl (presigned), and raw requests for the protocol corners (aws-chunked signatures, errors).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn, execFileSync } from 'node:child_process';
import { closePool, getPool } from '../../db/pool';
import { startTestS3, signed, raw, errCode, type TestS3 } from './helpers';

let t: TestS3;
before(async () => { t = await startTestS3(); });
after(async () => { await t?.close(); await closePool(); });

const tag = () => Date.now().toString(36) + crypto.randomBytes(2).toString('hex');

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { env: { ...process.env, ...env } });
    let out = '';
    c.stdout.on('data', (d) => (out += d)); c.stderr.on('data', (d) => (out += d));
    c.on('exit', (code) => resolve({ code: code ?? -1, out }));
  });
}

test('boto3 suite (buckets, objects, checksums, listings, versioning, multipart, ACLs, presigned, errors)', async () => {
  const r = await run('python3', [path.join(__dirname, 'boto3_suite.py')], {
    ENDPOINT: t.url, REGION: t.region, AK1: t.a.accessKeyId, SK1: t.a.secretAccessKey, AK2: t.b.accessKeyId, SK2: t.b.secretAccessKey, TAG: tag(),
  });
  assert.equal(r.code, 0, r.out);
  const passed = JSON.parse(r.out.trim().split('\n').pop()!).passed;
  assert.equal(passed.length, 11, r.out);
});

test('AWS CLI: mb, cp and sync a tree, 100 MiB multipart upload with range reads, rm, rb', async () => {
  const env = { AWS_ACCESS_KEY_ID: t.a.accessKeyId, AWS_SECRET_ACCESS_KEY: t.a.secretAccessKey, AWS_DEFAULT_REGION: t.region, AWS_ENDPOINT_URL: '', AWS_ENDPOINT_URL_S3: '' };
  const aws = async (...args: string[]) => {
    const r = await run('aws', ['--endpoint-url', t.url, ...args], env);
    assert.equal(r.code, 0, `aws ${args.join(' ')}: ${r.out}`);
    return r.out;
  };
  const b = `cli-${tag()}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'walrus-cli-'));
  try {
    await aws('s3', 'mb', `s3://${b}`);
    const tree = path.join(dir, 'tree');
    for (const f of ['a/1.txt', 'a/b/2.txt', 'c d/3.txt', '4.txt']) {
      fs.mkdirSync(path.dirname(path.join(tree, f)), { recursive: true });
      fs.writeFileSync(path.join(tree, f), `content of ${f}\n`);
    }
    await aws('s3', 'sync', tree, `s3://${b}/tree`);
    const ls = await aws('s3', 'ls', '--recursive', `s3://${b}/tree/`);
    assert.equal(ls.trim().split('\n').length, 4, ls);
    fs.writeFileSync(path.join(tree, 'a/1.txt'), 'changed!\n');
    await aws('s3', 'sync', tree, `s3://${b}/tree`);
    const back = path.join(dir, 'back');
    await aws('s3', 'sync', `s3://${b}/tree`, back);
    assert.equal(fs.readFileSync(path.join(back, 'a/1.txt'), 'utf8'), 'changed!\n');
    assert.equal(fs.readFileSync(path.join(back, 'c d/3.txt'), 'utf8'), 'content of c d/3.txt\n');

    const big = path.join(dir, 'big.bin');
    const fd = fs.openSync(big, 'w');
    const block = crypto.randomBytes(1 << 20);
    for (let i = 0; i < 100; i++) { block[0] = i; fs.writeSync(fd, block); }
    fs.closeSync(fd);
    await aws('s3', 'cp', big, `s3://${b}/big.bin`);
    const head = JSON.parse(await aws('s3api', 'head-object', '--bucket', b, '--key', 'big.bin'));
    assert.equal(head.ContentLength, 100 * 1024 * 1024);
    assert.match(head.ETag, /-\d+"$/);
    const all = fs.readFileSync(big);
    for (const [s, e] of [[0, 99], [8 * 1024 * 1024 - 5, 8 * 1024 * 1024 + 5], [100 * 1024 * 1024 - 10, 100 * 1024 * 1024 - 1]]) {
      const out = path.join(dir, `range-${s}`);
      await aws('s3api', 'get-object', '--bucket', b, '--key', 'big.bin', '--range', `bytes=${s}-${e}`, out);
      assert.ok(fs.readFileSync(out).equals(all.subarray(s, e + 1)), `range ${s}-${e}`);
    }
    await aws('s3', 'cp', `s3://${b}/big.bin`, path.join(dir, 'big.out'));
    assert.equal(crypto.createHash('md5').update(fs.readFileSync(path.join(dir, 'big.out'))).digest('hex'), crypto.createHash('md5').update(all).digest('hex'));
    await aws('s3', 'rm', '--recursive', `s3://${b}`);
    await aws('s3', 'rb', `s3://${b}`);
    const r = await run('aws', ['--endpoint-url', t.url, 's3api', 'head-bucket', '--bucket', b], env);
    assert.notEqual(r.code, 0);
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

test('@aws-sdk/client-s3: put/get/list/delete, multipart, checksums, errors', async (tt) => {
  let S3: any;
  try { S3 = require('@aws-sdk/client-s3'); } catch { tt.skip('@aws-sdk/client-s3 is not installed'); return; }
  const c = new S3.S3Client({ endpoint: t.url, region: t.region, forcePathStyle: true, credentials: { accessKeyId: t.a.accessKeyId, secretAccessKey: t.a.secretAccessKey } });
  const b = `js-${tag()}`;
  await c.send(new S3.CreateBucketCommand({ Bucket: b }));
  const put = await c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'hello.txt', Body: 'hello from js', ContentType: 'text/plain' }));
  assert.ok(put.ETag);
  for (const algo of ['CRC32', 'CRC32C', 'SHA1', 'SHA256']) {
    const r = await c.send(new S3.PutObjectCommand({ Bucket: b, Key: `ck-${algo}`, Body: Buffer.alloc(70000, 3), ChecksumAlgorithm: algo }));
    assert.ok(r[`Checksum${algo}`], algo);
    const g = await c.send(new S3.GetObjectCommand({ Bucket: b, Key: `ck-${algo}`, ChecksumMode: 'ENABLED' }));
    assert.equal((await g.Body.transformToByteArray()).length, 70000);
    assert.equal(g[`Checksum${algo}`], r[`Checksum${algo}`]);
  }
  const g = await c.send(new S3.GetObjectCommand({ Bucket: b, Key: 'hello.txt' }));
  assert.equal(await g.Body.transformToString(), 'hello from js');
  const l = await c.send(new S3.ListObjectsV2Command({ Bucket: b }));
  assert.equal(l.KeyCount, 5);
  const mp = await c.send(new S3.CreateMultipartUploadCommand({ Bucket: b, Key: 'mp' }));
  const p1 = crypto.randomBytes(5 * 1024 * 1024), p2 = crypto.randomBytes(10);
  const e1 = await c.send(new S3.UploadPartCommand({ Bucket: b, Key: 'mp', UploadId: mp.UploadId, PartNumber: 1, Body: p1 }));
  const e2 = await c.send(new S3.UploadPartCommand({ Bucket: b, Key: 'mp', UploadId: mp.UploadId, PartNumber: 2, Body: p2 }));
  await c.send(new S3.CompleteMultipartUploadCommand({ Bucket: b, Key: 'mp', UploadId: mp.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1.ETag }, { PartNumber: 2, ETag: e2.ETag }] } }));
  const r = await c.send(new S3.GetObjectCommand({ Bucket: b, Key: 'mp', Range: 'bytes=5242870-5242889' }));
  assert.ok(Buffer.from(await r.Body.transformToByteArray()).equals(Buffer.concat([p1, p2]).subarray(5242870, 5242890)));
  await assert.rejects(c.send(new S3.GetObjectCommand({ Bucket: b, Key: 'nope' })), (e: any) => e.name === 'NoSuchKey');
  await assert.rejects(c.send(new S3.DeleteBucketCommand({ Bucket: b })), (e: any) => e.name === 'BucketNotEmpty' || e.Code === 'BucketNotEmpty');
  for (const k of ['hello.txt', 'mp', 'ck-CRC32', 'ck-CRC32C', 'ck-SHA1', 'ck-SHA256']) await c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: k }));
  await c.send(new S3.DeleteBucketCommand({ Bucket: b }));
  c.destroy();
});

// ------------------------------------------------------------------ raw protocol

function chunkedSigned(body: Buffer, chunkSize: number, key: Buffer, seed: string, amzDate: string, scope: string, corrupt = false): Buffer {
  const EMPTY = crypto.createHash('sha256').update('').digest('hex');
  const out: Buffer[] = [];
  let prev = seed;
  const chunks: Buffer[] = [];
  for (let i = 0; i < body.length; i += chunkSize) chunks.push(body.subarray(i, i + chunkSize));
  chunks.push(Buffer.alloc(0));
  for (const ch of chunks) {
    const sts = ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, prev, EMPTY, crypto.createHash('sha256').update(ch).digest('hex')].join('\n');
    let sig = crypto.createHmac('sha256', key).update(sts).digest('hex');
    prev = sig;
    if (corrupt && ch.length) sig = sig.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    out.push(Buffer.from(`${ch.length.toString(16)};chunk-signature=${sig}\r\n`), ch, Buffer.from('\r\n'));
  }
  return Buffer.concat(out);
}

async function streamingPut(key: string, bucket: string, body: Buffer, corrupt: boolean) {
  const { signingKeyV4 } = await import('../../api/s3/auth');
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${t.region}/s3/aws4_request`;
  const encodedLen = chunkedSigned(body, 65536, Buffer.alloc(32), 'x'.repeat(64), amzDate, scope).length;
  const headers: Record<string, string> = {
    'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'x-amz-date': amzDate, 'content-encoding': 'aws-chunked',
    'x-amz-decoded-content-length': String(body.length), 'content-length': String(encodedLen),
  };
  const { signer } = await import('./helpers');
  const req = await signer(t.a, t.region).sign({ method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port: t.port, path: `/${bucket}/${key}`, query: {}, headers: { host: `127.0.0.1:${t.port}`, ...headers } }, { signingDate: new Date() });
  const authz = req.headers.authorization as string;
  const seed = /Signature=([0-9a-f]+)/.exec(authz)![1];
  const k = signingKeyV4(t.a.secretAccessKey, date, t.region, 's3');
  const payload = chunkedSigned(body, 65536, k, seed, req.headers['x-amz-date'] as string, scope, corrupt);
  return raw(t.url, 'PUT', `/${bucket}/${key}`, req.headers as Record<string, string>, payload);
}

test('STREAMING-AWS4-HMAC-SHA256-PAYLOAD: every chunk signature verified', async () => {
  const b = `raw-${tag()}`;
  assert.equal((await signed(t, t.a, 'PUT', `/${b}`)).status, 200);
  const body = crypto.randomBytes(200_000);
  const ok = await streamingPut('good', b, body, false);
  assert.equal(ok.status, 200, ok.body.toString());
  const g = await signed(t, t.a, 'GET', `/${b}/good`, { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' });
  assert.ok(g.body.equals(body));
  const bad = await streamingPut('bad', b, body, true);
  assert.equal(bad.status, 403); assert.equal(errCode(bad), 'SignatureDoesNotMatch');
  assert.equal((await signed(t, t.a, 'HEAD', `/${b}/bad`)).status, 404);
});

test('errors: XML bodies, codes and statuses; never a 500 for client input', async () => {
  const b = `err-${tag()}`;
  assert.equal((await signed(t, t.a, 'PUT', `/${b}`)).status, 200);
  const body = Buffer.from('some data');
  // x-amz-content-sha256 that does not match the body
  let r = await signed(t, t.a, 'PUT', `/${b}/k`, { 'x-amz-content-sha256': crypto.createHash('sha256').update('other').digest('hex') }, body);
  assert.equal(r.status, 400); assert.equal(errCode(r), 'XAmzContentSHA256Mismatch');
  r = await signed(t, t.a, 'PUT', `/${b}/k`, { 'x-amz-content-sha256': '' }, body);
  assert.equal(errCode(r), 'InvalidRequest'); // S3 wants x-amz-content-sha256 with SigV4 headers
  r = await signed(t, t.a, 'PUT', `/${b}/k`, { 'x-amz-content-sha256': crypto.createHash('sha256').update(body).digest('hex') }, body);
  assert.equal(r.status, 200, r.body.toString());
  // clock skew
  r = await signed(t, t.a, 'GET', `/${b}`, {}, undefined, { date: new Date(Date.now() - 3600_000) });
  assert.equal(r.status, 403); assert.equal(errCode(r), 'RequestTimeTooSkewed');
  // MalformedXML
  r = await signed(t, t.a, 'PUT', `/${b}`, {}, '<VersioningConfiguration><Status>Maybe', { query: { versioning: '' } });
  assert.equal(r.status, 400); assert.equal(errCode(r), 'MalformedXML');
  r = await signed(t, t.a, 'POST', `/${b}`, {}, '<Delete></Delete>', { query: { delete: '' } });
  assert.equal(errCode(r), 'MalformedXML');
  // MethodNotAllowed
  r = await signed(t, t.a, 'PATCH', `/${b}/k`);
  assert.equal(r.status, 405); assert.equal(errCode(r), 'MethodNotAllowed');
  // InvalidArgument
  r = await signed(t, t.a, 'GET', `/${b}`, {}, undefined, { query: { 'list-type': '2', 'max-keys': 'abc' } });
  assert.equal(r.status, 400); assert.equal(errCode(r), 'InvalidArgument');
  r = await signed(t, t.a, 'PUT', `/${b}/k`, { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }, 'x', { query: { partNumber: '0', uploadId: 'u' } });
  assert.equal(errCode(r), 'InvalidArgument');
  // EntityTooLarge: refused from Content-Length before reading the body
  r = await signed(t, t.a, 'PUT', `/${b}/huge`, { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(6 * 1024 ** 3) });
  assert.equal(r.status, 400); assert.equal(errCode(r), 'EntityTooLarge');
  // NoSuchBucket / NoSuchKey / AccessDenied for anonymous / InvalidBucketName
  r = await signed(t, t.a, 'GET', `/nosuch-${tag()}/k`);
  assert.equal(r.status, 404); assert.equal(errCode(r), 'NoSuchBucket');
  r = await signed(t, t.a, 'GET', `/${b}/missing`);
  assert.equal(r.status, 404); assert.equal(errCode(r), 'NoSuchKey'); assert.match(r.body.toString(), /<Key>missing<\/Key>/);
  r = await raw(t.url, 'GET', `/${b}/k`, {});
  assert.equal(r.status, 403); assert.equal(errCode(r), 'AccessDenied');
  r = await signed(t, t.a, 'PUT', '/ab');
  assert.equal(errCode(r), 'InvalidBucketName');
  // XAmzContentSHA256Mismatch: a correctly signed declared hash, a different body
  const declared = crypto.createHash('sha256').update('expected body').digest('hex');
  const { signer } = await import('./helpers');
  const req = await signer(t.a, t.region).sign({ method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port: t.port, path: `/${b}/mm`, query: {},
    headers: { host: `127.0.0.1:${t.port}`, 'x-amz-content-sha256': declared, 'content-length': '13' } });
  r = await raw(t.url, 'PUT', `/${b}/mm`, req.headers as Record<string, string>, 'another body!');
  assert.equal(r.status, 400); assert.equal(errCode(r), 'XAmzContentSHA256Mismatch');
  assert.equal((await signed(t, t.a, 'HEAD', `/${b}/mm`)).status, 404);
  // garbage: bad escapes, bad auth headers, truncated aws-chunked
  for (const [m, p, h] of [
    ['GET', '/%zz/%', {}], ['GET', `/${b}?list-type=2&prefix=%E0%A4%A`, {}], ['GET', `/${b}`, { authorization: 'AWS4-HMAC-SHA256 garbage' }],
    ['GET', `/${b}`, { authorization: 'AWS nokey' }], ['GET', `/${b}`, { authorization: 'Bearer x' }],
    ['PUT', `/${b}/x`, { authorization: 'AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=00' }],
  ] as Array<[string, string, Record<string, string>]>) {
    r = await raw(t.url, m, p, h);
    assert.ok(r.status >= 400 && r.status < 500, `${m} ${p} ${JSON.stringify(h)} -> ${r.status} ${r.body}`);
    assert.match(r.body.toString(), /<Error><Code>/);
  }
});

test('concurrent writers: new keys, one key, parts of one upload — all succeed, last writer wins', async (tt) => {
  let S3: any;
  try { S3 = require('@aws-sdk/client-s3'); } catch { tt.skip('@aws-sdk/client-s3 is not installed'); return; }
  const c = new S3.S3Client({ endpoint: t.url, region: t.region, forcePathStyle: true, maxAttempts: 1,   // no SDK retry hides a 500
    credentials: { accessKeyId: t.a.accessKeyId, secretAccessKey: t.a.secretAccessKey } });
  const b1 = `cc1-${tag()}`; const b2 = `cc2-${tag()}`;
  await c.send(new S3.CreateBucketCommand({ Bucket: b1 }));
  await c.send(new S3.CreateBucketCommand({ Bucket: b2 }));
  // 16 writers putting 600 new keys over two buckets. New keys in one index gap used to deadlock
  // (~200 times here, each retried; past the retries a 500 InternalError): MariaDB's deadlock
  // counter must stay (about) still.
  const deadlocks = async () => Number(((await getPool().query<any[]>("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'"))[0][0]).Value);
  const deadlocksBefore = await deadlocks();
  const body = Buffer.alloc(4096, 7);
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    for (let i = next++; i < 600; i = next++) {
      await c.send(new S3.PutObjectCommand({ Bucket: i % 2 ? b1 : b2, Key: `k-${String(i).padStart(4, '0')}`, Body: body }));
    }
  }));
  for (const b of [b1, b2]) {
    let n = 0; let token: string | undefined;
    do { const l = await c.send(new S3.ListObjectsV2Command({ Bucket: b, ContinuationToken: token })); n += l.KeyCount; token = l.NextContinuationToken; } while (token);
    assert.equal(n, 300, b);
  }
  assert.ok(await deadlocks() - deadlocksBefore < 10, `${await deadlocks() - deadlocksBefore} deadlocks while 16 writers put new keys`);
  // 16 PUTs of one key at once: one object, holding one of the bodies whole
  const bodies = Array.from({ length: 16 }, (_, i) => Buffer.alloc(10_000 + i, 65 + i));
  await Promise.all(bodies.map((x) => c.send(new S3.PutObjectCommand({ Bucket: b1, Key: 'same', Body: x }))));
  const got = Buffer.from(await (await c.send(new S3.GetObjectCommand({ Bucket: b1, Key: 'same' }))).Body.transformToByteArray());
  assert.ok(bodies.some((x) => x.equals(got)), 'the object is one writer\'s body, whole');
  const versions = await c.send(new S3.ListObjectVersionsCommand({ Bucket: b1, Prefix: 'same' }));
  assert.equal(versions.Versions.length, 1, 'an unversioned bucket keeps one version');
  // 8 parts of one multipart upload at once
  const up = await c.send(new S3.CreateMultipartUploadCommand({ Bucket: b2, Key: 'mp' }));
  const part = (n: number) => Buffer.alloc(n < 8 ? 5 * 1024 * 1024 : 1000, n);
  const parts = await Promise.all(Array.from({ length: 8 }, (_, i) => c.send(new S3.UploadPartCommand({ Bucket: b2, Key: 'mp', UploadId: up.UploadId, PartNumber: i + 1, Body: part(i + 1) }))
    .then((r: any) => ({ PartNumber: i + 1, ETag: r.ETag }))));
  await c.send(new S3.CompleteMultipartUploadCommand({ Bucket: b2, Key: 'mp', UploadId: up.UploadId, MultipartUpload: { Parts: parts } }));
  const head = await c.send(new S3.HeadObjectCommand({ Bucket: b2, Key: 'mp' }));
  assert.equal(head.ContentLength, 7 * 5 * 1024 * 1024 + 1000);
  assert.match(head.ETag, /-8"$/);
  for (const b of [b1, b2]) {
    for (;;) {
      const l = await c.send(new S3.ListObjectsV2Command({ Bucket: b }));
      if (!l.Contents?.length) break;
      await c.send(new S3.DeleteObjectsCommand({ Bucket: b, Delete: { Objects: l.Contents.map((o: any) => ({ Key: o.Key })) } }));
    }
    await c.send(new S3.DeleteBucketCommand({ Bucket: b }));
  }
});
