// S3 correctness that real clients hit (S3 issue §1): XML read as XML (numeric character
// references, exact whitespace), exact keys, key and version-id limits, conditional writes,
// listing corners, multipart details, authentication details and virtual-host style by
// domain. Through @aws-sdk/client-s3, boto3 and curl, and raw signed requests where an SDK
// cannot send the hostile case. S3's documented answer is the expected one throughout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import http from 'node:http';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pino from 'pino';
import type { AddressInfo } from 'node:net';
import * as S3 from '@aws-sdk/client-s3';
import { closePool } from '../../db/pool';
import { lookupCredential } from '../../db/accounts';
import { createS3App } from '../../api/s3/index';
import { startTestS3, signed, signer, raw, errCode, type TestS3, type Acct } from './helpers';

let t: TestS3;
let c: S3.S3Client, cb: S3.S3Client;
before(async () => {
  t = await startTestS3();
  const mk = (a: Acct) => new S3.S3Client({ endpoint: t.url, region: t.region, forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: a.accessKeyId, secretAccessKey: a.secretAccessKey } });
  c = mk(t.a); cb = mk(t.b);
});
after(async () => { c?.destroy(); cb?.destroy(); await t?.close(); await closePool(); });

const tag = () => Date.now().toString(36) + crypto.randomBytes(3).toString('hex');
const enc = (k: string) => k.split('/').map(encodeURIComponent).join('/');
const body = (r: { body: Buffer }) => r.body.toString();
async function bucket(versioned = false): Promise<string> {
  const b = `cx-${tag()}`;
  await c.send(new S3.CreateBucketCommand({ Bucket: b }));
  if (versioned) await c.send(new S3.PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
  return b;
}
async function sdkErr(p: Promise<unknown>): Promise<{ name: string; status: number; headers: Record<string, string> }> {
  try { await p; } catch (e: any) { return { name: e.name ?? e.Code, status: e.$metadata?.httpStatusCode, headers: e.$response?.headers ?? {} }; }
  assert.fail('expected the call to fail');
}
const py = async (script: string, env: Record<string, string> = {}) => {
  const r = await promisify(execFile)('python3', ['-c', script], {
    env: { ...process.env, ENDPOINT: t.url, REGION: t.region, AK: t.a.accessKeyId, SK: t.a.secretAccessKey, ...env }, timeout: 60_000,
  }).catch((e) => e);
  assert.equal(r.code ?? 0, 0, `${r.stdout}\n${r.stderr}`);
  return String(r.stdout);
};
const BOTO = `import os, boto3, json\nfrom botocore.config import Config\ns3 = boto3.client('s3', endpoint_url=os.environ['ENDPOINT'], region_name=os.environ['REGION'], aws_access_key_id=os.environ['AK'], aws_secret_access_key=os.environ['SK'], config=Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 1}))\n`;

async function mpObject(b: string, key: string, parts: Buffer[], algo?: S3.ChecksumAlgorithm) {
  const up = await c.send(new S3.CreateMultipartUploadCommand({ Bucket: b, Key: key, ChecksumAlgorithm: algo }));
  const done: S3.CompletedPart[] = [];
  for (let i = 0; i < parts.length; i++) {
    const r = await c.send(new S3.UploadPartCommand({ Bucket: b, Key: key, UploadId: up.UploadId, PartNumber: i + 1, Body: parts[i], ChecksumAlgorithm: algo }));
    done.push({ PartNumber: i + 1, ETag: r.ETag, ...(algo ? { [`Checksum${algo}`]: (r as any)[`Checksum${algo}`] } : {}) });
  }
  return { uploadId: up.UploadId!, parts: done };
}

// ------------------------------------------------------------------ XML

test('XML bodies: numeric character references decode as named ones (Go clients write ETag quotes as &#34;)', async () => {
  const b = await bucket();
  const p1 = crypto.randomBytes(5 * 1024 * 1024), p2 = Buffer.from('tail');
  const { uploadId, parts } = await mpObject(b, 'go', [p1, p2]);
  // what Go's encoding/xml (rclone, minio-go, the Go AWS SDK) sends
  const xml = `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>&#34;${parts[0].ETag!.replace(/"/g, '')}&#34;</ETag><PartNumber>1</PartNumber></Part>` +
    `<Part><ETag>&#x22;${parts[1].ETag!.replace(/"/g, '')}&#x22;</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>`;
  let r = await signed(t, t.a, 'POST', `/${b}/go`, {}, xml, { query: { uploadId } });
  assert.equal(r.status, 200, body(r));
  const g = await c.send(new S3.GetObjectCommand({ Bucket: b, Key: 'go' }));
  assert.ok(Buffer.from(await g.Body!.transformToByteArray()).equals(Buffer.concat([p1, p2])));
  // tagging, versioning and ACL bodies go through the same parser
  r = await signed(t, t.a, 'PUT', `/${b}/go`, {}, '<Tagging><TagSet><Tag><Key>k&#43;1</Key><Value> x&#x3D;y </Value></Tag></TagSet></Tagging>', { query: { tagging: '' } });
  assert.equal(r.status, 200, body(r));
  const tags = await c.send(new S3.GetObjectTaggingCommand({ Bucket: b, Key: 'go' }));
  assert.deepEqual(tags.TagSet, [{ Key: 'k+1', Value: ' x=y ' }]);
  r = await signed(t, t.a, 'PUT', `/${b}`, {}, '<VersioningConfiguration>\n  <Status>En&#97;bled</Status>\n</VersioningConfiguration>', { query: { versioning: '' } });
  assert.equal(r.status, 200, body(r));
  assert.equal((await c.send(new S3.GetBucketVersioningCommand({ Bucket: b }))).Status, 'Enabled');
  r = await signed(t, t.a, 'PUT', `/${b}`, {}, `<AccessControlPolicy><Owner><ID>${t.a.accountId}</ID></Owner><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>&#82;EAD</Permission></Grant></AccessControlList></AccessControlPolicy>`, { query: { acl: '' } });
  assert.equal(r.status, 200, body(r));
  assert.ok((await c.send(new S3.GetBucketAclCommand({ Bucket: b }))).Grants!.some((x) => x.Grantee?.URI?.endsWith('AllUsers') && x.Permission === 'READ'));
  // what XML does not allow stays MalformedXML: undefined entities, a DTD, NUL, lone surrogates
  for (const bad of ['<Tagging><TagSet><Tag><Key>&nbsp;</Key><Value/></Tag></TagSet></Tagging>', '<!DOCTYPE t [<!ENTITY e "x">]><Tagging><TagSet><Tag><Key>&e;</Key><Value/></Tag></TagSet></Tagging>',
    '<Tagging><TagSet><Tag><Key>a&#0;</Key><Value/></Tag></TagSet></Tagging>', '<Tagging><TagSet><Tag><Key>a&#xD800;</Key><Value/></Tag></TagSet></Tagging>', '<Tagging><TagSet><Tag><Key>a & b</Key></Tag></TagSet></Tagging>']) {
    r = await signed(t, t.a, 'PUT', `/${b}/go`, {}, bad, { query: { tagging: '' } });
    assert.equal(errCode(r), 'MalformedXML', bad);
  }
});

test('rclone-style Complete: &#34;-quoted ETags with minio-go part layout and whitespace between elements', async () => {
  const b = await bucket();
  const { uploadId, parts } = await mpObject(b, 'k', [crypto.randomBytes(5 * 1024 * 1024), Buffer.from('x')]);
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\n` +
    parts.map((p) => `  <Part>\n    <PartNumber>${p.PartNumber}</PartNumber>\n    <ETag>${p.ETag!.replace(/"/g, '&#34;')}</ETag>\n  </Part>\n`).join('') + '</CompleteMultipartUpload>\n';
  const r = await signed(t, t.a, 'POST', `/${b}/k`, {}, xml, { query: { uploadId } });
  assert.equal(r.status, 200, body(r));
  assert.match(body(r), /<ETag>&quot;[0-9a-f]{32}-2&quot;<\/ETag>/);
});

// ------------------------------------------------------------------ keys

test('DeleteObjects keys are exact: spaces, line ends, quotes and control characters are part of the key', async () => {
  const b = await bucket();
  const keys = ['_', '_ ', ' ', ' lead', 'trail ', 'two  spaces', 'a\nb', 'a\rb', 'a\r\nb', 'tab\t', 'q"uote\'s', 'amp&<lt>', 'x\u0001y', 'ünï/cödé'];
  for (const k of keys) await c.send(new S3.PutObjectCommand({ Bucket: b, Key: k, Body: `body of ${JSON.stringify(k)}` }));
  const listed = async () => ((await c.send(new S3.ListObjectsV2Command({ Bucket: b }))).Contents ?? []).map((o) => o.Key!).sort();
  assert.deepEqual(await listed(), [...keys].sort());
  // the JS SDK escapes \r and \n as references and sends the rest as text
  const sdkDel = ['_ ', 'a\rb', 'a\nb', 'x\u0001y'];
  const r1 = await c.send(new S3.DeleteObjectsCommand({ Bucket: b, Delete: { Objects: sdkDel.map((Key) => ({ Key })) } }));
  assert.deepEqual((r1.Deleted ?? []).map((d) => d.Key).sort(), [...sdkDel].sort());
  assert.equal(r1.Errors, undefined);
  // boto3 writes them as raw text (its ElementTree escapes only & < >)
  const out = await py(BOTO + `r = s3.delete_objects(Bucket='${b}', Delete={'Objects': [{'Key': ' '}, {'Key': ' lead'}, {'Key': 'trail '}, {'Key': 'a\\r\\nb'}, {'Key': 'tab\\t'}]})\nprint(json.dumps(sorted(d['Key'] for d in r['Deleted'])))`);
  assert.deepEqual(JSON.parse(out.trim().split('\n').pop()!), [' ', ' lead', 'a\r\nb', 'tab\t', 'trail '].sort());
  // raw XML with references for the rest
  const xml = '<Delete><Object><Key>q&#34;uote&apos;s</Key></Object><Object><Key>amp&amp;&lt;lt&gt;</Key></Object><Object><Key>two  spaces</Key></Object></Delete>';
  const r = await signed(t, t.a, 'POST', `/${b}`, { 'content-md5': crypto.createHash('md5').update(xml).digest('base64') }, xml, { query: { delete: '' } });
  assert.equal(r.status, 200, body(r));
  // exactly the named keys went; '_' (what '_ ' trimmed to) is untouched
  assert.deepEqual(await listed(), ['_', 'ünï/cödé']);
  const g = await c.send(new S3.GetObjectCommand({ Bucket: b, Key: '_' }));
  assert.equal(await g.Body!.transformToString(), 'body of "_"');
  // an empty key is still malformed
  const e = await signed(t, t.a, 'POST', `/${b}`, {}, '<Delete><Object><Key></Key></Object></Delete>', { query: { delete: '' } });
  assert.equal(errCode(e), 'MalformedXML');
});

test('a key over 1024 bytes is KeyTooLongError on every operation; a version id with control characters is InvalidArgument', async () => {
  for (const versioned of [false, true]) {
    const b = await bucket(versioned);
    const long = 'k'.repeat(1025), max = 'é'.repeat(512);   // 1025 bytes; 1024 bytes
    const ops: Array<[string, string, Record<string, string>, string | undefined]> = [
      ['PUT', '', {}, 'x'], ['GET', '', {}, undefined], ['HEAD', '', {}, undefined], ['DELETE', '', {}, undefined],
      ['POST', '?uploads', {}, undefined], ['GET', '?tagging', {}, undefined], ['PUT', '', { 'x-amz-copy-source': `/${b}/src` }, undefined],
    ];
    await c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'src', Body: 'src' }));
    for (const [m, sub, h, data] of ops) {
      const q: Record<string, string> = sub ? { [sub.slice(1)]: '' } : {};
      const r = await signed(t, t.a, m, `/${b}/${long}`, h, data, { query: q });
      assert.equal(r.status, 400, `${m} ${sub} (versioned ${versioned}): ${r.status} ${body(r)}`);
      if (m !== 'HEAD') assert.equal(errCode(r), 'KeyTooLongError', `${m} ${sub}`);
    }
    // a copy source key too long
    const r = await signed(t, t.a, 'PUT', `/${b}/dst`, { 'x-amz-copy-source': `/${b}/${long}` });
    assert.equal(errCode(r), 'KeyTooLongError');
    // 1024 bytes is a key like any other
    await c.send(new S3.PutObjectCommand({ Bucket: b, Key: max, Body: 'max' }));
    assert.equal(await (await c.send(new S3.GetObjectCommand({ Bucket: b, Key: max }))).Body!.transformToString(), 'max');
    await c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: max }));
    // DeleteObjects answers per key
    const d = await c.send(new S3.DeleteObjectsCommand({ Bucket: b, Delete: { Objects: [{ Key: long }, { Key: 'src' }] } }));
    assert.deepEqual(d.Errors?.map((e) => [e.Key, e.Code]), [[long, 'KeyTooLongError']]);
    assert.deepEqual(d.Deleted?.map((x) => x.Key), ['src']);
    // version ids S3 could never have made
    for (const vid of ['a\u0001b', 'line\nend', 'nul\u0000', ' ', 'ünï']) {
      for (const m of ['GET', 'HEAD', 'DELETE']) {
        const v = await signed(t, t.a, m, `/${b}/src`, {}, undefined, { query: { versionId: vid } });
        assert.equal(v.status, 400, `${m} versionId=${JSON.stringify(vid)}: ${v.status} ${body(v)}`);
        if (m !== 'HEAD') assert.equal(errCode(v), 'InvalidArgument');
      }
    }
    const dv = await signed(t, t.a, 'POST', `/${b}`, {}, '<Delete><Object><Key>src</Key><VersionId>a&#1;b</VersionId></Object></Delete>', { query: { delete: '' } });
    assert.equal(dv.status, 200, body(dv));
    assert.match(body(dv), /<Error><Key>src<\/Key><VersionId>a&#x1;b<\/VersionId><Code>InvalidArgument<\/Code>/);
  }
});

