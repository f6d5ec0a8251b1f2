// S3 Object Lock on Walrus through @aws-sdk/client-s3, boto3 (as backup tools asking for
// immutability use it) and the AWS CLI: lock-enabled buckets, default retention,
// GOVERNANCE (bypassable) and COMPLIANCE (only extended) retention, legal holds, locked
// versions that cannot be deleted, and the integrity header S3 requires.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import * as S3 from '@aws-sdk/client-s3';
import { closePool } from '../../db/pool';
import { startTestS3, signed, errCode, type TestS3, tag, fail, s3Client } from './helpers';

let t: TestS3;
let c: S3.S3Client;
before(async () => {
  t = await startTestS3();
  c = s3Client(t);
});
after(async () => { c?.destroy(); await t?.close(); await closePool(); });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const md5 = (s: string | Buffer) => crypto.createHash('md5').update(s).digest('base64');

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env } });
    let out = '';
    p.stdout.on('data', (d) => (out += d)); p.stderr.on('data', (d) => (out += d));
    p.on('exit', (code) => resolve({ code: code ?? -1, out }));
  });
}

/** Removes every version (bypassing GOVERNANCE) and the bucket. */
async function purge(b: string) {
  const v = await c.send(new S3.ListObjectVersionsCommand({ Bucket: b }));
  for (const x of [...(v.Versions ?? []), ...(v.DeleteMarkers ?? [])]) {
    await c.send(new S3.PutObjectLegalHoldCommand({ Bucket: b, Key: x.Key, VersionId: x.VersionId, LegalHold: { Status: 'OFF' } })).catch(() => undefined);
    await c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: x.Key, VersionId: x.VersionId, BypassGovernanceRetention: true }));
  }
  await c.send(new S3.DeleteBucketCommand({ Bucket: b }));
}

