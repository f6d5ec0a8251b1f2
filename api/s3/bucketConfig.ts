// Bucket and object sub-resources of the bucket-features work (S3 issue §3), routed
// from api/s3/index.ts before anything else: CORS, lifecycle, Object Lock,
// object retention / legal hold / attributes, and the configuration reads SDKs
// and tools make of features Walrus does not have. Those answer as S3 answers
// for a bucket that has none of it: the NoSuch... error, or the empty document
// S3 returns (logging, notification, request payment, accelerate, the list
// calls); writes that would turn such a feature on are NotImplemented, naming
// it, and writes that leave it off (or deletes) succeed.
import { S3Error } from './errors';
import { xmlDoc, parseXml } from './xml';
import { type Ctx, loadBucket, readSmallBody } from './context';
import { sendXml } from './buckets';
import { text } from './cors';
import * as C from './cors';
import * as L from './lifecycle';
import * as OL from './objectLock';
import { getObjectAttributes } from './attributes';

type Handler = (ctx: Ctx) => Promise<void>;

const notFound = (code: string, message: string): Handler => async (ctx) => {
  await loadBucket(ctx, 'owner');
  throw new S3Error(code, message, { BucketName: ctx.bucket }, 404);
};
const emptyDoc = (root: string, body: Record<string, string> = {}): Handler => async (ctx) => {
  await loadBucket(ctx, 'owner');
  sendXml(ctx, 200, xmlDoc(root, body));
};
const notImplemented = (feature: string): Handler => async (ctx) => {
  await loadBucket(ctx, 'owner');
  throw new S3Error('NotImplemented', `${feature} is not implemented by Walrus`);
};
const noContent: Handler = async (ctx) => { await loadBucket(ctx, 'owner'); ctx.res.status(204).end(); };
const ok = (ctx: Ctx) => { ctx.res.status(200).setHeader('Content-Length', 0); ctx.res.end(); };

/** A configuration with an id (?inventory&id=...): none exists. Without an id: the empty list. */
const idConfig = (listRoot: string): Handler => async (ctx) => {
  await loadBucket(ctx, 'owner');
  if (ctx.q.get('id') !== undefined) throw new S3Error('NoSuchConfiguration', 'The specified configuration does not exist.', {}, 404);
  sendXml(ctx, 200, xmlDoc(listRoot, { IsTruncated: 'false' }));
};
const idConfigDelete: Handler = async (ctx) => {
  await loadBucket(ctx, 'owner');
  throw new S3Error('NoSuchConfiguration', 'The specified configuration does not exist.', {}, 404);
};

/** A write of a feature's configuration that may only leave the feature off. */
const offOnly = (root: string, feature: string, isOff: (doc: any) => boolean): Handler => async (ctx) => {
  await loadBucket(ctx, 'owner');
  const doc = parseXml(await readSmallBody(ctx, 64 * 1024), root);
  if (!isOff(doc)) throw new S3Error('NotImplemented', `${feature} is not implemented by Walrus`);
  ok(ctx);
};
const emptyObject = (d: any) => typeof d !== 'object' || d === null || Object.keys(d).length === 0;

const BUCKET_GET: Record<string, Handler> = {
  cors: C.getBucketCors,
  lifecycle: L.getBucketLifecycle,
  'object-lock': OL.getObjectLockConfiguration,
  website: notFound('NoSuchWebsiteConfiguration', 'The specified bucket does not have a website configuration'),
  encryption: notFound('ServerSideEncryptionConfigurationNotFoundError', 'The server side encryption configuration was not found'),
  replication: notFound('ReplicationConfigurationNotFoundError', 'The replication configuration was not found'),
  logging: emptyDoc('BucketLoggingStatus'),
  notification: emptyDoc('NotificationConfiguration'),
  requestPayment: emptyDoc('RequestPaymentConfiguration', { Payer: 'BucketOwner' }),
  accelerate: emptyDoc('AccelerateConfiguration'),
  inventory: idConfig('ListInventoryConfigurationsResult'),
  analytics: idConfig('ListBucketAnalyticsConfigurationResult'),
  metrics: idConfig('ListMetricsConfigurationsResult'),
  'intelligent-tiering': idConfig('ListBucketIntelligentTieringConfigurationsOutput'),
};

const BUCKET_PUT: Record<string, Handler> = {
  cors: C.putBucketCors,
  lifecycle: L.putBucketLifecycle,
  'object-lock': OL.putObjectLockConfiguration,
  website: notImplemented('Static website hosting (PutBucketWebsite)'),
  encryption: notImplemented('Default bucket encryption (PutBucketEncryption)'),
  replication: notImplemented('Replication (PutBucketReplication)'),
  inventory: notImplemented('S3 Inventory (PutBucketInventoryConfiguration)'),
  analytics: notImplemented('Storage class analysis (PutBucketAnalyticsConfiguration)'),
  metrics: notImplemented('Request metrics (PutBucketMetricsConfiguration)'),
  'intelligent-tiering': notImplemented('S3 Intelligent-Tiering (PutBucketIntelligentTieringConfiguration)'),
  logging: offOnly('BucketLoggingStatus', 'Server access logging (PutBucketLogging)', (d) => emptyObject(d) || d.LoggingEnabled === undefined),
  // off: no topic, queue, Lambda or EventBridge configuration at all
  notification: offOnly('NotificationConfiguration', 'Event notifications (PutBucketNotificationConfiguration)', emptyObject),
  requestPayment: offOnly('RequestPaymentConfiguration', 'Requester Pays (PutBucketRequestPayment)', (d) => {
    const p = text(d?.Payer);
    if (p !== 'BucketOwner' && p !== 'Requester') throw new S3Error('MalformedXML');
    return p === 'BucketOwner';
  }),
  accelerate: offOnly('AccelerateConfiguration', 'Transfer Acceleration (PutBucketAccelerateConfiguration)', (d) => {
    const s = text(d?.Status);
    if (s !== 'Enabled' && s !== 'Suspended') throw new S3Error('MalformedXML');
    return s === 'Suspended';
  }),
};

const BUCKET_DELETE: Record<string, Handler> = {
  cors: C.deleteBucketCors,
  lifecycle: L.deleteBucketLifecycle,
  website: noContent,
  encryption: noContent,
  replication: noContent,
  inventory: idConfigDelete,
  analytics: idConfigDelete,
  metrics: idConfigDelete,
  'intelligent-tiering': idConfigDelete,
};

const OBJECT_GET: Record<string, Handler> = {
  attributes: getObjectAttributes,
  retention: OL.getObjectRetention,
  'legal-hold': OL.getObjectLegalHold,
};
const OBJECT_PUT: Record<string, Handler> = {
  retention: OL.putObjectRetention,
  'legal-hold': OL.putObjectLegalHold,
};

/** The handler of a bucket-features sub-resource of this request, or undefined. */
export function featureHandler(ctx: Ctx): Handler | undefined {
  if (!ctx.bucket) return undefined;
  const table = ctx.key === undefined
    ? ctx.method === 'GET' ? BUCKET_GET : ctx.method === 'PUT' ? BUCKET_PUT : ctx.method === 'DELETE' ? BUCKET_DELETE : undefined
    : ctx.method === 'GET' ? OBJECT_GET : ctx.method === 'PUT' ? OBJECT_PUT : undefined;
  if (!table) return undefined;
  for (const sub of ctx.q.keys()) if (Object.hasOwn(table, sub)) return table[sub];
  return undefined;
}