// ------------------------------------------------------------------ conditional writes

test('conditional writes: If-None-Match: * and If-Match on PutObject and CompleteMultipartUpload', async () => {
  const b = await bucket(true);
  const first = await c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'k', Body: 'one', IfNoneMatch: '*' }));
  let e = await sdkErr(c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'k', Body: 'two', IfNoneMatch: '*' })));
  assert.deepEqual([e.name, e.status], ['PreconditionFailed', 412]);
  e = await sdkErr(c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'k', Body: 'two', IfMatch: '"0123456789abcdef0123456789abcdef"' })));
  assert.deepEqual([e.name, e.status], ['PreconditionFailed', 412]);
  const second = await c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'k', Body: 'two', IfMatch: first.ETag }));
  assert.equal(await (await c.send(new S3.GetObjectCommand({ Bucket: b, Key: 'k' }))).Body!.transformToString(), 'two');
  e = await sdkErr(c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'nothing-here', Body: 'x', IfMatch: second.ETag })));
  assert.deepEqual([e.name, e.status], ['NoSuchKey', 404]);
  // a delete marker is no object: If-None-Match passes, If-Match has nothing to match
  await c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  e = await sdkErr(c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x', IfMatch: second.ETag })));
  assert.equal(e.status, 404);
  await c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'k', Body: 'three', IfNoneMatch: '*' }));
  // If-None-Match with an ETag is not a write condition S3 has
  const r = await signed(t, t.a, 'PUT', `/${b}/k`, { 'if-none-match': '"abc"' }, 'x');
  assert.equal(r.status, 501);
  // CompleteMultipartUpload
  const mp = await mpObject(b, 'k', [Buffer.from('part')]);
  e = await sdkErr(c.send(new S3.CompleteMultipartUploadCommand({ Bucket: b, Key: 'k', UploadId: mp.uploadId, MultipartUpload: { Parts: mp.parts }, IfNoneMatch: '*' })));
  assert.deepEqual([e.name, e.status], ['PreconditionFailed', 412]);
  e = await sdkErr(c.send(new S3.CompleteMultipartUploadCommand({ Bucket: b, Key: 'k', UploadId: mp.uploadId, MultipartUpload: { Parts: mp.parts }, IfMatch: '"ffffffffffffffffffffffffffffffff"' })));
  assert.deepEqual([e.name, e.status], ['PreconditionFailed', 412]);
  const cur = await c.send(new S3.HeadObjectCommand({ Bucket: b, Key: 'k' }));
  await c.send(new S3.CompleteMultipartUploadCommand({ Bucket: b, Key: 'k', UploadId: mp.uploadId, MultipartUpload: { Parts: mp.parts }, IfMatch: cur.ETag }));
  assert.equal(await (await c.send(new S3.GetObjectCommand({ Bucket: b, Key: 'k' }))).Body!.transformToString(), 'part');
  const mp2 = await mpObject(b, 'fresh', [Buffer.from('new')]);
  await c.send(new S3.CompleteMultipartUploadCommand({ Bucket: b, Key: 'fresh', UploadId: mp2.uploadId, MultipartUpload: { Parts: mp2.parts }, IfNoneMatch: '*' }));
});