test('lock-enabled bucket: versioning on for good, lock configuration with default retention; S3 errors around it', async () => {
  const b = `lock-${tag()}`;
  await c.send(new S3.CreateBucketCommand({ Bucket: b, ObjectLockEnabledForBucket: true }));
  assert.equal((await c.send(new S3.GetBucketVersioningCommand({ Bucket: b }))).Status, 'Enabled');
  let cfg = await c.send(new S3.GetObjectLockConfigurationCommand({ Bucket: b }));
  assert.deepEqual(cfg.ObjectLockConfiguration, { ObjectLockEnabled: 'Enabled' });
  let e = await fail(c.send(new S3.PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Suspended' } })));
  assert.equal(e?.name, 'InvalidBucketState'); assert.equal(e?.status, 409);
  await c.send(new S3.PutObjectLockConfigurationCommand({ Bucket: b, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1 } } } }));
  cfg = await c.send(new S3.GetObjectLockConfigurationCommand({ Bucket: b }));
  assert.deepEqual(cfg.ObjectLockConfiguration, { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1 } } });
  e = await fail(c.send(new S3.PutObjectLockConfigurationCommand({ Bucket: b, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1, Years: 1 } } } })));
  assert.equal(e?.name, 'MalformedXML');
  e = await fail(c.send(new S3.PutObjectLockConfigurationCommand({ Bucket: b, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 0 } } } })));
  assert.equal(e?.name, 'InvalidArgument');

  // the default retention applies to a new version
  const put = await c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'k', Body: 'v1' }));
  const head = await c.send(new S3.HeadObjectCommand({ Bucket: b, Key: 'k' }));
  assert.equal(head.ObjectLockMode, 'GOVERNANCE');
  const until = head.ObjectLockRetainUntilDate!.getTime();
  assert.ok(Math.abs(until - (Date.now() + 86_400_000)) < 60_000, String(head.ObjectLockRetainUntilDate));
  const ret = await c.send(new S3.GetObjectRetentionCommand({ Bucket: b, Key: 'k' }));
  assert.equal(ret.Retention?.Mode, 'GOVERNANCE');
  // a delete marker is allowed; deleting the version is not, unless GOVERNANCE is bypassed
  const dm = await c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  assert.equal(dm.DeleteMarker, true);
  e = await fail(c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: put.VersionId })));
  assert.equal(e?.name, 'AccessDenied'); assert.equal(e?.status, 403);
  // nor may a GOVERNANCE retention be shortened without the bypass
  e = await fail(c.send(new S3.PutObjectRetentionCommand({ Bucket: b, Key: 'k', VersionId: put.VersionId, Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date(Date.now() + 3600_000) } })));
  assert.equal(e?.name, 'AccessDenied');
  await c.send(new S3.PutObjectRetentionCommand({ Bucket: b, Key: 'k', VersionId: put.VersionId, BypassGovernanceRetention: true, Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date(Date.now() + 3600_000) } }));
  await c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: put.VersionId, BypassGovernanceRetention: true }));
  await c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: dm.VersionId }));

  // a plain bucket has no lock configuration; lock headers there are refused
  const p = `plain-${tag()}`;
  await c.send(new S3.CreateBucketCommand({ Bucket: p }));
  e = await fail(c.send(new S3.GetObjectLockConfigurationCommand({ Bucket: p })));
  assert.equal(e?.name, 'ObjectLockConfigurationNotFoundError'); assert.equal(e?.status, 404);
  e = await fail(c.send(new S3.PutObjectCommand({ Bucket: p, Key: 'x', Body: 'x', ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: new Date(Date.now() + 60_000) })));
  assert.equal(e?.name, 'InvalidRequest');
  e = await fail(c.send(new S3.GetObjectRetentionCommand({ Bucket: p, Key: 'x' })));
  assert.equal(e?.name, 'InvalidRequest');
  // Object Lock on an existing bucket needs versioning Enabled first (then it is on for good)
  e = await fail(c.send(new S3.PutObjectLockConfigurationCommand({ Bucket: p, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } })));
  assert.equal(e?.name, 'InvalidBucketState'); assert.equal(e?.status, 409);
  await c.send(new S3.PutBucketVersioningCommand({ Bucket: p, VersioningConfiguration: { Status: 'Enabled' } }));
  await c.send(new S3.PutObjectLockConfigurationCommand({ Bucket: p, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } }));
  assert.equal((await c.send(new S3.GetObjectLockConfigurationCommand({ Bucket: p }))).ObjectLockConfiguration?.ObjectLockEnabled, 'Enabled');
  await purge(p);
  await purge(b);
});

