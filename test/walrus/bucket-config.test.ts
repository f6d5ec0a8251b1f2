// The bucket configuration reads SDKs and tools make, answered as S3 answers for a bucket
// that has none of it (never a 501 for a read); writes of what Walrus lacks are
// NotImplemented naming the feature. GetObjectAttributes; tagging limits as S3's;
// tags on POST form uploads. Through @aws-sdk/client-s3, boto3 and the AWS CLI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import * as S3 from '@aws-sdk/client-s3';
import { closePool } from '../../db/pool';
import { signingKeyV4, signPolicyV4 } from '../../api/s3/auth';
import { startTestS3, signed, raw, errCode, type TestS3, tag, fail, s3Client } from './helpers';

let t: TestS3;
let c: S3.S3Client;
before(async () => {
  t = await startTestS3();
  c = s3Client(t);
});
after(async () => { c?.destroy(); await t?.close(); await closePool(); });

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env } });
    let out = '';
    p.stdout.on('data', (d) => (out += d)); p.stderr.on('data', (d) => (out += d));
    p.on('exit', (code) => resolve({ code: code ?? -1, out }));
  });
}

test('configuration reads of a bucket that has none: the NoSuch... error or the empty document S3 gives, never 501', async () => {
  const b = `cfg-${tag()}`;
  await c.send(new S3.CreateBucketCommand({ Bucket: b }));
  assert.equal((await c.send(new S3.GetBucketRequestPaymentCommand({ Bucket: b }))).Payer, 'BucketOwner');
  assert.equal((await c.send(new S3.GetBucketAccelerateConfigurationCommand({ Bucket: b }))).Status, undefined);
  assert.equal((await c.send(new S3.GetBucketLoggingCommand({ Bucket: b }))).LoggingEnabled, undefined);
  const n = await c.send(new S3.GetBucketNotificationConfigurationCommand({ Bucket: b }));
  assert.equal(n.TopicConfigurations, undefined); assert.equal(n.QueueConfigurations, undefined); assert.equal(n.LambdaFunctionConfigurations, undefined);
  for (const [cmd, name] of [
    [new S3.GetBucketWebsiteCommand({ Bucket: b }), 'NoSuchWebsiteConfiguration'],
    [new S3.GetBucketEncryptionCommand({ Bucket: b }), 'ServerSideEncryptionConfigurationNotFoundError'],
    [new S3.GetBucketReplicationCommand({ Bucket: b }), 'ReplicationConfigurationNotFoundError'],
    [new S3.GetBucketCorsCommand({ Bucket: b }), 'NoSuchCORSConfiguration'],
    [new S3.GetBucketLifecycleConfigurationCommand({ Bucket: b }), 'NoSuchLifecycleConfiguration'],
    [new S3.GetObjectLockConfigurationCommand({ Bucket: b }), 'ObjectLockConfigurationNotFoundError'],
    [new S3.GetBucketInventoryConfigurationCommand({ Bucket: b, Id: 'x' }), 'NoSuchConfiguration'],
    [new S3.GetBucketAnalyticsConfigurationCommand({ Bucket: b, Id: 'x' }), 'NoSuchConfiguration'],
    [new S3.GetBucketMetricsConfigurationCommand({ Bucket: b, Id: 'x' }), 'NoSuchConfiguration'],
    [new S3.GetBucketIntelligentTieringConfigurationCommand({ Bucket: b, Id: 'x' }), 'NoSuchConfiguration'],
  ] as const) {
    const e = await fail(c.send(cmd as any));
    assert.equal(e?.name, name, cmd.constructor.name); assert.equal(e?.status, 404, cmd.constructor.name);
  }
  assert.equal((await c.send(new S3.ListBucketInventoryConfigurationsCommand({ Bucket: b }))).IsTruncated, false);
  assert.equal((await c.send(new S3.ListBucketAnalyticsConfigurationsCommand({ Bucket: b }))).IsTruncated, false);
  assert.equal((await c.send(new S3.ListBucketMetricsConfigurationsCommand({ Bucket: b }))).IsTruncated, false);
  assert.equal((await c.send(new S3.ListBucketIntelligentTieringConfigurationsCommand({ Bucket: b }))).IsTruncated, false);
  // another account: AccessDenied, as for any configuration read
  const other = new S3.S3Client({ endpoint: t.url, region: t.region, forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: t.b.accessKeyId, secretAccessKey: t.b.secretAccessKey } });
  assert.equal((await fail(other.send(new S3.GetBucketLoggingCommand({ Bucket: b }))))?.name, 'AccessDenied');
  other.destroy();
  // a bucket that does not exist
  assert.equal((await fail(c.send(new S3.GetBucketWebsiteCommand({ Bucket: `nosuch-${tag()}` }))))?.name, 'NoSuchBucket');

  // writes that would turn on what Walrus lacks: NotImplemented, naming it; writes that leave it off, and deletes, succeed
  for (const [cmd, re] of [
    [new S3.PutBucketWebsiteCommand({ Bucket: b, WebsiteConfiguration: { IndexDocument: { Suffix: 'index.html' } } }), /website/i],
    [new S3.PutBucketEncryptionCommand({ Bucket: b, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] } }), /encryption/i],
    [new S3.PutBucketReplicationCommand({ Bucket: b, ReplicationConfiguration: { Role: 'arn:aws:iam::1:role/r', Rules: [{ Status: 'Enabled', Destination: { Bucket: 'arn:aws:s3:::x' } }] } }), /Replication/],
    [new S3.PutBucketRequestPaymentCommand({ Bucket: b, RequestPaymentConfiguration: { Payer: 'Requester' } }), /Requester Pays/],
    [new S3.PutBucketAccelerateConfigurationCommand({ Bucket: b, AccelerateConfiguration: { Status: 'Enabled' } }), /Acceleration/],
    [new S3.PutBucketLoggingCommand({ Bucket: b, BucketLoggingStatus: { LoggingEnabled: { TargetBucket: b, TargetPrefix: 'logs/' } } }), /logging/i],
  ] as const) {
    const e = await fail(c.send(cmd as any));
    assert.equal(e?.name, 'NotImplemented', cmd.constructor.name); assert.equal(e?.status, 501); assert.match(e!.message, re);
  }
  await c.send(new S3.PutBucketRequestPaymentCommand({ Bucket: b, RequestPaymentConfiguration: { Payer: 'BucketOwner' } }));
  await c.send(new S3.PutBucketLoggingCommand({ Bucket: b, BucketLoggingStatus: {} }));
  await c.send(new S3.PutBucketNotificationConfigurationCommand({ Bucket: b, NotificationConfiguration: {} }));
  await c.send(new S3.PutBucketAccelerateConfigurationCommand({ Bucket: b, AccelerateConfiguration: { Status: 'Suspended' } }));
  await c.send(new S3.DeleteBucketWebsiteCommand({ Bucket: b }));
  await c.send(new S3.DeleteBucketEncryptionCommand({ Bucket: b }));
  await c.send(new S3.DeleteBucketReplicationCommand({ Bucket: b }));
  await c.send(new S3.DeleteBucketCommand({ Bucket: b }));
});

