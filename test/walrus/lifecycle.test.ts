// S3 lifecycle on Walrus: Put/Get/DeleteBucketLifecycleConfiguration through
// @aws-sdk/client-s3, boto3 and the AWS CLI (validation as S3's), and the rules applied by
// the walrusLifecycle workflow started from a Temporal Schedule: this file runs the CLC's
// lifecycle activities in a worker of its own (on its own task queue, against this test's
// Walrus data directory) with a lifecycle "day" of 2 seconds, makes its own schedule with
// the same function the CLC worker uses, and triggers it instead of waiting for it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import * as S3 from '@aws-sdk/client-s3';
import { Worker, Runtime, DefaultLogger, makeTelemetryFilterString } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { closePool } from '../../db/pool';
import { temporalClient, workerConnection } from '../../lib/temporal';
import { createLifecycleActivities } from '../../activities/clc/lifecycle';
import { ensureLifecycleSchedule, LIFECYCLE_SCHEDULE_ID } from '../../walrus/lifecycleSchedule';
import type { LifecycleRunResult } from '../../workflows/walrus/lifecycle';
import { startTestS3, signed, errCode, type TestS3, tag, fail, s3Client } from './helpers';

const DAY_SECONDS = 2;
let t: TestS3;
let c: S3.S3Client;
before(async () => {
  t = await startTestS3();
  c = s3Client(t);
});
after(async () => { c?.destroy(); await t?.close(); await closePool(); });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env } });
    let out = '';
    p.stdout.on('data', (d) => (out += d)); p.stderr.on('data', (d) => (out += d));
    p.on('exit', (code) => resolve({ code: code ?? -1, out }));
  });
}
const put = (Bucket: string, Key: string, Body: string | Buffer, extra: Partial<S3.PutObjectCommandInput> = {}) => c.send(new S3.PutObjectCommand({ Bucket, Key, Body, ...extra }));
const keys = async (Bucket: string) => ((await c.send(new S3.ListObjectsV2Command({ Bucket }))).Contents ?? []).map((o) => o.Key!).sort();
async function purge(b: string) {
  const v = await c.send(new S3.ListObjectVersionsCommand({ Bucket: b }));
  for (const x of [...(v.Versions ?? []), ...(v.DeleteMarkers ?? [])]) await c.send(new S3.DeleteObjectCommand({ Bucket: b, Key: x.Key, VersionId: x.VersionId, BypassGovernanceRetention: true }));
  const u = await c.send(new S3.ListMultipartUploadsCommand({ Bucket: b }));
  for (const x of u.Uploads ?? []) await c.send(new S3.AbortMultipartUploadCommand({ Bucket: b, Key: x.Key, UploadId: x.UploadId }));
  await c.send(new S3.DeleteBucketCommand({ Bucket: b }));
}

