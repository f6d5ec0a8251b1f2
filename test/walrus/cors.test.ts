// CORS on Walrus: Put/Get/DeleteBucketCors through @aws-sdk/client-s3, boto3 and the AWS CLI;
// browser preflights (OPTIONS) answered from the rules; Access-Control-* headers on actual
// requests (signed, presigned, anonymous, and errors).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { S3Client, CreateBucketCommand, PutBucketCorsCommand, GetBucketCorsCommand, DeleteBucketCorsCommand, PutObjectCommand, DeleteObjectCommand, DeleteBucketCommand } from '@aws-sdk/client-s3';
import { closePool } from '../../db/pool';
import { presignUrl } from '../../walrus/presign';
import { startTestS3, signed, raw, errCode, type TestS3, tag } from './helpers';

let t: TestS3;
let c: S3Client;
before(async () => {
  t = await startTestS3();
  c = new S3Client({ endpoint: t.url, region: t.region, forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: t.a.accessKeyId, secretAccessKey: t.a.secretAccessKey } });
});
after(async () => { c?.destroy(); await t?.close(); await closePool(); });

const code = async (p: Promise<unknown>) => { try { await p; } catch (e: any) { return { name: e.name as string, status: e.$metadata?.httpStatusCode as number, message: e.message as string }; } return undefined; };

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env } });
    let out = '';
    p.stdout.on('data', (d) => (out += d)); p.stderr.on('data', (d) => (out += d));
    p.on('exit', (code) => resolve({ code: code ?? -1, out }));
  });
}
const cliEnv = () => ({ AWS_ACCESS_KEY_ID: t.a.accessKeyId, AWS_SECRET_ACCESS_KEY: t.a.secretAccessKey, AWS_DEFAULT_REGION: t.region, AWS_ENDPOINT_URL: '', AWS_ENDPOINT_URL_S3: '' });

const RULES = [
  { ID: 'app', AllowedOrigins: ['https://app.example.com', 'https://*.example.org'], AllowedMethods: ['GET', 'PUT', 'HEAD'], AllowedHeaders: ['content-type', 'x-amz-*'], ExposeHeaders: ['ETag', 'x-amz-version-id'], MaxAgeSeconds: 600 },
  { AllowedOrigins: ['*'], AllowedMethods: ['GET'] },
];

test('Put/Get/DeleteBucketCors with the JS SDK; S3 errors for bad rules and for none', async () => {
  const b = `cors-${tag()}`;
  await c.send(new CreateBucketCommand({ Bucket: b }));
  let e = await code(c.send(new GetBucketCorsCommand({ Bucket: b })));
  assert.equal(e?.name, 'NoSuchCORSConfiguration'); assert.equal(e?.status, 404);
  await c.send(new PutBucketCorsCommand({ Bucket: b, CORSConfiguration: { CORSRules: RULES } }));
  const g = await c.send(new GetBucketCorsCommand({ Bucket: b }));
  assert.deepEqual(g.CORSRules, [RULES[0], RULES[1]]);
  e = await code(c.send(new PutBucketCorsCommand({ Bucket: b, CORSConfiguration: { CORSRules: [{ AllowedOrigins: ['*'], AllowedMethods: ['PATCH'] }] } })));
  assert.equal(e?.name, 'InvalidRequest'); assert.match(e!.message, /Unsupported method is PATCH/);
  e = await code(c.send(new PutBucketCorsCommand({ Bucket: b, CORSConfiguration: { CORSRules: [{ AllowedOrigins: ['https://*.*.example.com'], AllowedMethods: ['GET'] }] } })));
  assert.equal(e?.name, 'InvalidRequest'); assert.match(e!.message, /can not have more than one wildcard/);
  e = await code(c.send(new PutBucketCorsCommand({ Bucket: b, CORSConfiguration: { CORSRules: [{ AllowedOrigins: ['*'], AllowedMethods: ['GET'], AllowedHeaders: ['x-*-*'] }] } })));
  assert.equal(e?.name, 'InvalidRequest'); assert.match(e!.message, /AllowedHeader "x-\*-\*" can not have more than one wildcard/);
  // another account may not read or change it
  const other = new S3Client({ endpoint: t.url, region: t.region, forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: t.b.accessKeyId, secretAccessKey: t.b.secretAccessKey } });
  assert.equal((await code(other.send(new GetBucketCorsCommand({ Bucket: b }))))?.name, 'AccessDenied');
  other.destroy();
  // Content-MD5 or a checksum is required, as in S3
  const body = '<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>';
  let r = await signed(t, t.a, 'PUT', `/${b}`, {}, body, { query: { cors: '' } });
  assert.equal(r.status, 400); assert.equal(errCode(r), 'InvalidRequest'); assert.match(r.body.toString(), /Content-MD5 OR x-amz-checksum/);
  r = await signed(t, t.a, 'PUT', `/${b}`, { 'content-md5': crypto.createHash('md5').update(body).digest('base64') }, body, { query: { cors: '' } });
  assert.equal(r.status, 200, r.body.toString());
  r = await signed(t, t.a, 'PUT', `/${b}`, { 'x-amz-checksum-crc32': 'AAAAAA==' }, body, { query: { cors: '' } });
  assert.equal(errCode(r), 'BadDigest');
  await c.send(new DeleteBucketCorsCommand({ Bucket: b }));
  assert.equal((await code(c.send(new GetBucketCorsCommand({ Bucket: b }))))?.name, 'NoSuchCORSConfiguration');
  await c.send(new DeleteBucketCorsCommand({ Bucket: b }));   // none: still 204
  await c.send(new DeleteBucketCommand({ Bucket: b }));
});

