// Walrus access control with real clients and two accounts: bucket policies
// (cross-account, anonymous, explicit deny, conditions), ACL grants, Object
// Ownership and Block Public Access; every refusal with S3's code and status.
// boto3 (access_suite.py), the AWS CLI, @aws-sdk/client-s3 and raw requests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { closePool } from '../../db/pool';
import { startTestS3, signed, raw, errCode, type TestS3, type Acct, tag } from './helpers';

let t: TestS3;
before(async () => { t = await startTestS3(); });
after(async () => { await t?.close(); await closePool(); });


function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { env: { ...process.env, ...env } });
    let out = '';
    c.stdout.on('data', (d) => (out += d)); c.stderr.on('data', (d) => (out += d));
    c.on('exit', (code) => resolve({ code: code ?? -1, out }));
  });
}

/** A signed request to "/path?sub=v&..." (the query goes where SigV4 signs it). */
function sq(a: Acct, method: string, pathAndQuery: string, headers: Record<string, string> = {}, body?: string) {
  const [p, q] = pathAndQuery.split('?');
  return signed(t, a, method, p, headers, body, { query: Object.fromEntries(new URLSearchParams(q ?? '')) });
}

const policy = (...statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });

test('boto3: cross-account policy and grants, anonymous access, deny wins, ownership, Block Public Access, errors', async () => {
  const r = await run('python3', [path.join(__dirname, 'access_suite.py')], {
    ENDPOINT: t.url, REGION: t.region, TAG: tag(),
    AK1: t.a.accessKeyId, SK1: t.a.secretAccessKey, ID1: t.a.accountId, AK2: t.b.accessKeyId, SK2: t.b.secretAccessKey, ID2: t.b.accountId,
  });
  assert.equal(r.code, 0, r.out);
  assert.equal(JSON.parse(r.out.trim().split('\n').pop()!).passed.length, 6, r.out);
});