test('Put/Get/DeleteBucketLifecycleConfiguration: round trip of every filter shape, S3 validation errors', async () => {
  const b = `lcc-${tag()}`;
  await c.send(new S3.CreateBucketCommand({ Bucket: b }));
  let e = await fail(c.send(new S3.GetBucketLifecycleConfigurationCommand({ Bucket: b })));
  assert.equal(e?.name, 'NoSuchLifecycleConfiguration'); assert.equal(e?.status, 404);
  const Rules: S3.LifecycleRule[] = [
    { ID: 'logs', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 30 } },
    { ID: 'tag', Status: 'Enabled', Filter: { Tag: { Key: 'class', Value: 'temp' } }, Expiration: { Date: new Date('2031-01-01T00:00:00Z') } },
    { ID: 'and', Status: 'Disabled', Filter: { And: { Prefix: 'big/', Tags: [{ Key: 'a', Value: '1' }, { Key: 'b', Value: '2' }], ObjectSizeGreaterThan: 1000, ObjectSizeLessThan: 5000 } }, NoncurrentVersionExpiration: { NoncurrentDays: 7, NewerNoncurrentVersions: 3 } },
    { ID: 'size', Status: 'Enabled', Filter: { ObjectSizeLessThan: 10 }, Expiration: { Days: 1 } },
    { ID: 'dm', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { ExpiredObjectDeleteMarker: true }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 } },
  ];
  const p = await c.send(new S3.PutBucketLifecycleConfigurationCommand({ Bucket: b, LifecycleConfiguration: { Rules } }));
  assert.equal(p.TransitionDefaultMinimumObjectSize, 'all_storage_classes_128K');
  const g = await c.send(new S3.GetBucketLifecycleConfigurationCommand({ Bucket: b }));
  assert.deepEqual(g.Rules, Rules);
  const bad = async (rule: Record<string, unknown>, name: string, re?: RegExp) => {
    const x = await fail(c.send(new S3.PutBucketLifecycleConfigurationCommand({ Bucket: b, LifecycleConfiguration: { Rules: [rule as unknown as S3.LifecycleRule] } })));
    assert.equal(x?.name, name, JSON.stringify(rule));
    if (re) assert.match(x!.message, re);
  };
  await bad({ ID: 'x', Status: 'Enabled', Filter: { Prefix: 'a' }, Expiration: { Days: 0 } }, 'InvalidArgument', /positive integer/);
  await bad({ ID: 'x', Status: 'Enabled', Filter: { Prefix: 'a' } }, 'InvalidRequest', /At least one action/);
  await bad({ ID: 'x', Status: 'Enabled', Filter: { Prefix: 'a' }, Expiration: { Date: new Date('2031-01-01T12:00:00Z') } }, 'InvalidArgument', /midnight/);
  await bad({ ID: 'x', Status: 'Maybe', Filter: { Prefix: 'a' }, Expiration: { Days: 1 } }, 'MalformedXML');
  await bad({ ID: 'x', Status: 'Enabled', Filter: { Tag: { Key: 'k', Value: 'v' } }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }, 'InvalidRequest', /Tags/);
  await bad({ ID: 'x', Status: 'Enabled', Filter: { Prefix: 'a' }, Transitions: [{ Days: 30, StorageClass: 'GLACIER' }] }, 'NotImplemented', /transitions/i);
  await bad({ ID: 'x', Status: 'Enabled', Filter: { Prefix: 'a' }, NoncurrentVersionExpiration: { NoncurrentDays: 1, NewerNoncurrentVersions: 101 } }, 'InvalidArgument');
  const two = await fail(c.send(new S3.PutBucketLifecycleConfigurationCommand({ Bucket: b, LifecycleConfiguration: { Rules: [Rules[0], { ...Rules[0] }] } })));
  assert.equal(two?.name, 'InvalidArgument'); assert.match(two!.message, /unique/);
  // raw: Filter and Prefix both, no Content-MD5 or checksum
  const both = '<LifecycleConfiguration><Rule><ID>x</ID><Prefix>a</Prefix><Filter><Prefix>a</Prefix></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>';
  let r = await signed(t, t.a, 'PUT', `/${b}`, { 'content-md5': crypto.createHash('md5').update(both).digest('base64') }, both, { query: { lifecycle: '' } });
  assert.equal(errCode(r), 'MalformedXML');
  const legacy = '<LifecycleConfiguration><Rule><ID>old</ID><Prefix>tmp/</Prefix><Status>Enabled</Status><Expiration><Days>3</Days></Expiration></Rule></LifecycleConfiguration>';
  r = await signed(t, t.a, 'PUT', `/${b}`, {}, legacy, { query: { lifecycle: '' } });
  assert.equal(r.status, 400); assert.equal(errCode(r), 'InvalidRequest');
  r = await signed(t, t.a, 'PUT', `/${b}`, { 'content-md5': crypto.createHash('md5').update(legacy).digest('base64') }, legacy, { query: { lifecycle: '' } });
  assert.equal(r.status, 200, r.body.toString());
  // the old-style rule (Prefix beside Status) comes back as written
  const lg = await c.send(new S3.GetBucketLifecycleConfigurationCommand({ Bucket: b }));
  assert.deepEqual(lg.Rules, [{ ID: 'old', Prefix: 'tmp/', Status: 'Enabled', Expiration: { Days: 3 } }]);
  await c.send(new S3.DeleteBucketLifecycleCommand({ Bucket: b }));
  assert.equal((await fail(c.send(new S3.GetBucketLifecycleConfigurationCommand({ Bucket: b }))))?.name, 'NoSuchLifecycleConfiguration');
  await c.send(new S3.DeleteBucketCommand({ Bucket: b }));
});