test('boto3 and the AWS CLI read the same configurations', async () => {
  const b = `cfgpy-${tag()}`;
  const py = `
import boto3, sys
from botocore.exceptions import ClientError
s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id=sys.argv[3], aws_secret_access_key=sys.argv[4])
b = sys.argv[5]
s3.create_bucket(Bucket=b)
def code(fn):
    try: fn()
    except ClientError as e: return e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode']
    raise SystemExit('expected an error')
assert s3.get_bucket_request_payment(Bucket=b)['Payer'] == 'BucketOwner'
assert 'Status' not in s3.get_bucket_accelerate_configuration(Bucket=b)
assert 'LoggingEnabled' not in s3.get_bucket_logging(Bucket=b)
assert not any(k in s3.get_bucket_notification_configuration(Bucket=b) for k in ('TopicConfigurations', 'QueueConfigurations', 'LambdaFunctionConfigurations'))
assert code(lambda: s3.get_bucket_website(Bucket=b)) == ('NoSuchWebsiteConfiguration', 404)
assert code(lambda: s3.get_bucket_encryption(Bucket=b)) == ('ServerSideEncryptionConfigurationNotFoundError', 404)
assert code(lambda: s3.get_bucket_replication(Bucket=b)) == ('ReplicationConfigurationNotFoundError', 404)
assert code(lambda: s3.get_object_lock_configuration(Bucket=b)) == ('ObjectLockConfigurationNotFoundError', 404)
assert s3.list_bucket_inventory_configurations(Bucket=b)['IsTruncated'] is False
assert s3.list_bucket_metrics_configurations(Bucket=b)['IsTruncated'] is False
e = code(lambda: s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={'Rules': [{'ApplyServerSideEncryptionByDefault': {'SSEAlgorithm': 'AES256'}}]}))
assert e == ('NotImplemented', 501), e
print('ok')
`;
  let r = await run('python3', ['-c', py, t.url, t.region, t.a.accessKeyId, t.a.secretAccessKey, b]);
  assert.equal(r.code, 0, r.out); assert.match(r.out, /ok/);
  const env = { AWS_ACCESS_KEY_ID: t.a.accessKeyId, AWS_SECRET_ACCESS_KEY: t.a.secretAccessKey, AWS_DEFAULT_REGION: t.region, AWS_ENDPOINT_URL: '', AWS_ENDPOINT_URL_S3: '' };
  const aws = (...args: string[]) => run('aws', ['--endpoint-url', t.url, ...args], env);
  r = await aws('s3api', 'get-bucket-request-payment', '--bucket', b);
  assert.equal(r.code, 0, r.out); assert.equal(JSON.parse(r.out).Payer, 'BucketOwner');
  r = await aws('s3api', 'get-bucket-logging', '--bucket', b);
  assert.equal(r.code, 0, r.out);
  r = await aws('s3api', 'get-bucket-website', '--bucket', b);
  assert.notEqual(r.code, 0); assert.match(r.out, /NoSuchWebsiteConfiguration/);
  r = await aws('s3api', 'delete-bucket', '--bucket', b);
  assert.equal(r.code, 0, r.out);
});