test('preflight OPTIONS: answered from the rules (origin and header wildcards), 403 when no rule matches, 400 when malformed', async () => {
  const b = `cors-pf-${tag()}`;
  await c.send(new CreateBucketCommand({ Bucket: b }));
  const pf = (h: Record<string, string>, key = 'dir/obj.txt') => raw(t.url, 'OPTIONS', `/${b}/${key}`, h);
  // no configuration yet
  let r = await pf({ origin: 'https://app.example.com', 'access-control-request-method': 'GET' });
  assert.equal(r.status, 403); assert.equal(errCode(r), 'AccessForbidden'); assert.match(r.body.toString(), /CORS is not enabled for this bucket/);
  await c.send(new PutBucketCorsCommand({ Bucket: b, CORSConfiguration: { CORSRules: RULES } }));

  r = await pf({ origin: 'https://app.example.com', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'Content-Type, X-Amz-Date, x-amz-content-sha256' });
  assert.equal(r.status, 200, r.body.toString());
  assert.equal(r.headers['access-control-allow-origin'], 'https://app.example.com');
  assert.equal(r.headers['access-control-allow-methods'], 'GET, PUT, HEAD');
  assert.equal(r.headers['access-control-allow-headers'], 'Content-Type, X-Amz-Date, x-amz-content-sha256');
  assert.equal(r.headers['access-control-expose-headers'], 'ETag, x-amz-version-id');
  assert.equal(r.headers['access-control-max-age'], '600');
  assert.equal(r.headers['access-control-allow-credentials'], 'true');
  assert.match(String(r.headers.vary), /Origin/);
  // one '*' in AllowedOrigin
  r = await pf({ origin: 'https://cdn.example.org', 'access-control-request-method': 'HEAD' });
  assert.equal(r.status, 200); assert.equal(r.headers['access-control-allow-origin'], 'https://cdn.example.org');
  // the second rule: any origin, GET only, no headers; answered with '*'
  r = await pf({ origin: 'https://elsewhere.test', 'access-control-request-method': 'GET' });
  assert.equal(r.status, 200); assert.equal(r.headers['access-control-allow-origin'], '*'); assert.equal(r.headers['access-control-allow-credentials'], undefined);
  assert.equal(r.headers['access-control-allow-methods'], 'GET');
  // bucket-level preflight too
  r = await raw(t.url, 'OPTIONS', `/${b}`, { origin: 'https://elsewhere.test', 'access-control-request-method': 'GET' });
  assert.equal(r.status, 200);
  // not allowed: method, origin, a header no AllowedHeader matches
  for (const h of [
    { origin: 'https://elsewhere.test', 'access-control-request-method': 'PUT' },
    { origin: 'https://app.example.com.evil.test', 'access-control-request-method': 'PUT' },
    { origin: 'https://app.example.com', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'authorization' },
    { origin: 'https://elsewhere.test', 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-custom' },
  ] as Array<Record<string, string>>) {
    r = await pf(h);
    assert.equal(r.status, 403, JSON.stringify(h));
    assert.equal(errCode(r), 'AccessForbidden');
    assert.match(r.body.toString(), /CORSResponse: This CORS request is not allowed/);
    assert.equal(r.headers['access-control-allow-origin'], undefined);
  }
  // malformed preflights
  r = await pf({ 'access-control-request-method': 'GET' });
  assert.equal(r.status, 400); assert.match(r.body.toString(), /Origin request header needed/);
  r = await pf({ origin: 'https://app.example.com' });
  assert.equal(r.status, 400); assert.match(r.body.toString(), /Invalid Access-Control-Request-Method/);
  // a bucket that does not exist tells nothing
  r = await raw(t.url, 'OPTIONS', `/nosuch-${tag()}/k`, { origin: 'https://app.example.com', 'access-control-request-method': 'GET' });
  assert.equal(r.status, 403); assert.equal(errCode(r), 'AccessForbidden');
  await c.send(new DeleteBucketCommand({ Bucket: b }));
});

test('actual requests: CORS headers on signed, presigned and anonymous answers, errors included; none without a match', async () => {
  const b = `cors-act-${tag()}`;
  await c.send(new CreateBucketCommand({ Bucket: b }));
  await c.send(new PutBucketCorsCommand({ Bucket: b, CORSConfiguration: { CORSRules: RULES } }));
  await c.send(new PutObjectCommand({ Bucket: b, Key: 'hello.txt', Body: 'hello', ContentType: 'text/plain' }));
  const origin = 'https://app.example.com';
  // signed GET from the app's origin
  let r = await signed(t, t.a, 'GET', `/${b}/hello.txt`, { origin });
  assert.equal(r.status, 200); assert.equal(r.body.toString(), 'hello');
  assert.equal(r.headers['access-control-allow-origin'], origin);
  assert.equal(r.headers['access-control-expose-headers'], 'ETag, x-amz-version-id');
  assert.equal(r.headers['access-control-max-age'], '600');
  assert.match(String(r.headers.vary), /Origin/);
  // signed PUT
  r = await signed(t, t.a, 'PUT', `/${b}/up.txt`, { origin }, 'uploaded');
  assert.equal(r.status, 200); assert.equal(r.headers['access-control-allow-origin'], origin);
  // presigned GET, as a browser would fetch it
  const url = presignUrl({ endpoint: t.url, bucket: b, key: 'hello.txt', accessKeyId: t.a.accessKeyId, secretAccessKey: t.a.secretAccessKey, region: t.region, expiresSeconds: 300 });
  const u = new URL(url);
  r = await raw(t.url, 'GET', u.pathname + u.search, { origin: 'https://www.example.org' });
  assert.equal(r.status, 200); assert.equal(r.headers['access-control-allow-origin'], 'https://www.example.org');
  // an error answer carries them too, so the page can read it
  r = await signed(t, t.a, 'GET', `/${b}/missing`, { origin });
  assert.equal(r.status, 404); assert.equal(errCode(r), 'NoSuchKey'); assert.equal(r.headers['access-control-allow-origin'], origin);
  r = await raw(t.url, 'GET', `/${b}/hello.txt`, { origin: 'https://any.test' });   // anonymous on a private bucket
  assert.equal(r.status, 403); assert.equal(r.headers['access-control-allow-origin'], '*');
  // no rule for this origin and method: no Access-Control-* headers, still Vary
  r = await signed(t, t.a, 'DELETE', `/${b}/up.txt`, { origin });
  assert.equal(r.status, 204); assert.equal(r.headers['access-control-allow-origin'], undefined); assert.match(String(r.headers.vary), /Origin/);
  // no Origin: nothing CORS at all
  r = await signed(t, t.a, 'GET', `/${b}/hello.txt`);
  assert.equal(r.headers['access-control-allow-origin'], undefined); assert.equal(r.headers.vary, undefined);
  await c.send(new DeleteObjectCommand({ Bucket: b, Key: 'hello.txt' }));
  await c.send(new DeleteBucketCommand({ Bucket: b }));
});

test('boto3 and the AWS CLI: put-bucket-cors, get-bucket-cors, delete-bucket-cors', async () => {
  const b = `cors-cli-${tag()}`;
  const aws = (...args: string[]) => run('aws', ['--endpoint-url', t.url, ...args], cliEnv());
  let r = await aws('s3api', 'create-bucket', '--bucket', b);
  assert.equal(r.code, 0, r.out);
  r = await aws('s3api', 'put-bucket-cors', '--bucket', b, '--cors-configuration', JSON.stringify({ CORSRules: [{ AllowedOrigins: ['https://cli.example.com'], AllowedMethods: ['GET', 'POST'], MaxAgeSeconds: 30 }] }));
  assert.equal(r.code, 0, r.out);
  r = await aws('s3api', 'get-bucket-cors', '--bucket', b);
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(JSON.parse(r.out).CORSRules, [{ AllowedOrigins: ['https://cli.example.com'], AllowedMethods: ['GET', 'POST'], MaxAgeSeconds: 30 }]);
  const py = `
import boto3, sys
from botocore.exceptions import ClientError
s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id=sys.argv[3], aws_secret_access_key=sys.argv[4])
b = sys.argv[5]
assert s3.get_bucket_cors(Bucket=b)['CORSRules'][0]['AllowedOrigins'] == ['https://cli.example.com']
s3.put_bucket_cors(Bucket=b, CORSConfiguration={'CORSRules': [{'ID': 'py', 'AllowedOrigins': ['*'], 'AllowedMethods': ['GET'], 'AllowedHeaders': ['*'], 'ExposeHeaders': ['ETag']}]})
rules = s3.get_bucket_cors(Bucket=b)['CORSRules']
assert rules == [{'ID': 'py', 'AllowedOrigins': ['*'], 'AllowedMethods': ['GET'], 'AllowedHeaders': ['*'], 'ExposeHeaders': ['ETag']}], rules
s3.delete_bucket_cors(Bucket=b)
try:
    s3.get_bucket_cors(Bucket=b); raise SystemExit('expected NoSuchCORSConfiguration')
except ClientError as e:
    assert e.response['Error']['Code'] == 'NoSuchCORSConfiguration' and e.response['ResponseMetadata']['HTTPStatusCode'] == 404
print('ok')
`;
  r = await run('python3', ['-c', py, t.url, t.region, t.a.accessKeyId, t.a.secretAccessKey, b]);
  assert.equal(r.code, 0, r.out); assert.match(r.out, /ok/);
  r = await aws('s3api', 'delete-bucket', '--bucket', b);
  assert.equal(r.code, 0, r.out);
});