test('boto3 and the AWS CLI: put/get/delete lifecycle configuration', async () => {
  const b = `lccli-${tag()}`;
  const env = { AWS_ACCESS_KEY_ID: t.a.accessKeyId, AWS_SECRET_ACCESS_KEY: t.a.secretAccessKey, AWS_DEFAULT_REGION: t.region, AWS_ENDPOINT_URL: '', AWS_ENDPOINT_URL_S3: '' };
  const aws = (...args: string[]) => run('aws', ['--endpoint-url', t.url, ...args], env);
  let r = await aws('s3api', 'create-bucket', '--bucket', b);
  assert.equal(r.code, 0, r.out);
  r = await aws('s3api', 'put-bucket-lifecycle-configuration', '--bucket', b, '--lifecycle-configuration',
    JSON.stringify({ Rules: [{ ID: 'cli', Status: 'Enabled', Filter: { Prefix: 'tmp/' }, Expiration: { Days: 7 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }] }));
  assert.equal(r.code, 0, r.out);
  const py = `
import boto3, sys
from botocore.exceptions import ClientError
s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id=sys.argv[3], aws_secret_access_key=sys.argv[4])
b = sys.argv[5]
rules = s3.get_bucket_lifecycle_configuration(Bucket=b)['Rules']
assert rules == [{'ID': 'cli', 'Status': 'Enabled', 'Filter': {'Prefix': 'tmp/'}, 'Expiration': {'Days': 7}, 'AbortIncompleteMultipartUpload': {'DaysAfterInitiation': 1}}], rules
s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={'Rules': [
    {'ID': 'nc', 'Status': 'Enabled', 'Filter': {}, 'NoncurrentVersionExpiration': {'NoncurrentDays': 30, 'NewerNoncurrentVersions': 5}},
    {'ID': 'size', 'Status': 'Enabled', 'Filter': {'ObjectSizeGreaterThan': 1048576}, 'Expiration': {'Days': 365}}]})
got = s3.get_bucket_lifecycle_configuration(Bucket=b)['Rules']
assert [x['ID'] for x in got] == ['nc', 'size'] and got[1]['Filter'] == {'ObjectSizeGreaterThan': 1048576}, got
try:
    s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={'Rules': [{'ID': 'z', 'Status': 'Enabled', 'Filter': {'Prefix': 'a'}, 'Expiration': {'Days': -1}}]})
    raise SystemExit('expected InvalidArgument')
except ClientError as e:
    assert e.response['Error']['Code'] == 'InvalidArgument', e.response
s3.delete_bucket_lifecycle(Bucket=b)
try:
    s3.get_bucket_lifecycle_configuration(Bucket=b); raise SystemExit('expected NoSuchLifecycleConfiguration')
except ClientError as e:
    assert e.response['Error']['Code'] == 'NoSuchLifecycleConfiguration' and e.response['ResponseMetadata']['HTTPStatusCode'] == 404
print('ok')
`;
  r = await run('python3', ['-c', py, t.url, t.region, t.a.accessKeyId, t.a.secretAccessKey, b]);
  assert.equal(r.code, 0, r.out); assert.match(r.out, /ok/);
  r = await aws('s3api', 'get-bucket-lifecycle-configuration', '--bucket', b);
  assert.notEqual(r.code, 0); assert.match(r.out, /NoSuchLifecycleConfiguration/);
  r = await aws('s3api', 'delete-bucket', '--bucket', b);
  assert.equal(r.code, 0, r.out);
});

// ------------------------------------------------------------------ the rules applied, from a Temporal Schedule

let runtimeInstalled = false;
async function startWorker(taskQueue: string) {
  if (!runtimeInstalled) {
    try {
      Runtime.install({ logger: new DefaultLogger('WARN'), telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } } });
    } catch { /* installed already */ }
    runtimeInstalled = true;
  }
  const connection = await workerConnection();
  const worker = await Worker.create({
    connection, taskQueue, workflowsPath: require.resolve('../../workflows/walrus/lifecycle'),
    activities: createLifecycleActivities({ dataDir: t.dataDir, daySeconds: DAY_SECONDS, pageSize: 3 }),
    shutdownGraceTime: '2 seconds',
  });
  const running = worker.run();
  return { stop: async () => { worker.shutdown(); await running; await connection.close(); } };
}

/** Triggers the schedule and returns the run it started (its workflow handle). */
async function trigger(client: Client, scheduleId: string) {
  const h = client.schedule.getHandle(scheduleId);
  const before = (await h.describe()).info.numActionsTaken;
  await h.trigger();
  for (let i = 0; i < 100; i++) {
    const d = await h.describe();
    if (d.info.numActionsTaken > before && d.info.recentActions.length) {
      const last = d.info.recentActions[d.info.recentActions.length - 1].action.workflow;
      return client.workflow.getHandle(last.workflowId, last.firstExecutionRunId);
    }
    await sleep(100);
  }
  throw new Error('the schedule did not start a run');
}