/** A signed PUT whose body arrives in two halves, the second when `release` resolves. */
function slowPut(b: string, key: string, data: Buffer, headers: Record<string, string>, release: Promise<void>): Promise<{ status: number; body: string }> {
  return (async () => {
    const h = { host: `127.0.0.1:${t.port}`, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(data.length), ...headers };
    const req = await signer(t.a, t.region).sign({ method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port: t.port, path: `/${b}/${key}`, query: {}, headers: h });
    return new Promise((resolve, reject) => {
      const hr = http.request(`${t.url}/${b}/${key}`, { method: 'PUT', headers: req.headers as Record<string, string>, agent: false }, (res) => {
        let s = ''; res.on('data', (d) => (s += d)); res.on('end', () => resolve({ status: res.statusCode!, body: s }));
      });
      hr.on('error', reject);
      hr.write(data.subarray(0, data.length >> 1));
      release.then(() => hr.end(data.subarray(data.length >> 1)));
    });
  })();
}

test('conditional writes racing: of 6 If-None-Match: * PUTs in flight at once one wins, the rest get 409 ConditionalRequestConflict', async () => {
  const b = await bucket();
  let go!: () => void;
  const release = new Promise<void>((r) => (go = r));
  const bodies = Array.from({ length: 6 }, (_, i) => Buffer.alloc(256 * 1024, 65 + i));
  const puts = bodies.map((x) => slowPut(b, 'race', x, { 'if-none-match': '*' }, release));
  await new Promise((r) => setTimeout(r, 500));   // every request has passed its start check
  go();
  const res = await Promise.all(puts);
  const statuses = res.map((r) => r.status).sort();
  assert.deepEqual(statuses, [200, 409, 409, 409, 409, 409], JSON.stringify(res));
  assert.ok(res.filter((r) => r.status === 409).every((r) => /<Code>ConditionalRequestConflict<\/Code>/.test(r.body)));
  const got = Buffer.from(await (await c.send(new S3.GetObjectCommand({ Bucket: b, Key: 'race' }))).Body!.transformToByteArray());
  assert.ok(got.equals(bodies[res.findIndex((r) => r.status === 200)]), 'the winner\'s body');
  // If-Match racing: both saw the same ETag, one commit changes it, the other conflicts
  const etag = (await c.send(new S3.HeadObjectCommand({ Bucket: b, Key: 'race' }))).ETag!;
  let go2!: () => void;
  const release2 = new Promise<void>((r) => (go2 = r));
  const two = [0, 1].map((i) => slowPut(b, 'race', Buffer.alloc(1000, 48 + i), { 'if-match': etag }, release2));
  await new Promise((r) => setTimeout(r, 300));
  go2();
  assert.deepEqual((await Promise.all(two)).map((r) => r.status).sort(), [200, 409]);
});

// ------------------------------------------------------------------ listings