test('COMPLIANCE: no bypass, retention only extended; legal hold blocks deletes until released; multipart and DeleteObjects', async () => {
  const b = `lockc-${tag()}`;
  await c.send(new S3.CreateBucketCommand({ Bucket: b, ObjectLockEnabledForBucket: true }));
  const soon = new Date(Date.now() + 4000);
  const put = await c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'c', Body: 'compliant', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: soon }));
  const head = await c.send(new S3.HeadObjectCommand({ Bucket: b, Key: 'c' }));
  assert.equal(head.ObjectLockMode, 'COMPLIANCE');
  assert.equal(head.ObjectLockRetainUntilDate?.getTime(), soon.getTime());
  let e = await fail(c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: 'c', VersionId: put.VersionId, BypassGovernanceRetention: true })));
  assert.equal(e?.name, 'AccessDenied');
  e = await fail(c.send(new S3.PutObjectRetentionCommand({ Bucket: b, Key: 'c', VersionId: put.VersionId, BypassGovernanceRetention: true, Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date(Date.now() + 60_000) } })));
  assert.equal(e?.name, 'AccessDenied', 'COMPLIANCE cannot become GOVERNANCE');
  e = await fail(c.send(new S3.PutObjectRetentionCommand({ Bucket: b, Key: 'c', VersionId: put.VersionId, Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date(soon.getTime() - 2000) } })));
  assert.equal(e?.name, 'AccessDenied', 'COMPLIANCE cannot be shortened');
  e = await fail(c.send(new S3.PutObjectRetentionCommand({ Bucket: b, Key: 'c', VersionId: put.VersionId, Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date(Date.now() - 1000) } })));
  assert.equal(e?.name, 'InvalidArgument', 'a date in the past');
  const later = new Date(soon.getTime() + 2000);
  await c.send(new S3.PutObjectRetentionCommand({ Bucket: b, Key: 'c', VersionId: put.VersionId, Retention: { Mode: 'COMPLIANCE', RetainUntilDate: later } }));
  assert.equal((await c.send(new S3.GetObjectRetentionCommand({ Bucket: b, Key: 'c', VersionId: put.VersionId }))).Retention?.RetainUntilDate?.getTime(), later.getTime());

  // legal hold: never set, then ON (no delete, not even bypassing), then OFF
  const h = await c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'held', Body: 'x' }));
  e = await fail(c.send(new S3.GetObjectLegalHoldCommand({ Bucket: b, Key: 'held' })));
  assert.equal(e?.name, 'NoSuchObjectLockConfiguration');
  await c.send(new S3.PutObjectLegalHoldCommand({ Bucket: b, Key: 'held', LegalHold: { Status: 'ON' } }));
  assert.equal((await c.send(new S3.GetObjectLegalHoldCommand({ Bucket: b, Key: 'held' }))).LegalHold?.Status, 'ON');
  assert.equal((await c.send(new S3.HeadObjectCommand({ Bucket: b, Key: 'held' }))).ObjectLockLegalHoldStatus, 'ON');
  e = await fail(c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: 'held', VersionId: h.VersionId, BypassGovernanceRetention: true })));
  assert.equal(e?.name, 'AccessDenied');
  // DeleteObjects: per-key AccessDenied for the protected versions
  const del = await c.send(new S3.DeleteObjectsCommand({ Bucket: b, BypassGovernanceRetention: true, Delete: { Objects: [{ Key: 'held', VersionId: h.VersionId }, { Key: 'c', VersionId: put.VersionId }] } }));
  assert.deepEqual((del.Errors ?? []).map((x) => [x.Key, x.Code]).sort(), [['c', 'AccessDenied'], ['held', 'AccessDenied']]);
  await c.send(new S3.PutObjectLegalHoldCommand({ Bucket: b, Key: 'held', LegalHold: { Status: 'OFF' } }));
  await c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: 'held', VersionId: h.VersionId }));

  // multipart: x-amz-object-lock-* of CreateMultipartUpload hold for the completed object
  const mp = await c.send(new S3.CreateMultipartUploadCommand({ Bucket: b, Key: 'mp', ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: new Date(Date.now() + 3600_000), ObjectLockLegalHoldStatus: 'OFF' }));
  const part = await c.send(new S3.UploadPartCommand({ Bucket: b, Key: 'mp', UploadId: mp.UploadId, PartNumber: 1, Body: Buffer.alloc(1000, 1) }));
  const done = await c.send(new S3.CompleteMultipartUploadCommand({ Bucket: b, Key: 'mp', UploadId: mp.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
  const mh = await c.send(new S3.HeadObjectCommand({ Bucket: b, Key: 'mp' }));
  assert.equal(mh.ObjectLockMode, 'GOVERNANCE'); assert.equal(mh.ObjectLockLegalHoldStatus, 'OFF');
  e = await fail(c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: 'mp', VersionId: done.VersionId })));
  assert.equal(e?.name, 'AccessDenied');
  // CopyObject takes its own lock headers
  const cp = await c.send(new S3.CopyObjectCommand({ Bucket: b, Key: 'copy', CopySource: `${b}/mp`, ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: new Date(Date.now() + 3000) }));
  assert.equal((await c.send(new S3.HeadObjectCommand({ Bucket: b, Key: 'copy', VersionId: cp.VersionId }))).ObjectLockMode, 'COMPLIANCE');

  // after the COMPLIANCE dates have passed, the versions may go
  await sleep(Math.max(0, later.getTime() - Date.now()) + 3100);
  await c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: 'c', VersionId: put.VersionId }));
  await purge(b);
});