test('AWS CLI: put/get/delete bucket policy and its status, public access block, ownership controls, grants to another account', async () => {
  const env = (a: Acct) => ({ AWS_ACCESS_KEY_ID: a.accessKeyId, AWS_SECRET_ACCESS_KEY: a.secretAccessKey, AWS_DEFAULT_REGION: t.region, AWS_ENDPOINT_URL: '', AWS_ENDPOINT_URL_S3: '', AWS_MAX_ATTEMPTS: '1' });
  const cli = (a: Acct, ...args: string[]) => run('aws', ['--endpoint-url', t.url, ...args], env(a));
  const ok = async (a: Acct, ...args: string[]) => { const r = await cli(a, ...args); assert.equal(r.code, 0, `aws ${args.join(' ')}: ${r.out}`); return r.out; };
  const fails = async (code: string, a: Acct, ...args: string[]) => {
    const r = await cli(a, ...args);
    assert.notEqual(r.code, 0, `aws ${args.join(' ')} should fail with ${code}`);
    // a HEAD (the CLI's first step of a download) has no body to name the error: its status then
    assert.match(r.out, code === 'AccessDenied' ? /\((AccessDenied|403)\)/ : new RegExp(`\\(${code}\\)`), r.out);
  };
  const b = `cli-acc-${tag()}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'walrus-acc-'));
  try {
    await ok(t.a, 's3', 'mb', `s3://${b}`);
    fs.writeFileSync(path.join(dir, 'f.txt'), 'from the CLI\n');
    await ok(t.a, 's3', 'cp', path.join(dir, 'f.txt'), `s3://${b}/pub/f.txt`);
    await fails('NoSuchBucketPolicy', t.a, 's3api', 'get-bucket-policy', '--bucket', b);
    await fails('AccessDenied', t.b, 's3', 'cp', `s3://${b}/pub/f.txt`, path.join(dir, 'got.txt'));
    const p = policy({ Sid: 'ReadPub', Effect: 'Allow', Principal: { AWS: t.b.accountId }, Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/pub/*` });
    fs.writeFileSync(path.join(dir, 'p.json'), p);
    await ok(t.a, 's3api', 'put-bucket-policy', '--bucket', b, '--policy', `file://${path.join(dir, 'p.json')}`);
    assert.deepEqual(JSON.parse(JSON.parse(await ok(t.a, 's3api', 'get-bucket-policy', '--bucket', b)).Policy), JSON.parse(p));
    assert.equal(JSON.parse(await ok(t.a, 's3api', 'get-bucket-policy-status', '--bucket', b)).PolicyStatus.IsPublic, false);
    await ok(t.b, 's3', 'cp', `s3://${b}/pub/f.txt`, path.join(dir, 'got.txt'));
    assert.equal(fs.readFileSync(path.join(dir, 'got.txt'), 'utf8'), 'from the CLI\n');
    fs.writeFileSync(path.join(dir, 'bad.json'), policy({ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::not-this-bucket/*' }));
    await fails('MalformedPolicy', t.a, 's3api', 'put-bucket-policy', '--bucket', b, '--policy', `file://${path.join(dir, 'bad.json')}`);
    await ok(t.a, 's3api', 'delete-bucket-policy', '--bucket', b);
    await fails('AccessDenied', t.b, 's3', 'cp', `s3://${b}/pub/f.txt`, path.join(dir, 'got.txt'));
    // a grant to the other account's canonical id, as GetObjectAcl lists it
    await ok(t.a, 's3api', 'put-object-acl', '--bucket', b, '--key', 'pub/f.txt', '--grant-read', `id=${t.b.accountId}`);
    const acl = JSON.parse(await ok(t.a, 's3api', 'get-object-acl', '--bucket', b, '--key', 'pub/f.txt'));
    assert.deepEqual(acl.Grants.map((g: any) => [g.Grantee.Type, g.Grantee.ID, g.Permission]), [['CanonicalUser', t.b.accountId, 'READ']]);
    assert.equal(acl.Owner.ID, t.a.accountId);
    await ok(t.b, 's3', 'cp', `s3://${b}/pub/f.txt`, path.join(dir, 'got.txt'));
    // Block Public Access
    await fails('NoSuchPublicAccessBlockConfiguration', t.a, 's3api', 'get-public-access-block', '--bucket', b);
    await ok(t.a, 's3api', 'put-public-access-block', '--bucket', b, '--public-access-block-configuration', 'BlockPublicAcls=true,IgnorePublicAcls=false,BlockPublicPolicy=true,RestrictPublicBuckets=false');
    assert.deepEqual(JSON.parse(await ok(t.a, 's3api', 'get-public-access-block', '--bucket', b)).PublicAccessBlockConfiguration,
      { BlockPublicAcls: true, IgnorePublicAcls: false, BlockPublicPolicy: true, RestrictPublicBuckets: false });
    await fails('AccessDenied', t.a, 's3api', 'put-object-acl', '--bucket', b, '--key', 'pub/f.txt', '--acl', 'public-read');
    fs.writeFileSync(path.join(dir, 'public.json'), policy({ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` }));
    await fails('AccessDenied', t.a, 's3api', 'put-bucket-policy', '--bucket', b, '--policy', `file://${path.join(dir, 'public.json')}`);
    await ok(t.a, 's3api', 'delete-public-access-block', '--bucket', b);
    await ok(t.a, 's3api', 'put-bucket-policy', '--bucket', b, '--policy', `file://${path.join(dir, 'public.json')}`);
    assert.equal(JSON.parse(await ok(t.a, 's3api', 'get-bucket-policy-status', '--bucket', b)).PolicyStatus.IsPublic, true);
    // Object Ownership
    await fails('OwnershipControlsNotFoundError', t.a, 's3api', 'get-bucket-ownership-controls', '--bucket', b);
    await ok(t.a, 's3api', 'put-bucket-ownership-controls', '--bucket', b, '--ownership-controls', 'Rules=[{ObjectOwnership=BucketOwnerEnforced}]');
    assert.deepEqual(JSON.parse(await ok(t.a, 's3api', 'get-bucket-ownership-controls', '--bucket', b)).OwnershipControls.Rules, [{ ObjectOwnership: 'BucketOwnerEnforced' }]);
    await fails('AccessControlListNotSupported', t.a, 's3', 'cp', path.join(dir, 'f.txt'), `s3://${b}/x.txt`, '--acl', 'public-read');
    await ok(t.a, 's3', 'cp', path.join(dir, 'f.txt'), `s3://${b}/x.txt`, '--acl', 'bucket-owner-full-control');
    await ok(t.a, 's3api', 'delete-bucket-ownership-controls', '--bucket', b);
    await ok(t.a, 's3api', 'delete-bucket-policy', '--bucket', b);
    await ok(t.a, 's3', 'rb', '--force', `s3://${b}`);
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

// ------------------------------------------------------------------ @aws-sdk/client-s3: condition keys and the rest of the decision

let S3: any;
try { S3 = require('@aws-sdk/client-s3'); } catch { /* skipped below */ }
/** A client of account a, or (null) an anonymous one: signed with nothing, its signature taken off again before it is sent. */
function sdk(a: Acct | null) {
  const c = new S3.S3Client({
    endpoint: t.url, region: t.region, forcePathStyle: true, maxAttempts: 1,
    credentials: a ? { accessKeyId: a.accessKeyId, secretAccessKey: a.secretAccessKey } : { accessKeyId: 'ANONYMOUS', secretAccessKey: 'unused' },
  });
  if (!a) {
    c.middlewareStack.addRelativeTo((next: any) => async (args: any) => {
      for (const h of ['authorization', 'x-amz-date', 'x-amz-security-token']) delete args.request.headers[h];
      return next(args);
    }, { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'unsign' });
  }
  return c;
}

/** Fails with S3's code and status (a HEAD answer has no body: only its status). */
async function rejects(p: Promise<unknown>, code: string, status: number, head = false) {
  await assert.rejects(p, (e: any) => {
    assert.equal(e.$metadata?.httpStatusCode, status, `${code}: ${e}`);
    if (!head) assert.ok(e.name === code || e.Code === code, `expected ${code}, got ${e.name}`);
    return true;
  });
}

/** Removes a test bucket whatever state a failed test left it in. */
async function dropBucket(c: any, Bucket: string) {
  const quiet = (p: Promise<unknown>) => p.catch(() => undefined);
  await quiet(c.send(new S3.DeleteBucketPolicyCommand({ Bucket })));
  await quiet(c.send(new S3.DeletePublicAccessBlockCommand({ Bucket })));
  const v = await c.send(new S3.ListObjectVersionsCommand({ Bucket })).catch(() => ({}));
  for (const o of [...(v.Versions ?? []), ...(v.DeleteMarkers ?? [])]) await quiet(c.send(new S3.DeleteObjectCommand({ Bucket, Key: o.Key, VersionId: o.VersionId })));
  await quiet(c.send(new S3.DeleteBucketCommand({ Bucket })));
}

test('@aws-sdk/client-s3: aws:SourceIp, aws:SecureTransport, aws:PrincipalAccount, dates, s3:prefix, s3:x-amz-acl, Null', async (tt) => {
  if (!S3) { tt.skip('@aws-sdk/client-s3 is not installed'); return; }
  const A = sdk(t.a), Bc = sdk(t.b), anon = sdk(null);
  const b = `js-acc-${tag()}`;
  const arn = `arn:aws:s3:::${b}`;
  const setPolicy = (...s: object[]) => A.send(new S3.PutBucketPolicyCommand({ Bucket: b, Policy: policy(...s) }));
  const getAsB = (Key: string) => Bc.send(new S3.GetObjectCommand({ Bucket: b, Key }));
  try {
    await A.send(new S3.CreateBucketCommand({ Bucket: b }));
    for (const k of ['home/b/one', 'home/c/two', 'top']) await A.send(new S3.PutObjectCommand({ Bucket: b, Key: k, Body: k }));
    const forB = { Effect: 'Allow', Principal: { AWS: t.b.accountId }, Action: 's3:GetObject', Resource: `${arn}/*` };

    // aws:SourceIp: the tests come from 127.0.0.1
    await setPolicy({ ...forB, Condition: { IpAddress: { 'aws:SourceIp': ['127.0.0.0/8', '::1/128'] } } });
    assert.equal(await (await getAsB('top')).Body.transformToString(), 'top');
    await setPolicy({ ...forB, Condition: { IpAddress: { 'aws:SourceIp': '192.0.2.0/24' } } });
    await rejects(getAsB('top'), 'AccessDenied', 403);
    // a Deny from everywhere but a network the tests are not in: the owner too
    await setPolicy({ Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: [arn, `${arn}/*`], Condition: { NotIpAddress: { 'aws:SourceIp': '192.0.2.0/24' } } });
    await rejects(A.send(new S3.GetObjectCommand({ Bucket: b, Key: 'top' })), 'AccessDenied', 403);
    await rejects(A.send(new S3.ListObjectsV2Command({ Bucket: b })), 'AccessDenied', 403);
    assert.ok((await A.send(new S3.GetBucketPolicyCommand({ Bucket: b }))).Policy, 'the owner still reads the policy ...');
    // aws:SecureTransport: over http it is false, so "deny insecure transport" denies everything
    await setPolicy(forB, { Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: [arn, `${arn}/*`], Condition: { Bool: { 'aws:SecureTransport': 'false' } } });
    await rejects(getAsB('top'), 'AccessDenied', 403);
    await rejects(A.send(new S3.HeadObjectCommand({ Bucket: b, Key: 'top' })), 'AccessDenied', 403, true);
    // aws:PrincipalAccount with a * principal: b yes, anonymous no
    await setPolicy({ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `${arn}/*`, Condition: { StringEquals: { 'aws:PrincipalAccount': t.b.accountId } } });
    assert.equal((await A.send(new S3.GetBucketPolicyStatusCommand({ Bucket: b }))).PolicyStatus.IsPublic, false);
    assert.equal(await (await getAsB('top')).Body.transformToString(), 'top');
    await rejects(anon.send(new S3.GetObjectCommand({ Bucket: b, Key: 'top' })), 'AccessDenied', 403);
    // DateGreaterThan / DateLessThan on aws:CurrentTime
    await setPolicy({ ...forB, Condition: { DateGreaterThan: { 'aws:CurrentTime': '2020-01-01T00:00:00Z' }, DateLessThan: { 'aws:CurrentTime': '2100-01-01T00:00:00Z' } } });
    assert.equal(await (await getAsB('top')).Body.transformToString(), 'top');
    await setPolicy({ ...forB, Condition: { DateLessThan: { 'aws:CurrentTime': '2020-01-01T00:00:00Z' } } });
    await rejects(getAsB('top'), 'AccessDenied', 403);
    // s3:prefix: b lists its own home only
    await setPolicy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${t.b.accountId}:root` }, Action: 's3:ListBucket', Resource: arn, Condition: { StringLike: { 's3:prefix': 'home/b/*' } } });
    const l = await Bc.send(new S3.ListObjectsV2Command({ Bucket: b, Prefix: 'home/b/' }));
    assert.deepEqual(l.Contents.map((o: any) => o.Key), ['home/b/one']);
    await rejects(Bc.send(new S3.ListObjectsV2Command({ Bucket: b })), 'AccessDenied', 403);
    await rejects(Bc.send(new S3.ListObjectsV2Command({ Bucket: b, Prefix: 'home/c/' })), 'AccessDenied', 403);
    // s3:x-amz-acl with BucketOwnerPreferred: b may write only handing the object over
    await A.send(new S3.PutBucketOwnershipControlsCommand({ Bucket: b, OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerPreferred' }] } }));
    await setPolicy({ Effect: 'Allow', Principal: { AWS: t.b.accountId }, Action: 's3:PutObject', Resource: `${arn}/drop/*`, Condition: { StringEquals: { 's3:x-amz-acl': 'bucket-owner-full-control' } } });
    await Bc.send(new S3.PutObjectCommand({ Bucket: b, Key: 'drop/1', Body: 'handed over', ACL: 'bucket-owner-full-control' }));
    await rejects(Bc.send(new S3.PutObjectCommand({ Bucket: b, Key: 'drop/2', Body: 'kept' })), 'AccessDenied', 403);
    await rejects(Bc.send(new S3.PutObjectCommand({ Bucket: b, Key: 'elsewhere', Body: 'x', ACL: 'bucket-owner-full-control' })), 'AccessDenied', 403);
    const acl = await A.send(new S3.GetObjectAclCommand({ Bucket: b, Key: 'drop/1' }));
    assert.equal(acl.Owner.ID, t.a.accountId);
    assert.equal(await (await A.send(new S3.GetObjectCommand({ Bucket: b, Key: 'drop/1' }))).Body.transformToString(), 'handed over');
    // Null: the owner's own writes must name an ACL
    await setPolicy({ Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: `${arn}/*`, Condition: { Null: { 's3:x-amz-acl': 'true' } } });
    await rejects(A.send(new S3.PutObjectCommand({ Bucket: b, Key: 'n', Body: 'x' })), 'AccessDenied', 403);
    await A.send(new S3.PutObjectCommand({ Bucket: b, Key: 'n', Body: 'x', ACL: 'private' }));
  } finally {
    await dropBucket(A, b);
    for (const c of [A, Bc, anon]) c.destroy();
  }
});

test('@aws-sdk/client-s3: RestrictPublicBuckets, DeleteObjects per key, CopyObject needs read on the source', async (tt) => {
  if (!S3) { tt.skip('@aws-sdk/client-s3 is not installed'); return; }
  const A = sdk(t.a), Bc = sdk(t.b), anon = sdk(null);
  const b = `js-acc2-${tag()}`, mine = `js-acc2b-${tag()}`;
  const arn = `arn:aws:s3:::${b}`;
  try {
    await A.send(new S3.CreateBucketCommand({ Bucket: b }));
    await Bc.send(new S3.CreateBucketCommand({ Bucket: mine }));
    for (const k of ['tmp/x', 'keep/y', 'src']) await A.send(new S3.PutObjectCommand({ Bucket: b, Key: k, Body: k }));
    // a public policy: anonymous and b read ...
    await A.send(new S3.PutBucketPolicyCommand({ Bucket: b, Policy: policy({ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `${arn}/*` }) }));
    assert.equal(await (await anon.send(new S3.GetObjectCommand({ Bucket: b, Key: 'src' }))).Body.transformToString(), 'src');
    assert.equal(await (await Bc.send(new S3.GetObjectCommand({ Bucket: b, Key: 'src' }))).Body.transformToString(), 'src');
    // ... until RestrictPublicBuckets keeps a public policy to the owner's account
    await A.send(new S3.PutPublicAccessBlockCommand({ Bucket: b, PublicAccessBlockConfiguration: { RestrictPublicBuckets: true } }));
    await rejects(anon.send(new S3.GetObjectCommand({ Bucket: b, Key: 'src' })), 'AccessDenied', 403);
    await rejects(Bc.send(new S3.GetObjectCommand({ Bucket: b, Key: 'src' })), 'AccessDenied', 403);
    assert.equal(await (await A.send(new S3.GetObjectCommand({ Bucket: b, Key: 'src' }))).Body.transformToString(), 'src');
    await A.send(new S3.DeletePublicAccessBlockCommand({ Bucket: b }));
    // DeleteObjects: each key is its own s3:DeleteObject
    await A.send(new S3.PutBucketPolicyCommand({ Bucket: b, Policy: policy({ Effect: 'Allow', Principal: { AWS: t.b.accountId }, Action: 's3:DeleteObject', Resource: `${arn}/tmp/*` }) }));
    const d = await Bc.send(new S3.DeleteObjectsCommand({ Bucket: b, Delete: { Objects: [{ Key: 'tmp/x' }, { Key: 'keep/y' }] } }));
    assert.deepEqual(d.Deleted.map((x: any) => x.Key), ['tmp/x']);
    assert.deepEqual(d.Errors.map((x: any) => [x.Key, x.Code]), [['keep/y', 'AccessDenied']]);
    await A.send(new S3.HeadObjectCommand({ Bucket: b, Key: 'keep/y' }));
    await rejects(A.send(new S3.HeadObjectCommand({ Bucket: b, Key: 'tmp/x' })), 'NotFound', 404, true);
    // CopyObject into b's own bucket: the source must be readable by b
    await rejects(Bc.send(new S3.CopyObjectCommand({ Bucket: mine, Key: 'copy', CopySource: `${b}/src` })), 'AccessDenied', 403);
    await A.send(new S3.PutBucketPolicyCommand({ Bucket: b, Policy: policy({ Effect: 'Allow', Principal: { AWS: t.b.accountId }, Action: 's3:GetObject', Resource: `${arn}/src` }) }));
    await Bc.send(new S3.CopyObjectCommand({ Bucket: mine, Key: 'copy', CopySource: `${b}/src` }));
    assert.equal(await (await Bc.send(new S3.GetObjectCommand({ Bucket: mine, Key: 'copy' }))).Body.transformToString(), 'src');
    // and a's own bucket stays closed to b's writes
    await rejects(Bc.send(new S3.CopyObjectCommand({ Bucket: b, Key: 'intruder', CopySource: `${mine}/copy` })), 'AccessDenied', 403);
  } finally {
    await dropBucket(A, b);
    await dropBucket(Bc, mine);
    for (const c of [A, Bc, anon]) c.destroy();
  }
});

// ------------------------------------------------------------------ raw: unsigned requests and the errors' XML

test('anonymous requests: HEAD, PUT and POST uploads a policy allows, owned by the bucket owner; refusals are XML AccessDenied', async () => {
  const b = `raw-acc-${tag()}`;
  assert.equal((await signed(t, t.a, 'PUT', `/${b}`)).status, 200);
  assert.equal((await signed(t, t.a, 'PUT', `/${b}/obj`, {}, 'data')).status, 200);
  let r = await raw(t.url, 'GET', `/${b}/obj`, {});
  assert.equal(r.status, 403); assert.equal(errCode(r), 'AccessDenied');
  assert.match(r.body.toString(), new RegExp(`<Resource>/${b}/obj</Resource>`));
  assert.equal((await raw(t.url, 'HEAD', `/${b}/obj`, {})).status, 403);
  assert.equal((await raw(t.url, 'HEAD', `/${b}`, {})).status, 403);
  r = await raw(t.url, 'PUT', `/${b}/drop`, { 'content-length': '4' }, 'anon');
  assert.equal(r.status, 403); assert.equal(errCode(r), 'AccessDenied');
  const pol = policy(
    { Effect: 'Allow', Principal: '*', Action: ['s3:GetObject', 's3:PutObject'], Resource: `arn:aws:s3:::${b}/*` },
    { Effect: 'Allow', Principal: { AWS: '*' }, Action: 's3:ListBucket', Resource: `arn:aws:s3:::${b}` });
  assert.equal((await sq(t.a, 'PUT', `/${b}?policy`, {}, pol)).status, 204);
  assert.equal((await raw(t.url, 'HEAD', `/${b}/obj`, {})).status, 200);
  assert.equal((await raw(t.url, 'HEAD', `/${b}`, {})).status, 200);
  assert.equal((await raw(t.url, 'GET', `/${b}/obj`, {})).body.toString(), 'data');
  assert.equal((await raw(t.url, 'GET', `/${b}/missing`, {})).status, 404, 'ListBucket allowed: a missing key is NoSuchKey');
  r = await raw(t.url, 'PUT', `/${b}/drop`, { 'content-length': '4' }, 'anon');
  assert.equal(r.status, 200, r.body.toString());
  r = await sq(t.a, 'GET', `/${b}/drop?acl`);
  assert.match(r.body.toString(), new RegExp(`<Owner><ID>${t.a.accountId}</ID>`), 'an anonymous write belongs to the bucket owner');
  // a browser POST without any signature, allowed by the policy
  const boundary = 'x' + crypto.randomBytes(6).toString('hex');
  const body = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\nposted\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\nposted data\r\n--${boundary}--\r\n`);
  r = await raw(t.url, 'POST', `/${b}`, { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(body.length) }, body);
  assert.equal(r.status, 204, r.body.toString());
  assert.equal((await raw(t.url, 'GET', `/${b}/posted`, {})).body.toString(), 'posted data');
  // the policy's limits: deletes and configuration stay closed
  r = await raw(t.url, 'DELETE', `/${b}/obj`, {});
  assert.equal(r.status, 403); assert.equal(errCode(r), 'AccessDenied');
  r = await raw(t.url, 'GET', `/${b}?policy`, {});
  assert.equal(r.status, 403); assert.equal(errCode(r), 'AccessDenied');
  r = await sq(t.b, 'GET', `/${b}?acl`);
  assert.equal(r.status, 403); assert.equal(errCode(r), 'AccessDenied');
  for (const k of ['obj', 'drop', 'posted']) assert.equal((await signed(t, t.a, 'DELETE', `/${b}/${k}`)).status, 204);
  assert.equal((await sq(t.a, 'DELETE', `/${b}?policy`)).status, 204);
  assert.equal((await signed(t, t.a, 'DELETE', `/${b}`)).status, 204);
});

test('errors of the access operations: codes, statuses, XML', async () => {
  const b = `raw-acc-err-${tag()}`;
  assert.equal((await signed(t, t.a, 'PUT', `/${b}`)).status, 200);
  const expect = async (p: Promise<import('./helpers').RawResponse>, status: number, code: string, msg?: RegExp) => {
    const r = await p;
    assert.equal(r.status, status, r.body.toString()); assert.equal(errCode(r), code, r.body.toString());
    if (msg) assert.match(r.body.toString(), msg);
  };
  const put = (q: string, body: string, headers: Record<string, string> = {}) => sq(t.a, 'PUT', `/${b}?${q}`, headers, body);
  await expect(put('policy', 'x'.repeat(21 * 1024)), 400, 'MalformedPolicy');
  await expect(put('policy', '[]'), 400, 'MalformedPolicy', /first byte must be/);
  await expect(put('policy', policy({ Effect: 'Allow', Principal: '*', Action: 's3:ListBucket', Resource: `arn:aws:s3:::${b}/*` })), 400, 'MalformedPolicy', /Action does not apply to any resource/);
  await expect(put('policy', policy({ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { StringEquals: { 's3:nonsense': 'x' } } })), 400, 'MalformedPolicy', /invalid condition key/);
  await expect(sq(t.a, 'GET', `/${b}?policy`), 404, 'NoSuchBucketPolicy', new RegExp(`<BucketName>${b}</BucketName>`));
  await expect(sq(t.a, 'GET', `/${b}?policyStatus`), 404, 'NoSuchBucketPolicy');
  await expect(sq(t.a, 'GET', `/${b}?ownershipControls`), 404, 'OwnershipControlsNotFoundError');
  await expect(sq(t.a, 'GET', `/${b}?publicAccessBlock`), 404, 'NoSuchPublicAccessBlockConfiguration');
  await expect(put('ownershipControls', '<OwnershipControls><Rule><ObjectOwnership>Everyone</ObjectOwnership></Rule></OwnershipControls>'), 400, 'MalformedXML');
  await expect(put('publicAccessBlock', '<PublicAccessBlockConfiguration><BlockPublicAcls>yes</BlockPublicAcls></PublicAccessBlockConfiguration>'), 400, 'MalformedXML');
  await expect(put('acl', '<AccessControlPolicy><AccessControlList><Grant><Grantee><ID>x</ID></Grantee><Permission>ALL</Permission></Grant></AccessControlList></AccessControlPolicy>'), 400, 'MalformedACLError');
  await expect(put('acl', '<AccessControlPolicy><AccessControlList><Grant><Grantee><EmailAddress>a@b.c</EmailAddress></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>'), 400, 'UnresolvableGrantByEmailAddress');
  await expect(put('acl', 'body', { 'x-amz-acl': 'private' }), 400, 'UnexpectedContent');
  await expect(put('acl', '', { 'x-amz-acl': 'everyone' }), 400, 'InvalidArgument');
  await expect(signed(t, t.a, 'PUT', `/other-${tag()}`, { 'x-amz-object-ownership': 'Mine' }), 400, 'InvalidArgument');
  await expect(sq(t.b, 'PUT', `/${b}?publicAccessBlock`, {}, '<PublicAccessBlockConfiguration/>'), 403, 'AccessDenied');
  await expect(sq(t.b, 'DELETE', `/${b}?ownershipControls`), 403, 'AccessDenied');
  // a policy that lets b manage the policy: S3 still keeps it to the owner's account (405)
  assert.equal((await put('policy', policy({ Effect: 'Allow', Principal: { AWS: t.b.accountId }, Action: 's3:PutBucketPolicy', Resource: `arn:aws:s3:::${b}` }))).status, 204);
  await expect(sq(t.b, 'PUT', `/${b}?policy`, {}, policy({ Effect: 'Allow', Principal: '*', Action: 's3:*', Resource: `arn:aws:s3:::${b}` })), 405, 'MethodNotAllowed');
  assert.equal((await sq(t.a, 'DELETE', `/${b}?policy`)).status, 204);
  assert.equal((await signed(t, t.a, 'DELETE', `/${b}`)).status, 204);
});