test('listings: max-keys=0, an empty continuation token, encoding-type=url with control characters', async () => {
  const b = await bucket();
  const keys = ['a/1', 'a/2', 'b', 'c\u0001d/x', 'c\u0001d/y', 'p\u0002q', 'sp ace+plus'];
  for (const k of keys) await c.send(new S3.PutObjectCommand({ Bucket: b, Key: k, Body: 'x' }));
  // max-keys=0: nothing, and not truncated (a paginator would otherwise loop on a missing token)
  for (const listType of ['2', undefined]) {
    const r = await signed(t, t.a, 'GET', `/${b}`, {}, undefined, { query: { 'max-keys': '0', ...(listType ? { 'list-type': listType } : {}) } });
    assert.match(body(r), /<IsTruncated>false<\/IsTruncated>/, body(r));
    assert.doesNotMatch(body(r), /<Contents>|NextContinuationToken|NextMarker/);
  }
  const l0 = await c.send(new S3.ListObjectsV2Command({ Bucket: b, MaxKeys: 0 }));
  assert.deepEqual([l0.KeyCount, l0.IsTruncated], [0, false]);
  // an empty continuation token is the first page
  let r = await signed(t, t.a, 'GET', `/${b}`, {}, undefined, { query: { 'list-type': '2', 'continuation-token': '' } });
  assert.equal(r.status, 200, body(r));
  assert.match(body(r), /<ContinuationToken><\/ContinuationToken>|<ContinuationToken\/>/);
  assert.equal((body(r).match(/<Contents>/g) ?? []).length, keys.length);
  // encoding-type=url: keys, prefixes, delimiters and markers that XML 1.0 cannot carry
  r = await signed(t, t.a, 'GET', `/${b}`, {}, undefined, { query: { 'list-type': '2', prefix: 'c\u0001', delimiter: '/', 'encoding-type': 'url', 'start-after': 'c\u0001' } });
  assert.equal(r.status, 200, body(r));
  assert.match(body(r), /<Prefix>c%01<\/Prefix>/);
  assert.match(body(r), /<Delimiter>%2F<\/Delimiter>|<Delimiter>\/<\/Delimiter>/);
  assert.match(body(r), /<CommonPrefixes><Prefix>c%01d\/<\/Prefix><\/CommonPrefixes>/);
  assert.match(body(r), /<StartAfter>c%01<\/StartAfter>/);
  assert.doesNotMatch(body(r), /[\u0001\u0002]|&#x1;/);
  r = await signed(t, t.a, 'GET', `/${b}`, {}, undefined, { query: { prefix: 'p', delimiter: '\u0002', 'encoding-type': 'url', marker: 'a\u0001' } });
  assert.match(body(r), /<Delimiter>%02<\/Delimiter>/, body(r));
  assert.match(body(r), /<Marker>a%01<\/Marker>/);
  assert.match(body(r), /<CommonPrefixes><Prefix>p%02<\/Prefix><\/CommonPrefixes>/);
  r = await signed(t, t.a, 'GET', `/${b}`, {}, undefined, { query: { versions: '', prefix: 'c\u0001', delimiter: '/', 'encoding-type': 'url', 'key-marker': 'b\u0001' } });
  assert.match(body(r), /<KeyMarker>b%01<\/KeyMarker>/, body(r));
  assert.match(body(r), /<CommonPrefixes><Prefix>c%01d\/<\/Prefix><\/CommonPrefixes>/);
  // boto3 asks for encoding-type=url by itself (and then decodes) when the caller does not
  const out = await py(BOTO + `r = s3.list_objects_v2(Bucket='${b}', Prefix='c\\x01', Delimiter='/')\nprint(json.dumps([r['Prefix'], [p['Prefix'] for p in r['CommonPrefixes']]]))\n` +
    `r = s3.list_objects(Bucket='${b}', Delimiter='\\x02')\nprint(json.dumps([p['Prefix'] for p in r['CommonPrefixes']] + [k['Key'] for k in r['Contents']]))`);
  const [v2, v1] = out.trim().split('\n').slice(-2).map((l) => JSON.parse(l));
  assert.deepEqual(v2, ['c\u0001', ['c\u0001d/']]);
  assert.deepEqual(v1, ['p\u0002', 'a/1', 'a/2', 'b', 'c\u0001d/x', 'c\u0001d/y', 'sp ace+plus']);
});

test('ListBuckets pages with max-buckets and continuation-token, filters by prefix (AWS CLI and the JS SDK)', async () => {
  const pre = `lb-${tag()}-`;
  const names = ['a', 'b', 'c', 'd', 'e'].map((x) => pre + x);
  for (const n of names) await c.send(new S3.CreateBucketCommand({ Bucket: n }));
  const seen: string[] = []; let token: string | undefined; let pages = 0;
  do {
    const r = await c.send(new S3.ListBucketsCommand({ MaxBuckets: 2, Prefix: pre, ContinuationToken: token }));
    assert.ok((r.Buckets ?? []).length <= 2); assert.equal(r.Prefix, pre);
    seen.push(...(r.Buckets ?? []).map((x) => x.Name!)); token = r.ContinuationToken; pages++;
  } while (token);
  assert.deepEqual(seen, names); assert.equal(pages, 3);
  const all = await c.send(new S3.ListBucketsCommand({}));
  assert.ok(names.every((n) => all.Buckets!.some((x) => x.Name === n)));
  assert.equal(all.ContinuationToken, undefined);
  const r = await signed(t, t.a, 'GET', '/', {}, undefined, { query: { 'max-buckets': '0' } });
  assert.equal(errCode(r), 'InvalidArgument');
  const bad = await signed(t, t.a, 'GET', '/', {}, undefined, { query: { 'continuation-token': 'garbage!' } });
  assert.equal(errCode(bad), 'InvalidArgument');
  // the AWS CLI paginates by itself
  const cli = await promisify(execFile)('aws', ['--endpoint-url', t.url, 's3api', 'list-buckets', '--prefix', pre, '--max-items', '10', '--page-size', '2', '--output', 'json'], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: t.a.accessKeyId, AWS_SECRET_ACCESS_KEY: t.a.secretAccessKey, AWS_DEFAULT_REGION: t.region, AWS_ENDPOINT_URL: '', AWS_ENDPOINT_URL_S3: '' },
  }).catch((e) => e);
  if (!/Unknown options|page-size/.test(String(cli.stderr))) assert.deepEqual(JSON.parse(cli.stdout).Buckets.map((x: any) => x.Name), names, String(cli.stderr));
  for (const n of names) await c.send(new S3.DeleteBucketCommand({ Bucket: n }));
});

test('ListMultipartUploads with a prefix and a delimiter: common prefixes, pages', async () => {
  const b = await bucket();
  const ids: Record<string, string> = {};
  for (const k of ['logs/2024/a', 'logs/2024/b', 'logs/2025/a', 'logs/top', 'other/x', 'logs/2025/b']) {
    ids[k] = (await c.send(new S3.CreateMultipartUploadCommand({ Bucket: b, Key: k }))).UploadId!;
  }
  const r = await c.send(new S3.ListMultipartUploadsCommand({ Bucket: b, Prefix: 'logs/', Delimiter: '/' }));
  assert.deepEqual(r.CommonPrefixes?.map((p) => p.Prefix), ['logs/2024/', 'logs/2025/']);
  assert.deepEqual(r.Uploads?.map((u) => u.Key), ['logs/top']);
  assert.equal(r.Delimiter, '/'); assert.equal(r.Prefix, 'logs/');
  const p1 = await c.send(new S3.ListMultipartUploadsCommand({ Bucket: b, Prefix: 'logs/', Delimiter: '/', MaxUploads: 1 }));
  assert.equal(p1.IsTruncated, true); assert.deepEqual(p1.CommonPrefixes?.map((p) => p.Prefix), ['logs/2024/']);
  const p2 = await c.send(new S3.ListMultipartUploadsCommand({ Bucket: b, Prefix: 'logs/', Delimiter: '/', KeyMarker: p1.NextKeyMarker, UploadIdMarker: p1.NextUploadIdMarker }));
  assert.deepEqual(p2.CommonPrefixes?.map((p) => p.Prefix), ['logs/2025/']);
  assert.deepEqual(p2.Uploads?.map((u) => u.Key), ['logs/top']);
  const deep = await c.send(new S3.ListMultipartUploadsCommand({ Bucket: b, Prefix: 'logs/2025/' }));
  assert.deepEqual(deep.Uploads?.map((u) => u.Key), ['logs/2025/a', 'logs/2025/b']);
  for (const [k, id] of Object.entries(ids)) await c.send(new S3.AbortMultipartUploadCommand({ Bucket: b, Key: k, UploadId: id }));
});

// ------------------------------------------------------------------ multipart