test('GetObjectAttributes: ETag, Checksum, ObjectParts (parts of a checksummed multipart object), StorageClass, ObjectSize', async () => {
  const b = `attr-${tag()}`;
  await c.send(new S3.CreateBucketCommand({ Bucket: b }));
  const body = Buffer.from('attributes of this object');
  const p = await c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'one', Body: body, ChecksumAlgorithm: 'SHA256' }));
  const all: S3.ObjectAttributes[] = ['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize'];
  let a = await c.send(new S3.GetObjectAttributesCommand({ Bucket: b, Key: 'one', ObjectAttributes: all }));
  assert.equal(a.ETag, p.ETag!.replace(/"/g, ''));
  assert.equal(a.Checksum?.ChecksumSHA256, p.ChecksumSHA256);
  assert.equal(a.ObjectSize, body.length);
  assert.equal(a.StorageClass, 'STANDARD');
  assert.equal(a.ObjectParts, undefined);
  assert.ok(a.LastModified instanceof Date);
  a = await c.send(new S3.GetObjectAttributesCommand({ Bucket: b, Key: 'one', ObjectAttributes: ['ObjectSize'] }));
  assert.equal(a.ObjectSize, body.length); assert.equal(a.ETag, undefined);
  // a multipart object with CRC32 part checksums: its parts, paged
  const mp = await c.send(new S3.CreateMultipartUploadCommand({ Bucket: b, Key: 'mp', ChecksumAlgorithm: 'CRC32' }));
  const sizes = [5 * 1024 * 1024, 5 * 1024 * 1024, 1234];
  const parts = [];
  for (let i = 0; i < sizes.length; i++) {
    const r = await c.send(new S3.UploadPartCommand({ Bucket: b, Key: 'mp', UploadId: mp.UploadId, PartNumber: i + 1, Body: Buffer.alloc(sizes[i], i + 1), ChecksumAlgorithm: 'CRC32' }));
    parts.push({ PartNumber: i + 1, ETag: r.ETag, ChecksumCRC32: r.ChecksumCRC32 });
  }
  await c.send(new S3.CompleteMultipartUploadCommand({ Bucket: b, Key: 'mp', UploadId: mp.UploadId, MultipartUpload: { Parts: parts } }));
  a = await c.send(new S3.GetObjectAttributesCommand({ Bucket: b, Key: 'mp', ObjectAttributes: ['ObjectParts', 'ObjectSize'], MaxParts: 2 }));
  assert.equal(a.ObjectSize, sizes.reduce((x, y) => x + y));
  assert.equal(a.ObjectParts?.TotalPartsCount, 3);
  assert.equal(a.ObjectParts?.IsTruncated, true);
  assert.deepEqual(a.ObjectParts?.Parts?.map((x) => [x.PartNumber, x.Size, x.ChecksumCRC32]), parts.slice(0, 2).map((x, i) => [x.PartNumber, sizes[i], x.ChecksumCRC32]));
  a = await c.send(new S3.GetObjectAttributesCommand({ Bucket: b, Key: 'mp', ObjectAttributes: ['ObjectParts'], PartNumberMarker: String(a.ObjectParts?.NextPartNumberMarker) as any }));
  assert.deepEqual(a.ObjectParts?.Parts?.map((x) => x.PartNumber), [3]);
  assert.equal(a.ObjectParts?.IsTruncated, false);
  // no attributes asked for, a bad one, a missing key
  let r = await signed(t, t.a, 'GET', `/${b}/one`, {}, undefined, { query: { attributes: '' } });
  assert.equal(r.status, 400); assert.equal(errCode(r), 'InvalidRequest');
  r = await signed(t, t.a, 'GET', `/${b}/one`, { 'x-amz-object-attributes': 'ETag,Colour' }, undefined, { query: { attributes: '' } });
  assert.equal(r.status, 400); assert.equal(errCode(r), 'InvalidArgument');
  assert.equal((await fail(c.send(new S3.GetObjectAttributesCommand({ Bucket: b, Key: 'nope', ObjectAttributes: ['ETag'] }))))?.name, 'NoSuchKey');
  // boto3 too
  const py = `
import boto3, sys
s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id=sys.argv[3], aws_secret_access_key=sys.argv[4])
a = s3.get_object_attributes(Bucket=sys.argv[5], Key='mp', ObjectAttributes=['ETag', 'ObjectParts', 'StorageClass'])
assert a['ETag'].endswith('-3') and a['ObjectParts']['TotalPartsCount'] == 3 and a['StorageClass'] == 'STANDARD', a
print('ok')
`;
  const pr = await run('python3', ['-c', py, t.url, t.region, t.a.accessKeyId, t.a.secretAccessKey, b]);
  assert.equal(pr.code, 0, pr.out);
  for (const k of ['one', 'mp']) await c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: k }));
  await c.send(new S3.DeleteBucketCommand({ Bucket: b }));
});