test('integrity and header checks: Content-MD5 or a checksum where S3 requires one; bad lock headers', async () => {
  const b = `locki-${tag()}`;
  await c.send(new S3.CreateBucketCommand({ Bucket: b, ObjectLockEnabledForBucket: true }));
  const until = new Date(Date.now() + 3600_000).toISOString();
  // PutObject with lock parameters and neither Content-MD5 nor a checksum
  let r = await signed(t, t.a, 'PUT', `/${b}/raw`, { 'x-amz-object-lock-mode': 'GOVERNANCE', 'x-amz-object-lock-retain-until-date': until }, 'data');
  assert.equal(r.status, 400); assert.equal(errCode(r), 'InvalidRequest'); assert.match(r.body.toString(), /Content-MD5 OR x-amz-checksum/);
  r = await signed(t, t.a, 'PUT', `/${b}/raw`, { 'x-amz-object-lock-mode': 'GOVERNANCE', 'x-amz-object-lock-retain-until-date': until, 'content-md5': md5('data') }, 'data');
  assert.equal(r.status, 200, r.body.toString());
  r = await signed(t, t.a, 'PUT', `/${b}/raw2`, { 'x-amz-object-lock-mode': 'FOREVER', 'x-amz-object-lock-retain-until-date': until, 'content-md5': md5('data') }, 'data');
  assert.equal(errCode(r), 'InvalidArgument');
  r = await signed(t, t.a, 'PUT', `/${b}/raw2`, { 'x-amz-object-lock-mode': 'GOVERNANCE', 'content-md5': md5('data') }, 'data');
  assert.equal(errCode(r), 'InvalidArgument');
  r = await signed(t, t.a, 'PUT', `/${b}/raw2`, { 'x-amz-object-lock-legal-hold': 'MAYBE', 'content-md5': md5('data') }, 'data');
  assert.equal(errCode(r), 'InvalidArgument');
  r = await signed(t, t.a, 'PUT', `/${b}/raw2`, { 'x-amz-object-lock-mode': 'GOVERNANCE', 'x-amz-object-lock-retain-until-date': new Date(Date.now() - 1000).toISOString(), 'content-md5': md5('data') }, 'data');
  assert.equal(errCode(r), 'InvalidArgument');
  // PutObjectRetention / PutObjectLegalHold / PutObjectLockConfiguration bodies need it too
  for (const [q, body] of [
    ['retention', `<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>${until}</RetainUntilDate></Retention>`],
    ['legal-hold', '<LegalHold><Status>ON</Status></LegalHold>'],
  ]) {
    r = await signed(t, t.a, 'PUT', `/${b}/raw`, {}, body, { query: { [q]: '' } });
    assert.equal(r.status, 400, q); assert.equal(errCode(r), 'InvalidRequest', q);
  }
  const lc = '<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>';
  r = await signed(t, t.a, 'PUT', `/${b}`, {}, lc, { query: { 'object-lock': '' } });
  assert.equal(errCode(r), 'InvalidRequest');
  r = await signed(t, t.a, 'PUT', `/${b}`, { 'content-md5': md5(lc) }, lc, { query: { 'object-lock': '' } });
  assert.equal(r.status, 200, r.body.toString());
  await purge(b);
});