test('GetObject and HeadObject with partNumber answer the part: 206, its Content-Range, the parts count', async () => {
  const b = await bucket();
  const parts = [crypto.randomBytes(5 * 1024 * 1024), crypto.randomBytes(5 * 1024 * 1024 + 7), Buffer.from('last part')];
  const { uploadId, parts: done } = await mpObject(b, 'mp', parts, 'CRC32');
  await c.send(new S3.CompleteMultipartUploadCommand({ Bucket: b, Key: 'mp', UploadId: uploadId, MultipartUpload: { Parts: done } }));
  const total = parts.reduce((n, p) => n + p.length, 0);
  let off = 0;
  for (let i = 0; i < parts.length; i++) {
    const h = await c.send(new S3.HeadObjectCommand({ Bucket: b, Key: 'mp', PartNumber: i + 1 }));
    assert.equal(h.ContentLength, parts[i].length); assert.equal(h.PartsCount, 3);
    assert.equal(h.ContentRange, `bytes ${off}-${off + parts[i].length - 1}/${total}`);
    assert.match(h.ETag!, /-3"$/);
    const g = await c.send(new S3.GetObjectCommand({ Bucket: b, Key: 'mp', PartNumber: i + 1, ChecksumMode: 'ENABLED' }));
    assert.equal(g.$metadata.httpStatusCode, 206);
    assert.ok(Buffer.from(await g.Body!.transformToByteArray()).equals(parts[i]), `part ${i + 1}`);
    assert.equal(g.ChecksumCRC32, (done[i] as any).ChecksumCRC32, 'the part\'s own checksum');
    off += parts[i].length;
  }
  let e = await sdkErr(c.send(new S3.GetObjectCommand({ Bucket: b, Key: 'mp', PartNumber: 4 })));
  assert.equal(e.status, 416);
  e = await sdkErr(c.send(new S3.GetObjectCommand({ Bucket: b, Key: 'mp', PartNumber: 1, Range: 'bytes=0-1' })));
  assert.equal(e.status, 400);
  // a single-part object is its own part 1
  await c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'single', Body: 'whole' }));
  assert.equal(await (await c.send(new S3.GetObjectCommand({ Bucket: b, Key: 'single', PartNumber: 1 }))).Body!.transformToString(), 'whole');
});

test('CompleteMultipartUpload of a completed upload answers 200 with the same result', async () => {
  const b = await bucket(true);
  const { uploadId, parts } = await mpObject(b, 'k', [crypto.randomBytes(5 * 1024 * 1024), Buffer.from('end')]);
  const cmd = () => new S3.CompleteMultipartUploadCommand({ Bucket: b, Key: 'k', UploadId: uploadId, MultipartUpload: { Parts: parts } });
  const first = await c.send(cmd());
  const again = await c.send(cmd());
  assert.deepEqual([again.ETag, again.VersionId, again.Key, again.Bucket], [first.ETag, first.VersionId, first.Key, first.Bucket]);
  // other parts, or another key, are no such upload
  let e = await sdkErr(c.send(new S3.CompleteMultipartUploadCommand({ Bucket: b, Key: 'k', UploadId: uploadId, MultipartUpload: { Parts: parts.slice(0, 1) } })));
  assert.equal(e.name, 'NoSuchUpload');
  e = await sdkErr(c.send(new S3.CompleteMultipartUploadCommand({ Bucket: b, Key: 'other', UploadId: uploadId, MultipartUpload: { Parts: parts } })));
  assert.equal(e.name, 'NoSuchUpload');
  e = await sdkErr(c.send(new S3.UploadPartCommand({ Bucket: b, Key: 'k', UploadId: uploadId, PartNumber: 1, Body: 'x' })));
  assert.equal(e.name, 'NoSuchUpload');
});

test('an upload\'s Initiator and Owner are who started it', async () => {
  const b = await bucket();
  await c.send(new S3.PutBucketAclCommand({ Bucket: b, ACL: 'public-read-write' }));
  const up = await cb.send(new S3.CreateMultipartUploadCommand({ Bucket: b, Key: 'from-b' }));
  await cb.send(new S3.UploadPartCommand({ Bucket: b, Key: 'from-b', UploadId: up.UploadId, PartNumber: 1, Body: 'x' }));
  const lp = await cb.send(new S3.ListPartsCommand({ Bucket: b, Key: 'from-b', UploadId: up.UploadId }));
  // the initiator: the account, or (a key of an IAM user, as these accounts' keys are) the user's ARN
  const who = (id: string | undefined, acct: string) => id === acct || new RegExp(`^arn:aws:iam::${acct}:user/`).test(id ?? '');
  assert.ok(who(lp.Initiator?.ID, t.b.accountId), lp.Initiator?.ID); assert.equal(lp.Owner?.ID, t.b.accountId);
  const lu = await c.send(new S3.ListMultipartUploadsCommand({ Bucket: b }));
  assert.ok(who(lu.Uploads?.[0].Initiator?.ID, t.b.accountId)); assert.deepEqual(lu.Uploads?.map((u) => u.Owner?.ID), [t.b.accountId]);
  const mine = await c.send(new S3.CreateMultipartUploadCommand({ Bucket: b, Key: 'from-a' }));
  const la = await c.send(new S3.ListPartsCommand({ Bucket: b, Key: 'from-a', UploadId: mine.UploadId }));
  assert.ok(who(la.Initiator?.ID, t.a.accountId)); assert.equal(la.Owner?.ID, t.a.accountId);
  await cb.send(new S3.AbortMultipartUploadCommand({ Bucket: b, Key: 'from-b', UploadId: up.UploadId }));
  await c.send(new S3.AbortMultipartUploadCommand({ Bucket: b, Key: 'from-a', UploadId: mine.UploadId }));
});

test('UploadPartCopy with a range the source does not hold is InvalidRange', async () => {
  const b = await bucket();
  await c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'src', Body: Buffer.alloc(100, 1) }));
  const up = await c.send(new S3.CreateMultipartUploadCommand({ Bucket: b, Key: 'dst' }));
  for (const range of ['bytes=0-100', 'bytes=100-120', 'bytes=50-10']) {
    const e = await sdkErr(c.send(new S3.UploadPartCopyCommand({ Bucket: b, Key: 'dst', UploadId: up.UploadId, PartNumber: 1, CopySource: `${b}/src`, CopySourceRange: range })));
    assert.deepEqual([e.name, e.status], ['InvalidRange', 416], range);
  }
  const e = await sdkErr(c.send(new S3.UploadPartCopyCommand({ Bucket: b, Key: 'dst', UploadId: up.UploadId, PartNumber: 1, CopySource: `${b}/src`, CopySourceRange: 'bytes=abc' })));
  assert.equal(e.name, 'InvalidArgument');
  const ok = await c.send(new S3.UploadPartCopyCommand({ Bucket: b, Key: 'dst', UploadId: up.UploadId, PartNumber: 1, CopySource: `${b}/src`, CopySourceRange: 'bytes=0-99' }));
  assert.ok(ok.CopyPartResult?.ETag);
});