test('tagging limits as S3: 10 per object, 50 per bucket, key 128, value 256, no duplicate keys', async () => {
  const b = `tags-${tag()}`;
  await c.send(new S3.CreateBucketCommand({ Bucket: b }));
  await c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }));
  const tags = (n: number, f = (i: number) => ({ Key: `k${i}`, Value: `v${i}` })) => Array.from({ length: n }, (_, i) => f(i));
  await c.send(new S3.PutObjectTaggingCommand({ Bucket: b, Key: 'k', Tagging: { TagSet: tags(10) } }));
  let e = await fail(c.send(new S3.PutObjectTaggingCommand({ Bucket: b, Key: 'k', Tagging: { TagSet: tags(11) } })));
  assert.equal(e?.name, 'BadRequest'); assert.equal(e?.status, 400); assert.match(e!.message, /Object tags cannot be greater than 10/);
  await c.send(new S3.PutBucketTaggingCommand({ Bucket: b, Tagging: { TagSet: tags(50) } }));
  e = await fail(c.send(new S3.PutBucketTaggingCommand({ Bucket: b, Tagging: { TagSet: tags(51) } })));
  assert.equal(e?.name, 'BadRequest'); assert.match(e!.message, /Bucket tag count cannot be greater than 50/);
  for (const [set, re] of [
    [[{ Key: 'k'.repeat(129), Value: 'v' }], /TagKey/],
    [[{ Key: 'ok', Value: 'v'.repeat(257) }], /TagValue/],
    [[{ Key: 'same', Value: '1' }, { Key: 'same', Value: '2' }], /same key/],
    [[{ Key: 'bad<char>', Value: 'v' }], /TagKey/],
  ] as const) {
    for (const send of [
      () => c.send(new S3.PutObjectTaggingCommand({ Bucket: b, Key: 'k', Tagging: { TagSet: [...set] } })),
      () => c.send(new S3.PutBucketTaggingCommand({ Bucket: b, Tagging: { TagSet: [...set] } })),
    ]) {
      e = await fail(send());
      assert.equal(e?.name, 'InvalidTag', JSON.stringify(set).slice(0, 60)); assert.equal(e?.status, 400); assert.match(e!.message, re);
    }
  }
  await c.send(new S3.PutObjectTaggingCommand({ Bucket: b, Key: 'k', Tagging: { TagSet: [{ Key: 'k'.repeat(128), Value: 'v'.repeat(256) }, { Key: 'Ünïcode + - = . _ : / @', Value: '' }] } }));
  // x-amz-tagging on PutObject: the same limits
  e = await fail(c.send(new S3.PutObjectCommand({ Bucket: b, Key: 'k2', Body: 'x', Tagging: tags(11).map((x) => `${x.Key}=${x.Value}`).join('&') })));
  assert.equal(e?.name, 'BadRequest');
  // PutBucketTagging wants Content-MD5 or a checksum
  const doc = '<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>';
  const r = await signed(t, t.a, 'PUT', `/${b}`, {}, doc, { query: { tagging: '' } });
  assert.equal(r.status, 400); assert.equal(errCode(r), 'InvalidRequest');
  await c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  await c.send(new S3.DeleteBucketCommand({ Bucket: b }));
});