test('boto3 (what backup tools check) and the AWS CLI', async () => {
  const b = `lockpy-${tag()}`;
  const py = `
import boto3, sys, datetime
from botocore.exceptions import ClientError
E, R, AK, SK, B = sys.argv[1:6]
s3 = boto3.client('s3', endpoint_url=E, region_name=R, aws_access_key_id=AK, aws_secret_access_key=SK)
def code(fn):
    try: fn()
    except ClientError as e: return e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode']
    raise SystemExit('expected an error')
s3.create_bucket(Bucket=B, ObjectLockEnabledForBucket=True)
# restic / Veeam-style: is the bucket immutable-capable, and with what default?
cfg = s3.get_object_lock_configuration(Bucket=B)['ObjectLockConfiguration']
assert cfg == {'ObjectLockEnabled': 'Enabled'}, cfg
assert s3.get_bucket_versioning(Bucket=B)['Status'] == 'Enabled'
s3.put_object_lock_configuration(Bucket=B, ObjectLockConfiguration={'ObjectLockEnabled': 'Enabled', 'Rule': {'DefaultRetention': {'Mode': 'COMPLIANCE', 'Days': 7}}})
assert s3.get_object_lock_configuration(Bucket=B)['ObjectLockConfiguration']['Rule']['DefaultRetention'] == {'Mode': 'COMPLIANCE', 'Days': 7}
s3.put_object_lock_configuration(Bucket=B, ObjectLockConfiguration={'ObjectLockEnabled': 'Enabled', 'Rule': {'DefaultRetention': {'Mode': 'GOVERNANCE', 'Days': 1}}})
until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2)
v = s3.put_object(Bucket=B, Key='backup/data.bin', Body=b'x' * 1000, ObjectLockMode='GOVERNANCE', ObjectLockRetainUntilDate=until)['VersionId']
r = s3.get_object_retention(Bucket=B, Key='backup/data.bin', VersionId=v)['Retention']
assert r['Mode'] == 'GOVERNANCE' and abs((r['RetainUntilDate'] - until).total_seconds()) < 1, r
# extend, as backup tools refresh retention
s3.put_object_retention(Bucket=B, Key='backup/data.bin', VersionId=v, Retention={'Mode': 'GOVERNANCE', 'RetainUntilDate': until + datetime.timedelta(days=1)})
assert code(lambda: s3.delete_object(Bucket=B, Key='backup/data.bin', VersionId=v)) == ('AccessDenied', 403)
s3.put_object_legal_hold(Bucket=B, Key='backup/data.bin', VersionId=v, LegalHold={'Status': 'ON'})
assert s3.get_object_legal_hold(Bucket=B, Key='backup/data.bin', VersionId=v)['LegalHold']['Status'] == 'ON'
assert code(lambda: s3.delete_object(Bucket=B, Key='backup/data.bin', VersionId=v, BypassGovernanceRetention=True)) == ('AccessDenied', 403)
s3.put_object_legal_hold(Bucket=B, Key='backup/data.bin', VersionId=v, LegalHold={'Status': 'OFF'})
assert code(lambda: s3.put_bucket_versioning(Bucket=B, VersioningConfiguration={'Status': 'Suspended'})) == ('InvalidBucketState', 409)
s3.delete_object(Bucket=B, Key='backup/data.bin', VersionId=v, BypassGovernanceRetention=True)
print('ok')
`;
  let r = await run('python3', ['-c', py, t.url, t.region, t.a.accessKeyId, t.a.secretAccessKey, b]);
  assert.equal(r.code, 0, r.out); assert.match(r.out, /ok/);
  const env = { AWS_ACCESS_KEY_ID: t.a.accessKeyId, AWS_SECRET_ACCESS_KEY: t.a.secretAccessKey, AWS_DEFAULT_REGION: t.region, AWS_ENDPOINT_URL: '', AWS_ENDPOINT_URL_S3: '' };
  r = await run('aws', ['--endpoint-url', t.url, 's3api', 'get-object-lock-configuration', '--bucket', b], env);
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(JSON.parse(r.out).ObjectLockConfiguration, { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1 } } });
  r = await run('aws', ['--endpoint-url', t.url, 's3api', 'put-object', '--bucket', b, '--key', 'cli.txt', '--body', '/etc/hostname'], env);
  assert.equal(r.code, 0, r.out);
  const vid = JSON.parse(r.out).VersionId;
  r = await run('aws', ['--endpoint-url', t.url, 's3api', 'get-object-retention', '--bucket', b, '--key', 'cli.txt'], env);
  assert.equal(r.code, 0, r.out); assert.equal(JSON.parse(r.out).Retention.Mode, 'GOVERNANCE');
  r = await run('aws', ['--endpoint-url', t.url, 's3api', 'delete-object', '--bucket', b, '--key', 'cli.txt', '--version-id', vid], env);
  assert.notEqual(r.code, 0); assert.match(r.out, /AccessDenied/);
  r = await run('aws', ['--endpoint-url', t.url, 's3api', 'delete-object', '--bucket', b, '--key', 'cli.txt', '--version-id', vid, '--bypass-governance-retention'], env);
  assert.equal(r.code, 0, r.out);
  await purge(b);
});