test('a part uploaded again while others are in flight and while Complete runs: one whole part, never a mix', async () => {
  const b = await bucket();
  const up = await c.send(new S3.CreateMultipartUploadCommand({ Bucket: b, Key: 'k' }));
  const bodies = Array.from({ length: 6 }, (_, i) => Buffer.alloc(5 * 1024 * 1024 + i, 97 + i));
  const rs = await Promise.all(bodies.map((x) => c.send(new S3.UploadPartCommand({ Bucket: b, Key: 'k', UploadId: up.UploadId, PartNumber: 1, Body: x }))));
  const lp = await c.send(new S3.ListPartsCommand({ Bucket: b, Key: 'k', UploadId: up.UploadId }));
  assert.equal(lp.Parts?.length, 1);
  const winner = bodies.findIndex((x) => `"${crypto.createHash('md5').update(x).digest('hex')}"` === lp.Parts![0].ETag);
  assert.ok(winner >= 0, 'the stored part is one of the bodies');
  assert.equal(lp.Parts![0].Size, bodies[winner].length);
  assert.ok(rs.some((r) => r.ETag === lp.Parts![0].ETag));
  // only one part file is left of the six
  const files = () => fs.readdirSync(path.join(t.dataDir, 'data'), { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).length;
  const before = files();
  // Complete with the listed part while part 1 is uploaded again: either the object is the
  // part Complete named, whole, or Complete is refused; never bytes of another body
  const tail = await c.send(new S3.UploadPartCommand({ Bucket: b, Key: 'k', UploadId: up.UploadId, PartNumber: 2, Body: 'tail' }));
  const complete = c.send(new S3.CompleteMultipartUploadCommand({ Bucket: b, Key: 'k', UploadId: up.UploadId,
    MultipartUpload: { Parts: [{ PartNumber: 1, ETag: lp.Parts![0].ETag }, { PartNumber: 2, ETag: tail.ETag }] } })).then(() => 'ok', (e) => e.name);
  const again = c.send(new S3.UploadPartCommand({ Bucket: b, Key: 'k', UploadId: up.UploadId, PartNumber: 1, Body: Buffer.alloc(5 * 1024 * 1024, 122) })).then(() => 'ok', (e) => e.name);
  const [cr, ar] = await Promise.all([complete, again]);
  if (cr === 'ok') {
    const got = Buffer.from(await (await c.send(new S3.GetObjectCommand({ Bucket: b, Key: 'k' }))).Body!.transformToByteArray());
    assert.ok(got.equals(Buffer.concat([bodies[winner], Buffer.from('tail')])), 'the object is the named part and the tail');
    assert.ok(ar === 'ok' || ar === 'NoSuchUpload', ar);
  } else assert.ok(['InvalidPart'].includes(cr), cr);
  assert.ok(files() <= before + 2, `${files()} files after, ${before} before`);
});

test('a composite checksum that does not match the parts fails CompleteMultipartUpload', async () => {
  const b = await bucket();
  const parts = [crypto.randomBytes(5 * 1024 * 1024), Buffer.from('two')];
  const { uploadId, parts: done } = await mpObject(b, 'k', parts, 'CRC32');
  // the composite: CRC32 of the parts' CRC32s, "-N"
  const crc = (x: Buffer) => { const o = Buffer.alloc(4); o.writeUInt32BE((zlib as any).crc32(x) >>> 0); return o; };
  const composite = `${crc(Buffer.concat(parts.map(crc))).toString('base64')}-2`;
  const e = await sdkErr(c.send(new S3.CompleteMultipartUploadCommand({ Bucket: b, Key: 'k', UploadId: uploadId, MultipartUpload: { Parts: done }, ChecksumCRC32: 'AAAAAA==-2', ChecksumType: 'COMPOSITE' })));
  assert.deepEqual([e.name, e.status], ['BadDigest', 400]);
  const ok = await c.send(new S3.CompleteMultipartUploadCommand({ Bucket: b, Key: 'k', UploadId: uploadId, MultipartUpload: { Parts: done }, ChecksumCRC32: composite, ChecksumType: 'COMPOSITE' }));
  assert.equal(ok.ChecksumCRC32, composite);
});

test('DeleteBucket with only uploads in progress deletes the bucket and the uploads, as S3 does', async () => {
  const b = await bucket();
  const up = await c.send(new S3.CreateMultipartUploadCommand({ Bucket: b, Key: 'pending' }));
  await c.send(new S3.UploadPartCommand({ Bucket: b, Key: 'pending', UploadId: up.UploadId, PartNumber: 1, Body: Buffer.alloc(1000, 1) }));
  const files = () => fs.readdirSync(path.join(t.dataDir, 'data'), { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).length;
  const before = files();
  await c.send(new S3.DeleteBucketCommand({ Bucket: b }));
  assert.equal(files(), before - 1, 'the part\'s bytes went with it');
  await c.send(new S3.CreateBucketCommand({ Bucket: b }));
  assert.equal((await c.send(new S3.ListMultipartUploadsCommand({ Bucket: b }))).Uploads, undefined);
  const e = await sdkErr(c.send(new S3.ListPartsCommand({ Bucket: b, Key: 'pending', UploadId: up.UploadId })));
  assert.equal(e.name, 'NoSuchUpload');
  // objects still keep a bucket
  await c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'o', Body: 'x' }));
  assert.equal((await sdkErr(c.send(new S3.DeleteBucketCommand({ Bucket: b })))).name, 'BucketNotEmpty');
});

// ------------------------------------------------------------------ authentication details

test('an expired presigned URL is 403 AccessDenied (SigV4 and SigV2)', async () => {
  const b = await bucket();
  await c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }));
  const presign = async (expiresIn: number, signingDate: Date) => {
    // UNSIGNED-PAYLOAD, as the SDKs' presigners sign (hoisted into the query)
    const q = await signer(t.a, t.region).presign({ method: 'GET', protocol: 'http:', hostname: '127.0.0.1', port: t.port, path: `/${b}/k`, query: {},
      headers: { host: `127.0.0.1:${t.port}`, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }, { expiresIn, signingDate });
    return `${q.path}?${new URLSearchParams(q.query as Record<string, string>).toString()}`;
  };
  for (const [expires, ago] of [[1, 5_000], [3600, 2 * 3600_000], [60, 24 * 3600_000]]) {
    const r = await raw(t.url, 'GET', await presign(expires, new Date(Date.now() - ago)), {});
    assert.deepEqual([r.status, errCode(r)], [403, 'AccessDenied'], body(r));
  }
  assert.equal((await raw(t.url, 'GET', await presign(60, new Date()), {})).status, 200);
  const out = await py(BOTO + `v2 = boto3.client('s3', endpoint_url=os.environ['ENDPOINT'], region_name=os.environ['REGION'], aws_access_key_id=os.environ['AK'], aws_secret_access_key=os.environ['SK'], config=Config(signature_version='s3', s3={'addressing_style': 'path'}))\nprint(v2.generate_presigned_url('get_object', Params={'Bucket': '${b}', 'Key': 'k'}, ExpiresIn=-10))`);
  const u = new URL(out.trim().split('\n').pop()!);
  const r = await raw(t.url, 'GET', u.pathname + u.search, {});
  assert.deepEqual([r.status, errCode(r)], [403, 'AccessDenied']);
});