test('POST form upload with tags: the `tagging` field (XML) and `x-amz-tagging`', async () => {
  const b = `posttag-${tag()}`;
  await c.send(new S3.CreateBucketCommand({ Bucket: b }));
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z'); const date = amzDate.slice(0, 8);
  const credential = `${t.a.accessKeyId}/${date}/${t.region}/s3/aws4_request`;
  const postWith = async (key: string, extra: Array<[string, string]>) => {
    const policy = Buffer.from(JSON.stringify({
      expiration: new Date(Date.now() + 600_000).toISOString(),
      conditions: [{ bucket: b }, { key }, ...extra.map(([k, v]) => ({ [k]: v })), { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' }, { 'x-amz-credential': credential }, { 'x-amz-date': amzDate }],
    })).toString('base64');
    const sig = signPolicyV4(signingKeyV4(t.a.secretAccessKey, date, t.region, 's3'), policy);
    const fields: Array<[string, string]> = [['key', key], ...extra, ['x-amz-algorithm', 'AWS4-HMAC-SHA256'], ['x-amz-credential', credential], ['x-amz-date', amzDate], ['policy', policy], ['x-amz-signature', sig]];
    const boundary = '----walrus' + crypto.randomBytes(8).toString('hex');
    const parts = fields.map(([k, v]) => Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\nContent-Type: text/plain\r\n\r\nform body\r\n--${boundary}--\r\n`));
    const body = Buffer.concat(parts);
    return raw(t.url, 'POST', `/${b}`, { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(body.length) }, body);
  };
  let r = await postWith('xml-tags', [['tagging', '<Tagging><TagSet><Tag><Key>project</Key><Value>walrus</Value></Tag><Tag><Key>tier</Key><Value>1</Value></Tag></TagSet></Tagging>']]);
  assert.equal(r.status, 204, r.body.toString());
  assert.deepEqual((await c.send(new S3.GetObjectTaggingCommand({ Bucket: b, Key: 'xml-tags' }))).TagSet, [{ Key: 'project', Value: 'walrus' }, { Key: 'tier', Value: '1' }]);
  r = await postWith('query-tags', [['x-amz-tagging', 'a=1&b=two%20words']]);
  assert.equal(r.status, 204, r.body.toString());
  assert.deepEqual((await c.send(new S3.GetObjectTaggingCommand({ Bucket: b, Key: 'query-tags' }))).TagSet, [{ Key: 'a', Value: '1' }, { Key: 'b', Value: 'two words' }]);
  r = await postWith('bad-tags', [['tagging', '<Tagging><TagSet><Tag><Key>x</Key><Value>1</Value></Tag><Tag><Key>x</Key><Value>2</Value></Tag></TagSet></Tagging>']]);
  assert.equal(r.status, 400); assert.equal(errCode(r), 'InvalidTag');
  for (const k of ['xml-tags', 'query-tags']) await c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: k }));
  await c.send(new S3.DeleteBucketCommand({ Bucket: b }));
});