test('rules applied by the walrusLifecycle workflow from a triggered Temporal Schedule; a run waits out a worker restart', { timeout: 120_000 }, async (tt) => {
  let client: Client;
  try { client = await temporalClient(); await client.workflowService.getSystemInfo({}); } catch (e) { tt.skip(`no Temporal at ${process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233'}: ${String(e)}`); return; }
  // The CLC worker of a running cloud made the real schedule when it started.
  if (process.env.EUCA_HOME) {
    const d = await client.schedule.getHandle(LIFECYCLE_SCHEDULE_ID).describe();
    assert.equal(d.action.type, 'startWorkflow');
    assert.equal(d.action.workflowType, 'walrusLifecycle');
    assert.equal(d.action.taskQueue, 'clc');
  }
  const id = tag();
  const A = `lca-${id}`, V = `lcv-${id}`, L = `lcl-${id}`;
  const taskQueue = `walrus-lifecycle-test-${id}`;
  const scheduleId = `walrus-lifecycle-test-${id}`;

  // A: an unversioned bucket; prefix, tag, And+size, date, disabled rule, incomplete uploads
  await c.send(new S3.CreateBucketCommand({ Bucket: A }));
  const today = new Date(); today.setUTCHours(0, 0, 0, 0);
  await c.send(new S3.PutBucketLifecycleConfigurationCommand({ Bucket: A, LifecycleConfiguration: { Rules: [
    { ID: 'logs', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 1 } },
    { ID: 'temp', Status: 'Enabled', Filter: { Tag: { Key: 'class', Value: 'temp' } }, Expiration: { Days: 1 } },
    { ID: 'big', Status: 'Enabled', Filter: { And: { Prefix: 'big/', ObjectSizeGreaterThan: 1000 } }, Expiration: { Days: 1 } },
    { ID: 'tiny', Status: 'Enabled', Filter: { ObjectSizeLessThan: 3 }, Expiration: { Days: 1 } },
    { ID: 'dated', Status: 'Enabled', Filter: { Prefix: 'dated/' }, Expiration: { Date: today } },
    { ID: 'off', Status: 'Disabled', Filter: { Prefix: 'keep/' }, Expiration: { Days: 1 } },
    { ID: 'slow', Status: 'Enabled', Filter: { Prefix: 'slow/' }, Expiration: { Days: 1000 } },
    { ID: 'mpu', Status: 'Enabled', Filter: { Prefix: 'uploads/' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
  ] } }));
  for (const k of ['logs/a', 'logs/b', 'data/keep', 'keep/x', 'dated/x', 'slow/x']) await put(A, k, 'some bytes');
  await put(A, 'tagged', 'some bytes', { Tagging: 'class=temp' });
  await put(A, 'tagged-other', 'some bytes', { Tagging: 'class=perm' });
  await put(A, 'big/large', Buffer.alloc(2000, 1));
  await put(A, 'big/small', Buffer.alloc(100, 1));
  await put(A, 'ab', 'ab');
  const u1 = await c.send(new S3.CreateMultipartUploadCommand({ Bucket: A, Key: 'uploads/u1' }));
  await c.send(new S3.UploadPartCommand({ Bucket: A, Key: 'uploads/u1', UploadId: u1.UploadId, PartNumber: 1, Body: 'part' }));
  await c.send(new S3.CreateMultipartUploadCommand({ Bucket: A, Key: 'other/u2' }));

  // V: a versioned bucket; noncurrent versions (keeping the newest), expired delete markers, current versions
  await c.send(new S3.CreateBucketCommand({ Bucket: V }));
  await c.send(new S3.PutBucketVersioningCommand({ Bucket: V, VersioningConfiguration: { Status: 'Enabled' } }));
  await c.send(new S3.PutBucketLifecycleConfigurationCommand({ Bucket: V, LifecycleConfiguration: { Rules: [
    { ID: 'nc', Status: 'Enabled', Filter: { Prefix: 'nc/' }, NoncurrentVersionExpiration: { NoncurrentDays: 1, NewerNoncurrentVersions: 1 } },
    { ID: 'dm', Status: 'Enabled', Filter: { Prefix: 'dm/' }, Expiration: { ExpiredObjectDeleteMarker: true } },
    { ID: 'cur', Status: 'Enabled', Filter: { Prefix: 'cur/' }, Expiration: { Days: 1 } },
  ] } }));
  const ncv: string[] = [];
  for (let i = 1; i <= 4; i++) ncv.push((await put(V, 'nc/k', `v${i}`)).VersionId!);
  const d1 = await put(V, 'dm/gone', 'x');
  await c.send(new S3.DeleteObjectCommand({ Bucket: V, Key: 'dm/gone' }));                         // a delete marker...
  await c.send(new S3.DeleteObjectCommand({ Bucket: V, Key: 'dm/gone', VersionId: d1.VersionId }));   // ...now the key's only version
  await put(V, 'dm/alive', 'x');
  await c.send(new S3.DeleteObjectCommand({ Bucket: V, Key: 'dm/alive' }));                        // a delete marker over a version: kept
  const cur = await put(V, 'cur/k', 'current');

  // L: Object Lock; a retained noncurrent version is never deleted
  await c.send(new S3.CreateBucketCommand({ Bucket: L, ObjectLockEnabledForBucket: true }));
  await c.send(new S3.PutBucketLifecycleConfigurationCommand({ Bucket: L, LifecycleConfiguration: { Rules: [
    { ID: 'all', Status: 'Enabled', Filter: {}, NoncurrentVersionExpiration: { NoncurrentDays: 1 } },
  ] } }));
  const locked = await put(L, 'k', 'locked', { ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: new Date(Date.now() + 3600_000) });
  const free = await put(L, 'k', 'free');
  await put(L, 'k', 'latest');

  const worker = await startWorker(taskQueue);
  try {
    const input = { buckets: [A, V, L] };
    assert.equal(await ensureLifecycleSchedule(client, { scheduleId, taskQueue, intervalSeconds: 3600, input }), scheduleId);
    assert.equal(await ensureLifecycleSchedule(client, { scheduleId, taskQueue, intervalSeconds: 1800, input }), scheduleId);   // again: updated, not duplicated
    const sd = await client.schedule.getHandle(scheduleId).describe();
    assert.equal(sd.spec.intervals?.[0]?.every, 1800_000);
    assert.equal(sd.action.workflowType, 'walrusLifecycle');

    await sleep((2 * DAY_SECONDS + 1) * 1000);   // one lifecycle "day" (rounded up to the next day boundary) has passed
    const res = await (await trigger(client, scheduleId)).result() as LifecycleRunResult;
    assert.deepEqual(res.failed, []);
    assert.equal(res.buckets, 3);

    assert.deepEqual(await keys(A), ['big/small', 'data/keep', 'keep/x', 'slow/x', 'tagged-other']);
    const ups = (await c.send(new S3.ListMultipartUploadsCommand({ Bucket: A }))).Uploads ?? [];
    assert.deepEqual(ups.map((u) => u.Key), ['other/u2']);

    const vs = await c.send(new S3.ListObjectVersionsCommand({ Bucket: V }));
    const of = (k: string) => (vs.Versions ?? []).filter((v) => v.Key === k).map((v) => v.VersionId);
    assert.deepEqual(of('nc/k'), [ncv[3], ncv[2]], 'the current version and one newer noncurrent one are kept');
    const markers = (vs.DeleteMarkers ?? []).map((m) => m.Key).sort();
    assert.deepEqual(markers, ['cur/k', 'dm/alive'], 'the expired delete marker is gone; the current version of cur/k expired into a delete marker');
    assert.deepEqual(of('cur/k'), [cur.VersionId]);

    const ls = await c.send(new S3.ListObjectVersionsCommand({ Bucket: L }));
    assert.deepEqual((ls.Versions ?? []).map((v) => v.VersionId).sort(), [locked.VersionId, (ls.Versions ?? []).find((v) => v.IsLatest)!.VersionId].sort());
    assert.ok(!(ls.Versions ?? []).some((v) => v.VersionId === free.VersionId));

    assert.equal(res.expired, 7);                 // logs/a, logs/b, tagged, big/large, ab, dated/x; cur/k (into a delete marker)
    assert.ok(res.noncurrentExpired >= 3, JSON.stringify(res));   // nc/k v1, v2; L's free version
    assert.equal(res.deleteMarkersRemoved, 1);
    assert.equal(res.uploadsAborted, 1);
    assert.ok(res.lockedSkipped >= 1, JSON.stringify(res));

    // durable: a run triggered while no worker polls waits for one, then completes
    await worker.stop();
    const pending = await trigger(client, scheduleId);
    await sleep(500);
    assert.equal((await pending.describe()).status.name, 'RUNNING');
    const again = await startWorker(taskQueue);
    try {
      const res2 = await pending.result() as LifecycleRunResult;
      assert.equal(res2.buckets, 3);
      assert.equal(res2.expired + res2.noncurrentExpired + res2.deleteMarkersRemoved + res2.uploadsAborted, 0, 'nothing left to do');
    } finally { await again.stop(); }
  } finally {
    await worker.stop().catch(() => undefined);
    await client.schedule.getHandle(scheduleId).delete().catch(() => undefined);
    await client.connection.close();
    for (const b of [A, V, L]) await purge(b).catch((e) => console.error('cleanup', b, e));
  }
});