test('x-amz-meta-* beyond ASCII: UTF-8 on the wire as Go clients send it signs and verifies, and comes back RFC 2047 encoded', async () => {
  const b = await bucket();
  const value = 'grüße, 日本語 ✓';
  // sign the UTF-8 text (as the Go SDK does), send its UTF-8 bytes (Node writes a header string as latin1)
  const h = { host: `127.0.0.1:${t.port}`, 'x-amz-content-sha256': crypto.createHash('sha256').update('go').digest('hex'), 'x-amz-meta-note': value, 'content-length': '2' };
  const req = await signer(t.a, t.region).sign({ method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port: t.port, path: `/${b}/k`, query: {}, headers: h, body: 'go' });
  const wire = { ...(req.headers as Record<string, string>), 'x-amz-meta-note': Buffer.from(value, 'utf8').toString('latin1') };
  // (a Buffer body: with a string one Node writes the headers as UTF-8 too, encoding them twice)
  const r = await raw(t.url, 'PUT', `/${b}/k`, wire, Buffer.from('go'));
  assert.equal(r.status, 200, body(r));
  const head = await c.send(new S3.HeadObjectCommand({ Bucket: b, Key: 'k' }));
  assert.equal(head.Metadata?.note, `=?UTF-8?B?${Buffer.from(value).toString('base64')}?=`);
  // a tampered value still fails
  const bad = await raw(t.url, 'PUT', `/${b}/k2`, { ...wire, 'x-amz-meta-note': Buffer.from(value + '!', 'utf8').toString('latin1') }, Buffer.from('go'));
  assert.equal(errCode(bad), 'SignatureDoesNotMatch');
  // the JS SDK (Node can send latin1 characters only, one byte each) keeps working
  await c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'js', Body: 'x', Metadata: { note: 'café' } }));
  assert.equal((await c.send(new S3.HeadObjectCommand({ Bucket: b, Key: 'js' }))).Metadata?.note, `=?UTF-8?B?${Buffer.from('café').toString('base64')}?=`);
  await c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'ascii', Body: 'x', Metadata: { note: 'plain ascii' } }));
  assert.equal((await c.send(new S3.HeadObjectCommand({ Bucket: b, Key: 'ascii' }))).Metadata?.note, 'plain ascii');
});

/** Sends request headers with Expect: 100-continue on a raw socket; what comes back before any body is sent. */
function expectContinue(headers: Record<string, string>, method: string, p: string, data: Buffer): Promise<{ first: string; final: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(t.port, '127.0.0.1');
    let got = ''; let sentBody = false; let first = '';
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (!first && got.includes('\r\n\r\n')) first = got.slice(0, got.indexOf('\r\n'));
      if (!sentBody && /^HTTP\/1\.1 100/.test(got)) { sentBody = true; got = got.replace(/^HTTP\/1\.1 100[^\r]*\r\n\r\n/, ''); s.write(data); }
      if (/^HTTP\/1\.1 [2-5]\d\d/m.test(got) && /\r\n\r\n[\s\S]*<\/(Error|[A-Za-z]+Result)>|Content-Length: 0\r\n/i.test(got)) { s.end(); resolve({ first, final: got }); }
    });
    s.on('error', reject);
    setTimeout(() => { s.destroy(); resolve({ first, final: got }); }, 3000);
    s.write(`${method} ${p} HTTP/1.1\r\n` + Object.entries({ ...headers, expect: '100-continue', connection: 'close' }).map(([k, v]) => `${k}: ${v}`).join('\r\n') + '\r\n\r\n');
  });
}

test('Expect: 100-continue is answered only after the request is authenticated and authorised', async () => {
  const b = await bucket();
  const data = Buffer.alloc(64 * 1024, 7);
  const sign = async (acct: Acct, key: string) => (await signer(acct, t.region).sign({ method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port: t.port, path: `/${b}/${key}`, query: {},
    headers: { host: `127.0.0.1:${t.port}`, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(data.length) } })).headers as Record<string, string>;
  // signature wrong: 403 at once, no 100
  const wrong = { ...(await sign(t.a, 'k')), authorization: (await sign(t.a, 'k')).authorization.replace(/Signature=./, 'Signature=0') };
  let r = await expectContinue(wrong, 'PUT', `/${b}/k`, data);
  assert.match(r.first, /^HTTP\/1\.1 403/, r.final); assert.match(r.final, /SignatureDoesNotMatch/);
  // another account, not allowed to write here: 403, no 100
  r = await expectContinue(await sign(t.b, 'k'), 'PUT', `/${b}/k`, data);
  assert.match(r.first, /^HTTP\/1\.1 403/, r.final); assert.match(r.final, /AccessDenied/);
  // a bucket that does not exist: 404, no 100
  const nb = `nosuch-${tag()}`;
  const s404 = (await signer(t.a, t.region).sign({ method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port: t.port, path: `/${nb}/k`, query: {},
    headers: { host: `127.0.0.1:${t.port}`, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(data.length) } })).headers as Record<string, string>;
  r = await expectContinue(s404, 'PUT', `/${nb}/k`, data);
  assert.match(r.first, /^HTTP\/1\.1 404/, r.final);
  // the owner: 100 Continue, then the body, then 200
  r = await expectContinue(await sign(t.a, 'k'), 'PUT', `/${b}/k`, data);
  assert.match(r.first, /^HTTP\/1\.1 100/, r.final); assert.match(r.final, /^HTTP\/1\.1 200/);
  const g = await c.send(new S3.GetObjectCommand({ Bucket: b, Key: 'k' }));
  assert.equal((await g.Body!.transformToByteArray()).length, data.length);
  // curl and boto3 send Expect: 100-continue for their uploads; they still work
  const f = path.join(t.dataDir, 'big.bin'); fs.writeFileSync(f, crypto.randomBytes(2 * 1024 * 1024));
  await py(BOTO + `s3.upload_file('${f}', '${b}', 'boto', ExtraArgs={})\nprint(s3.head_object(Bucket='${b}', Key='boto')['ContentLength'])`);
});

test('x-amz-expected-bucket-owner and x-amz-source-expected-bucket-owner are enforced', async () => {
  const b = await bucket();
  await c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x', ExpectedBucketOwner: t.a.accountId }));
  for (const p of [
    () => c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'k2', Body: 'x', ExpectedBucketOwner: t.b.accountId })),
    () => c.send(new S3.GetObjectCommand({ Bucket: b, Key: 'k', ExpectedBucketOwner: t.b.accountId })),
    () => c.send(new S3.ListObjectsV2Command({ Bucket: b, ExpectedBucketOwner: '000000000000' })),
    () => c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: 'k', ExpectedBucketOwner: t.b.accountId })),
    () => c.send(new S3.CopyObjectCommand({ Bucket: b, Key: 'c', CopySource: `${b}/k`, ExpectedSourceBucketOwner: t.b.accountId })),
  ]) {
    const e = await sdkErr(p());
    assert.deepEqual([e.name, e.status], ['AccessDenied', 403]);
  }
  assert.equal(await (await c.send(new S3.GetObjectCommand({ Bucket: b, Key: 'k', ExpectedBucketOwner: t.a.accountId }))).Body!.transformToString(), 'x');
  await c.send(new S3.CopyObjectCommand({ Bucket: b, Key: 'c', CopySource: `${b}/k`, ExpectedSourceBucketOwner: t.a.accountId, ExpectedBucketOwner: t.a.accountId }));
  const e = await sdkErr(c.send(new S3.HeadObjectCommand({ Bucket: b, Key: 'k2' })));
  assert.equal(e.status, 404, 'the refused PUT stored nothing');
});

test('x-amz-version-id only where versioning is on; x-amz-delete-marker on a HEAD that finds a delete marker', async () => {
  const b = await bucket();
  const put = await c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }));
  assert.equal(put.VersionId, undefined);
  for (const r of [await c.send(new S3.HeadObjectCommand({ Bucket: b, Key: 'k' })), await c.send(new S3.CopyObjectCommand({ Bucket: b, Key: 'c', CopySource: `${b}/k` })),
    await c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: 'c' })), await c.send(new S3.GetObjectTaggingCommand({ Bucket: b, Key: 'k' }))]) {
    assert.equal((r as any).VersionId, undefined, JSON.stringify(r.$metadata));
  }
  const { uploadId, parts } = await mpObject(b, 'mp', [Buffer.from('x')]);
  assert.equal((await c.send(new S3.CompleteMultipartUploadCommand({ Bucket: b, Key: 'mp', UploadId: uploadId, MultipartUpload: { Parts: parts } }))).VersionId, undefined);
  const vb = await bucket(true);
  const v = await c.send(new S3.PutObjectCommand({ Bucket: vb, Key: 'k', Body: 'x' }));
  assert.ok(v.VersionId && v.VersionId !== 'null');
  const del = await c.send(new S3.DeleteObjectCommand({ Bucket: vb, Key: 'k' }));
  assert.equal(del.DeleteMarker, true);
  const e = await sdkErr(c.send(new S3.HeadObjectCommand({ Bucket: vb, Key: 'k' })));
  assert.equal(e.status, 404);
  assert.equal(e.headers['x-amz-delete-marker'], 'true');
  assert.equal(e.headers['x-amz-version-id'], del.VersionId);
  const byId = await signed(t, t.a, 'HEAD', `/${vb}/k`, {}, undefined, { query: { versionId: del.VersionId! } });
  assert.equal(byId.status, 405); assert.equal(byId.headers['x-amz-delete-marker'], 'true');
});

test('POST object: success_action_status=201 answers its PostResponse; a malformed policy expiration is refused', async () => {
  const b = await bucket();
  const f = path.join(t.dataDir, 'post.txt'); fs.writeFileSync(f, 'posted');
  const out = await py(BOTO + `import subprocess
p = s3.generate_presigned_post('${b}', 'up/\${filename}', Fields={'success_action_status': '201'}, Conditions=[{'success_action_status': '201'}, ['starts-with', '$key', 'up/']])
args = ['curl', '-s', '-w', '\\n%{http_code}']
for k, v in p['fields'].items(): args += ['-F', f'{k}={v}']
print(subprocess.run(args + ['-F', 'file=@${f}', p['url']], capture_output=True).stdout.decode())`);
  assert.match(out, /<PostResponse[^>]*><Location>[^<]+\/up\/post\.txt<\/Location><Bucket>[^<]+<\/Bucket><Key>up\/post\.txt<\/Key><ETag>&quot;[0-9a-f]{32}&quot;<\/ETag><\/PostResponse>\s*201\s*$/);
  // expiration dates S3 does not take: not ISO 8601 in UTC, impossible dates
  const { signPolicyV2 } = await import('../../api/s3/auth');
  for (const expiration of ['2099-01-01', 'Jan 1 2099', '2099-01-01T00:00:00', '2099-02-30T00:00:00Z', 20990101]) {
    const policy = Buffer.from(JSON.stringify({ expiration, conditions: [{ bucket: b }, ['starts-with', '$key', '']] })).toString('base64');
    const boundary = 'xx' + crypto.randomBytes(6).toString('hex');
    const fields: Array<[string, string]> = [['key', 'p'], ['AWSAccessKeyId', t.a.accessKeyId], ['policy', policy], ['signature', signPolicyV2(t.a.secretAccessKey, policy)]];
    const form = Buffer.concat([...fields.map(([k, v]) => Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)),
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\nx\r\n--${boundary}--\r\n`)]);
    const r = await raw(t.url, 'POST', `/${b}`, { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(form.length) }, form);
    assert.deepEqual([r.status, errCode(r)], [400, 'InvalidPolicyDocument'], `${expiration}: ${body(r)}`);
  }
});

// ------------------------------------------------------------------ virtual-host style by domain

test('virtual-host style with a configured domain: <bucket>.s3.<domain>, <bucket>.<domain>, and s3.<domain> path style', async () => {
  // the configuration as EUCA_S3_DOMAIN gives it (lib/config.ts), in a child process
  const cfg = await promisify(execFile)(process.execPath, ['--import', 'tsx', '-e', "const { config } = require('./lib/config'); console.log(JSON.stringify([config.s3Domain, config.s3Domains]))"],
    { cwd: path.join(__dirname, '../..'), env: { ...process.env, EUCA_S3_DOMAIN: ' Cloud.Example.TEST. ' } });
  const [domain, domains] = JSON.parse(cfg.stdout.trim().split('\n').pop()!);
  assert.equal(domain, 'cloud.example.test');
  assert.deepEqual(domains.slice(0, 2), ['s3.cloud.example.test', 'cloud.example.test']);
  const app = createS3App({ log: pino({ level: 'warn' }), dataDir: t.dataDir + '-vh', lookupCredential, region: t.region, domains });
  await app.ready;
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const send = async (host: string, method: string, p: string, data?: string) => {
      const h = { host: `${host}:${port}`, 'x-amz-content-sha256': crypto.createHash('sha256').update(data ?? '').digest('hex') };
      const req = await signer(t.a, t.region).sign({ method, protocol: 'http:', hostname: host, port, path: p, query: {}, headers: h, body: data });
      return raw(`http://127.0.0.1:${port}`, method, p, req.headers as Record<string, string>, data);
    };
    const b = `vh-${tag()}`;
    let r = await send('s3.cloud.example.test', 'PUT', `/${b}`);   // path style on the service name
    assert.equal(r.status, 200, body(r));
    r = await send(`${b}.s3.cloud.example.test`, 'PUT', '/wild/card.txt', 'via the wildcard name');
    assert.equal(r.status, 200, body(r));
    r = await send(`${b}.cloud.example.test`, 'GET', '/wild/card.txt');
    assert.equal(body(r), 'via the wildcard name');
    r = await send('s3.cloud.example.test', 'GET', `/${b}/wild/card.txt`);
    assert.equal(body(r), 'via the wildcard name');
    r = await send(`${b}.s3.cloud.example.test`, 'GET', '/');
    assert.match(body(r), /<Key>wild\/card\.txt<\/Key>/);
    // boto3 virtual-host style against the domain (the name resolved to this listener)
    const out = await py(`import os, boto3, json, socket
from botocore.config import Config
real = socket.getaddrinfo
socket.getaddrinfo = lambda host, *a, **k: real('127.0.0.1' if host.endswith('cloud.example.test') else host, *a, **k)
s3 = boto3.client('s3', endpoint_url='http://s3.cloud.example.test:${port}', region_name=os.environ['REGION'], aws_access_key_id=os.environ['AK'], aws_secret_access_key=os.environ['SK'], config=Config(s3={'addressing_style': 'virtual'}))
s3.put_object(Bucket='${b}', Key='boto.txt', Body=b'boto vhost')
url = s3.generate_presigned_url('get_object', Params={'Bucket': '${b}', 'Key': 'boto.txt'})
print(json.dumps([s3.get_object(Bucket='${b}', Key='boto.txt')['Body'].read().decode(), url]))`);
    const [text, url] = JSON.parse(out.trim().split('\n').pop()!);
    assert.equal(text, 'boto vhost');
    assert.ok(url.startsWith(`http://${b}.s3.cloud.example.test:${port}/boto.txt`), url);
    for (const k of ['wild/card.txt', 'boto.txt']) await send(`${b}.s3.cloud.example.test`, 'DELETE', `/${enc(k)}`);
    assert.equal((await send(`${b}.s3.cloud.example.test`, 'DELETE', '/')).status, 204);
  } finally {
    server.closeAllConnections(); await new Promise((r) => server.close(r));
    fs.rmSync(t.dataDir + '-vh', { recursive: true, force: true });
  }
});
