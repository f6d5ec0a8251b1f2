// S3 authorization: which action a request is (s3:GetObject, s3:PutBucketAcl, ...),
// who asks, and whether the bucket's policy, ACLs, Object Ownership and Block
// Public Access let it. The decision order is AWS's and is written down at the
// top of the evaluator (api/auth/policy/evaluate.ts); this file applies it.
//
// Cost per request: nothing beyond the bucket row every request reads anyway
// (the policy text, ownership and BPA are columns of it). A policy is validated
// when stored and compiled once per process (cached by its text); a request
// evaluates the compiled form, and its condition keys are computed only when a
// condition asks for one.
import type { Ctx } from './context';
import type { BucketRow, ObjectRow } from '../../db/walrus';
import type { ObjectOwnership } from '../../db/walrusAccess';
import { S3Error } from './errors';
import {
  parsePolicy, PolicyError, evaluatePolicy, isPublicPolicy, compileWildcard,
  type CompiledPolicy, type Principal, type KeyLookup, type StatementInfo, type ParseOptions,
} from '../auth/policy';
import { grantsOf, grantsAllow, isPublicGrants, aclFromHeaders, type Permission } from './acl';

// ------------------------------------------------------------------ S3's actions

type ResourceType = 'object' | 'bucket' | 'service';
const OBJECT_ACTIONS = ['AbortMultipartUpload', 'BypassGovernanceRetention', 'DeleteObject', 'DeleteObjectTagging', 'DeleteObjectVersion',
  'DeleteObjectVersionTagging', 'GetObject', 'GetObjectAcl', 'GetObjectAttributes', 'GetObjectLegalHold', 'GetObjectRetention', 'GetObjectTagging',
  'GetObjectTorrent', 'GetObjectVersion', 'GetObjectVersionAcl', 'GetObjectVersionAttributes', 'GetObjectVersionForReplication',
  'GetObjectVersionTagging', 'GetObjectVersionTorrent', 'InitiateReplication', 'ListMultipartUploadParts', 'ObjectOwnerOverrideToBucketOwner',
  'PutObject', 'PutObjectAcl', 'PutObjectLegalHold', 'PutObjectRetention', 'PutObjectTagging', 'PutObjectVersionAcl', 'PutObjectVersionTagging',
  'ReplicateDelete', 'ReplicateObject', 'ReplicateTags', 'RestoreObject'];
const BUCKET_ACTIONS = ['CreateBucket', 'DeleteBucket', 'DeleteBucketPolicy', 'DeleteBucketWebsite', 'GetAccelerateConfiguration',
  'GetAnalyticsConfiguration', 'GetBucketAcl', 'GetBucketCORS', 'GetBucketLocation', 'GetBucketLogging', 'GetBucketNotification',
  'GetBucketObjectLockConfiguration', 'GetBucketOwnershipControls', 'GetBucketPolicy', 'GetBucketPolicyStatus', 'GetBucketPublicAccessBlock',
  'GetBucketRequestPayment', 'GetBucketTagging', 'GetBucketVersioning', 'GetBucketWebsite', 'GetEncryptionConfiguration',
  'GetIntelligentTieringConfiguration', 'GetInventoryConfiguration', 'GetLifecycleConfiguration', 'GetMetricsConfiguration',
  'GetReplicationConfiguration', 'ListBucket', 'ListBucketMultipartUploads', 'ListBucketVersions', 'PutAccelerateConfiguration',
  'PutAnalyticsConfiguration', 'PutBucketAcl', 'PutBucketCORS', 'PutBucketLogging', 'PutBucketNotification', 'PutBucketObjectLockConfiguration',
  'PutBucketOwnershipControls', 'PutBucketPolicy', 'PutBucketPublicAccessBlock', 'PutBucketRequestPayment', 'PutBucketTagging',
  'PutBucketVersioning', 'PutBucketWebsite', 'PutEncryptionConfiguration', 'PutIntelligentTieringConfiguration', 'PutInventoryConfiguration',
  'PutLifecycleConfiguration', 'PutMetricsConfiguration', 'PutReplicationConfiguration'];
const SERVICE_ACTIONS = ['ListAllMyBuckets', 'GetAccountPublicAccessBlock', 'PutAccountPublicAccessBlock', 'ListAccessPoints', 'ListJobs', 'CreateJob'];

/** s3 action names (lower case) -> the resource they act on. */
export const S3_ACTIONS = new Map<string, ResourceType>([
  ...OBJECT_ACTIONS.map((a) => [`s3:${a.toLowerCase()}`, 'object'] as const),
  ...BUCKET_ACTIONS.map((a) => [`s3:${a.toLowerCase()}`, 'bucket'] as const),
  ...SERVICE_ACTIONS.map((a) => [`s3:${a.toLowerCase()}`, 'service'] as const),
]);

/** The resource types the actions of one Action entry (wildcards expanded) act on. */
function actionTypes(entry: string): Set<ResourceType> {
  const m = compileWildcard(entry, true);
  const out = new Set<ResourceType>();
  for (const [a, t] of S3_ACTIONS) if (m.test(a)) out.add(t);
  return out;
}

// ------------------------------------------------------------------ condition keys

const S3_KEYS = new Set(['s3:prefix', 's3:delimiter', 's3:max-keys', 's3:x-amz-acl', 's3:versionid', 's3:authtype', 's3:signatureversion',
  's3:signatureage', 's3:x-amz-content-sha256', 's3:tlsversion', 's3:x-amz-copy-source', 's3:x-amz-metadata-directive',
  's3:x-amz-server-side-encryption', 's3:x-amz-server-side-encryption-aws-kms-key-id', 's3:x-amz-server-side-encryption-customer-algorithm',
  's3:x-amz-storage-class', 's3:x-amz-website-redirect-location', 's3:x-amz-grant-read', 's3:x-amz-grant-write', 's3:x-amz-grant-read-acp',
  's3:x-amz-grant-write-acp', 's3:x-amz-grant-full-control', 's3:x-amz-object-ownership', 's3:locationconstraint', 's3:requestobjecttagkeys',
  's3:object-lock-mode', 's3:object-lock-retain-until-date', 's3:object-lock-remaining-retention-days', 's3:object-lock-legal-hold',
  's3:resourceaccount', 's3:dataaccesspointarn', 's3:dataaccesspointaccount', 's3:accesspointnetworkorigin', 's3:if-match', 's3:if-none-match',
  's3:x-amz-checksum-algorithm', 's3:objectcreationoperation']);
const S3_KEY_PREFIXES = ['s3:existingobjecttag/', 's3:requestobjecttag/'];
const AWS_KEYS = new Set(['aws:calledvia', 'aws:calledviafirst', 'aws:calledvialast', 'aws:currenttime', 'aws:epochtime', 'aws:federatedprovider',
  'aws:multifactorauthage', 'aws:multifactorauthpresent', 'aws:principalaccount', 'aws:principalarn', 'aws:principalisawsservice',
  'aws:principalorgid', 'aws:principalorgpaths', 'aws:principalservicename', 'aws:principalservicenameslist', 'aws:principaltype',
  'aws:referer', 'aws:requestedregion', 'aws:resourceaccount', 'aws:resourceorgid', 'aws:resourceorgpaths', 'aws:securetransport',
  'aws:sourceaccount', 'aws:sourcearn', 'aws:sourceidentity', 'aws:sourceip', 'aws:sourceorgid', 'aws:sourceorgpaths', 'aws:sourcevpc',
  'aws:sourcevpce', 'aws:sourcevpcarn', 'aws:tagkeys', 'aws:tokenissuetime', 'aws:useragent', 'aws:userid', 'aws:username',
  'aws:viaawsservice', 'aws:vpcsourceip', 'aws:ec2instancesourcevpc', 'aws:ec2instancesourceprivateipv4', 'aws:sourceowner']);
const AWS_KEY_PREFIXES = ['aws:principaltag/', 'aws:requesttag/', 'aws:resourcetag/'];

function conditionKeyProblem(key: string): string | undefined {
  const k = key.toLowerCase();
  if (S3_KEYS.has(k) || AWS_KEYS.has(k)) return undefined;
  if ([...S3_KEY_PREFIXES, ...AWS_KEY_PREFIXES].some((p) => k.startsWith(p) && k.length > p.length)) return undefined;
  return 'Policy has an invalid condition key';
}

/** Keys that only some actions carry: a statement naming one with other (concrete) actions is refused, as S3 does. */
const KEY_ACTIONS: Record<string, (a: string) => boolean> = {
  's3:prefix': (a) => a === 's3:listbucket' || a === 's3:listbucketversions',
  's3:delimiter': (a) => a === 's3:listbucket' || a === 's3:listbucketversions',
  's3:max-keys': (a) => a === 's3:listbucket' || a === 's3:listbucketversions',
  's3:x-amz-acl': (a) => ['s3:putobject', 's3:putobjectacl', 's3:putobjectversionacl', 's3:putbucketacl', 's3:createbucket'].includes(a),
  's3:versionid': (a) => a.includes('version'),
};

// ------------------------------------------------------------------ parsing bucket policies

const ARN_PREFIX = 'arn:aws:s3:::';

/** Which kinds of resource a Resource entry of this bucket's policy can name. */
function resourceTypes(r: string, bucket: string): Set<ResourceType> {
  const rest = r.slice(ARN_PREFIX.length);
  const out = new Set<ResourceType>();
  if (rest === bucket || /^[*?]/.test(rest.slice(bucket.length))) out.add('bucket');
  if (rest.startsWith(bucket + '/') || /^[*?]/.test(rest.slice(bucket.length))) out.add('object');
  return out;
}

function validResourceFor(bucket: string) {
  return (r: string) => {
    if (!r.startsWith(ARN_PREFIX)) return false;
    const rest = r.slice(ARN_PREFIX.length);
    return rest.startsWith(bucket) && (rest.length === bucket.length || rest[bucket.length] === '/' || rest[bucket.length] === '*' || rest[bucket.length] === '?');
  };
}

function validAction(a: string): boolean {
  if (a === '*') return true;
  const la = a.toLowerCase();
  if (!la.startsWith('s3:')) return false;
  if (!/[*?]/.test(la)) return S3_ACTIONS.has(la);
  return actionTypes(la).size > 0;
}

function checkStatementFor(bucket: string) {
  return (s: StatementInfo): string | undefined => {
    const concrete = s.notAction ? [] : s.actions.filter((a) => !/[*?]/.test(a)).map((a) => a.toLowerCase());
    for (const key of s.conditionKeys) {
      const applies = KEY_ACTIONS[key.toLowerCase()];
      if (applies && concrete.some((a) => !applies(a))) return 'Conditions do not apply to combination of actions and resources in statement';
    }
    if (s.notAction || s.notResource) return undefined;
    const have = new Set<ResourceType>();
    for (const r of s.resources) for (const t of resourceTypes(r, bucket)) have.add(t);
    for (const a of concrete) {
      const t = S3_ACTIONS.get(a);
      if (!t || !have.has(t)) return 'Action does not apply to any resource(s) in statement';
    }
    return undefined;
  };
}

/** Validates a bucket policy for PutBucketPolicy: S3's MalformedPolicy (400) with S3's message when it is not one. */
export function parseBucketPolicy(text: string, bucket: string): CompiledPolicy {
  try {
    return parsePolicy(text, {
      kind: 'resource', validAction, validResource: validResourceFor(bucket), checkConditionKey: conditionKeyProblem, checkStatement: checkStatementFor(bucket),
    });
  } catch (e) {
    if (e instanceof PolicyError) throw new S3Error('MalformedPolicy', e.message, {}, 400);
    throw e;
  }
}

// Stored policies, compiled once per process. The text was validated when it was stored;
// one that does not compile any more (a rule tightened since) shuts everyone but the owner out.
const LENIENT: ParseOptions = { kind: 'resource' };
interface Compiled { policy?: CompiledPolicy; isPublic: boolean; broken?: boolean }
const compiledCache = new Map<string, Compiled>();

export function compiledPolicy(text: string | null): Compiled | undefined {
  if (!text) return undefined;
  let c = compiledCache.get(text);
  if (c) { compiledCache.delete(text); compiledCache.set(text, c); return c; }    // most recently used last
  try { const policy = parsePolicy(text, LENIENT); c = { policy, isPublic: isPublicPolicy(policy) }; } catch { c = { isPublic: false, broken: true }; }
  compiledCache.set(text, c);
  if (compiledCache.size > 1000) compiledCache.delete(compiledCache.keys().next().value!);
  return c;
}

// ------------------------------------------------------------------ the request

/** The caller: an account's user (or root), or null for an anonymous request. Our canonical user id is the account id. */
export function principalOf(ctx: Ctx): Principal | null {
  const cred = ctx.auth?.cred;
  const account = cred?.accountId ?? ctx.caller;
  if (!account) return null;
  const user = cred?.userName;
  return { account, arn: user ? `arn:aws:iam::${account}:user/${user}` : `arn:aws:iam::${account}:root`, canonicalId: account };
}

/** The S3 action a request is, and whether it acts on an object; action null: authorized per key by its handler (DeleteObjects). */
export interface S3Action { action: string | null; object: boolean }

const BUCKET_GET: Array<[string, string]> = [['acl', 'GetBucketAcl'], ['policy', 'GetBucketPolicy'], ['policyStatus', 'GetBucketPolicyStatus'],
  ['ownershipControls', 'GetBucketOwnershipControls'], ['publicAccessBlock', 'GetBucketPublicAccessBlock'], ['location', 'GetBucketLocation'],
  ['versioning', 'GetBucketVersioning'], ['tagging', 'GetBucketTagging'], ['versions', 'ListBucketVersions'], ['uploads', 'ListBucketMultipartUploads'],
  ['cors', 'GetBucketCORS'], ['lifecycle', 'GetLifecycleConfiguration'], ['encryption', 'GetEncryptionConfiguration'], ['website', 'GetBucketWebsite'],
  ['logging', 'GetBucketLogging'], ['notification', 'GetBucketNotification'], ['replication', 'GetReplicationConfiguration'],
  ['object-lock', 'GetBucketObjectLockConfiguration'], ['requestPayment', 'GetBucketRequestPayment'], ['accelerate', 'GetAccelerateConfiguration'],
  ['analytics', 'GetAnalyticsConfiguration'], ['inventory', 'GetInventoryConfiguration'], ['metrics', 'GetMetricsConfiguration'],
  ['intelligent-tiering', 'GetIntelligentTieringConfiguration']];
const BUCKET_PUT: Array<[string, string]> = [['acl', 'PutBucketAcl'], ['policy', 'PutBucketPolicy'], ['ownershipControls', 'PutBucketOwnershipControls'],
  ['publicAccessBlock', 'PutBucketPublicAccessBlock'], ['versioning', 'PutBucketVersioning'], ['tagging', 'PutBucketTagging'], ['cors', 'PutBucketCORS'],
  ['lifecycle', 'PutLifecycleConfiguration'], ['encryption', 'PutEncryptionConfiguration'], ['website', 'PutBucketWebsite'], ['logging', 'PutBucketLogging'],
  ['notification', 'PutBucketNotification'], ['replication', 'PutReplicationConfiguration'], ['object-lock', 'PutBucketObjectLockConfiguration'],
  ['requestPayment', 'PutBucketRequestPayment'], ['accelerate', 'PutAccelerateConfiguration'], ['analytics', 'PutAnalyticsConfiguration'],
  ['inventory', 'PutInventoryConfiguration'], ['metrics', 'PutMetricsConfiguration'], ['intelligent-tiering', 'PutIntelligentTieringConfiguration']];
// S3 has no Delete* permissions for most configurations: deleting one takes its Put* permission
const BUCKET_DELETE: Array<[string, string]> = [['policy', 'DeleteBucketPolicy'], ['ownershipControls', 'PutBucketOwnershipControls'],
  ['publicAccessBlock', 'PutBucketPublicAccessBlock'], ['tagging', 'PutBucketTagging'], ['cors', 'PutBucketCORS'], ['lifecycle', 'PutLifecycleConfiguration'],
  ['encryption', 'PutEncryptionConfiguration'], ['website', 'DeleteBucketWebsite'], ['replication', 'PutReplicationConfiguration'],
  ['analytics', 'PutAnalyticsConfiguration'], ['inventory', 'PutInventoryConfiguration'], ['metrics', 'PutMetricsConfiguration'],
  ['intelligent-tiering', 'PutIntelligentTieringConfiguration']];

export function s3ActionOf(ctx: Ctx): S3Action | undefined {
  const has = (k: string) => ctx.q.has(k);
  const v = has('versionId');
  const pick = (table: Array<[string, string]>) => table.find(([q]) => has(q))?.[1];
  const bucketLevel = (action: string | undefined) => (action ? { action, object: false } : undefined);
  const objectLevel = (action: string) => ({ action, object: true });
  if (!ctx.bucket) return ctx.method === 'GET' ? bucketLevel('ListAllMyBuckets') : undefined;
  if (ctx.key === undefined) {
    switch (ctx.method) {
      case 'GET': return bucketLevel(pick(BUCKET_GET) ?? 'ListBucket');
      case 'HEAD': return bucketLevel('ListBucket');
      case 'PUT': return bucketLevel(pick(BUCKET_PUT) ?? (ctx.q.size ? undefined : 'CreateBucket'));
      case 'DELETE': return bucketLevel(pick(BUCKET_DELETE) ?? (ctx.q.size ? undefined : 'DeleteBucket'));
      case 'POST':
        if (has('delete')) return { action: null, object: true };
        return /^multipart\/form-data/i.test(String(ctx.req.headers['content-type'] ?? '')) ? objectLevel('PutObject') : undefined;
      default: return undefined;
    }
  }
  switch (ctx.method) {
    case 'GET':
      if (has('uploadId')) return objectLevel('ListMultipartUploadParts');
      if (has('acl')) return objectLevel(v ? 'GetObjectVersionAcl' : 'GetObjectAcl');
      if (has('tagging')) return objectLevel(v ? 'GetObjectVersionTagging' : 'GetObjectTagging');
      if (has('attributes')) return objectLevel(v ? 'GetObjectVersionAttributes' : 'GetObjectAttributes');
      if (has('retention')) return objectLevel('GetObjectRetention');
      if (has('legal-hold')) return objectLevel('GetObjectLegalHold');
      if (has('torrent')) return objectLevel('GetObjectTorrent');
      return objectLevel(v ? 'GetObjectVersion' : 'GetObject');
    case 'HEAD': return objectLevel(v ? 'GetObjectVersion' : 'GetObject');
    case 'PUT':
      if (has('uploadId') || has('partNumber')) return objectLevel('PutObject');
      if (has('acl')) return objectLevel(v ? 'PutObjectVersionAcl' : 'PutObjectAcl');
      if (has('tagging')) return objectLevel(v ? 'PutObjectVersionTagging' : 'PutObjectTagging');
      if (has('retention')) return objectLevel('PutObjectRetention');
      if (has('legal-hold')) return objectLevel('PutObjectLegalHold');
      return objectLevel('PutObject');
    case 'DELETE':
      if (has('uploadId')) return objectLevel('AbortMultipartUpload');
      if (has('tagging')) return objectLevel(v ? 'DeleteObjectVersionTagging' : 'DeleteObjectTagging');
      return objectLevel(v ? 'DeleteObjectVersion' : 'DeleteObject');
    case 'POST':
      // a browser form upload (api/s3/post.ts names the key from the form before it loads the bucket)
      if (has('uploads') || has('uploadId') || /^multipart\/form-data/i.test(String(ctx.req.headers['content-type'] ?? ''))) return objectLevel('PutObject');
      if (has('restore')) return objectLevel('RestoreObject');
      if (has('select')) return objectLevel('GetObject');
      return undefined;
    default: return undefined;
  }
}

const header = (ctx: Ctx, name: string): string | undefined => {
  const v = ctx.req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
};

function requestTags(ctx: Ctx): Map<string, string> | undefined {
  const t = header(ctx, 'x-amz-tagging');
  if (!t) return undefined;
  const out = new Map<string, string>();
  for (const kv of new URLSearchParams(t)) out.set(kv[0], kv[1]);
  return out;
}

/** The request's condition keys, computed when a condition asks (names case-insensitive, tag keys as written). */
function keyLookup(ctx: Ctx, b: BucketRow, action: string, p: Principal | null, o?: ObjectRow): KeyLookup {
  return (name) => {
    const k = name.toLowerCase();
    switch (k) {
      case 'aws:sourceip': { const a = ctx.req.socket?.remoteAddress; return a?.startsWith('::ffff:') ? a.slice(7) : a; }
      case 'aws:securetransport': return (ctx.req.socket as { encrypted?: boolean } | undefined)?.encrypted ? 'true' : 'false';
      case 'aws:principalaccount': return p?.account;
      case 'aws:principalarn': return p?.arn;
      case 'aws:principaltype': return !p ? 'Anonymous' : p.arn.endsWith(':root') ? 'Account' : 'User';
      case 'aws:userid': return p ? (p.arn.endsWith(':root') ? p.account : undefined) : 'anonymous';
      case 'aws:username': { const m = p && /:user\/(?:.*\/)?([^/]+)$/.exec(p.arn); return m ? m[1] : undefined; }
      case 'aws:currenttime': return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      case 'aws:epochtime': return String(Math.floor(Date.now() / 1000));
      case 'aws:referer': return header(ctx, 'referer');
      case 'aws:useragent': return header(ctx, 'user-agent');
      case 'aws:requestedregion': return ctx.opts.region;
      case 'aws:resourceaccount': case 's3:resourceaccount': return b.accountId;
      case 'aws:multifactorauthpresent': return p ? 'false' : undefined;
      case 's3:prefix': case 's3:delimiter': case 's3:max-keys':
        return action === 'ListBucket' || action === 'ListBucketVersions' ? ctx.q.get(k.slice(3)) : undefined;
      case 's3:versionid': return ctx.q.get('versionId');
      case 's3:authtype':
        if (!p) return undefined;
        if (ctx.req.headers.authorization) return 'REST-HEADER';
        return ctx.q.has('X-Amz-Signature') || ctx.q.has('Signature') ? 'REST-QUERY-STRING' : 'POST';
      case 's3:signatureversion': return ctx.auth?.sigVersion === 4 ? 'AWS4-HMAC-SHA256' : ctx.auth?.sigVersion === 2 ? 'AWS' : undefined;
      case 's3:locationconstraint': return b.region;
      case 's3:requestobjecttagkeys': { const t = requestTags(ctx); return t ? [...t.keys()] : undefined; }
      default:
        if (k.startsWith('s3:existingobjecttag/')) return o?.tags?.find((t) => t.Key === name.slice('s3:existingobjecttag/'.length))?.Value;
        if (k.startsWith('s3:requestobjecttag/')) return requestTags(ctx)?.get(name.slice('s3:requestobjecttag/'.length));
        // the request headers S3 offers as keys: s3:x-amz-acl, s3:x-amz-grant-*, s3:x-amz-copy-source, ...
        if (k.startsWith('s3:x-amz-') || k === 's3:if-match' || k === 's3:if-none-match') return header(ctx, k.slice(3));
        return undefined;
    }
  };
}

// ------------------------------------------------------------------ the decision

/** What each ACL permission lets a grantee do (S3's "Mapping of ACL permissions and access policy permissions"). */
const BUCKET_ACL: Record<string, readonly Permission[]> = {
  ListBucket: ['READ'], ListBucketVersions: ['READ'], ListBucketMultipartUploads: ['READ'],
  PutObject: ['WRITE'], DeleteObject: ['WRITE'], DeleteObjectVersion: ['WRITE'], AbortMultipartUpload: ['WRITE'], ListMultipartUploadParts: ['WRITE'],
  GetBucketAcl: ['READ_ACP'], PutBucketAcl: ['WRITE_ACP'],
};
const OBJECT_ACL: Record<string, readonly Permission[]> = {
  GetObject: ['READ'], GetObjectVersion: ['READ'], GetObjectTorrent: ['READ'], GetObjectVersionTorrent: ['READ'],
  GetObjectAttributes: ['READ'], GetObjectVersionAttributes: ['READ'],
  GetObjectAcl: ['READ_ACP'], GetObjectVersionAcl: ['READ_ACP'], PutObjectAcl: ['WRITE_ACP'], PutObjectVersionAcl: ['WRITE_ACP'],
};
/** The owner may always manage the bucket policy: a Deny of its own cannot lock it out. */
const POLICY_ACTIONS = new Set(['GetBucketPolicy', 'PutBucketPolicy', 'DeleteBucketPolicy']);

/** The account that owns an object (under BucketOwnerEnforced: the bucket owner, whoever wrote it). */
export const objectOwner = (o: ObjectRow, b: BucketRow) => (b.ownership === 'BucketOwnerEnforced' ? b.accountId : o.ownerId);

const resourceArn = (bucket: string, key?: string) => (key === undefined ? `${ARN_PREFIX}${bucket}` : `${ARN_PREFIX}${bucket}/${key}`);

/**
 * May the caller do `action` on the bucket (key undefined) or on the object `key`
 * (o: its row; undefined for an object that does not exist yet or is written)?
 */
export function isAllowed(ctx: Ctx, b: BucketRow, action: string, key?: string, o?: ObjectRow): boolean {
  const p = principalOf(ctx);
  const ownAccount = p !== null && p.account === b.accountId;
  const pol = compiledPolicy(b.policy);
  let decision: 'Allow' | 'Deny' | 'NoMatch' = 'NoMatch';
  if (pol?.broken) decision = ownAccount ? 'NoMatch' : 'Deny';
  else if (pol?.policy) decision = evaluatePolicy(pol.policy, { principal: p, action: `s3:${action}`, resource: resourceArn(b.name, key), keys: keyLookup(ctx, b, action, p, o) });
  // 1. explicit deny
  if (decision === 'Deny' && !(ownAccount && POLICY_ACTIONS.has(action))) return false;
  // 2. the owner's own access
  const owner = o ? objectOwner(o, b) : b.accountId;
  if (p && p.account === owner) return true;
  // 3. an allow for another principal: the bucket policy (for what the bucket owner owns) ...
  if (decision === 'Allow' && owner === b.accountId && !(b.publicAccessBlock?.RestrictPublicBuckets && pol?.isPublic && !ownAccount)) return true;
  // ... or an ACL grant, unless ACLs are disabled
  if (b.ownership !== 'BucketOwnerEnforced') {
    const perms = o ? OBJECT_ACL[action] : BUCKET_ACL[action];
    if (perms && grantsAllow(grantsOf(o ? o.acl : b.acl, owner, b.accountId), p?.account ?? null, perms, !!b.publicAccessBlock?.IgnorePublicAcls)) return true;
  }
  // 4. default deny
  return false;
}

const denied = () => new S3Error('AccessDenied');

/** Is the caller of the bucket owner's account? */
export const isBucketOwner = (ctx: Ctx, b: BucketRow) => principalOf(ctx)?.account === b.accountId;

/**
 * The permission check of a request on a bucket it has loaded (context.ts loadBucket),
 * for the action the request is (a request S3 has no action for is the owner's alone).
 */
export function authorizeBucketRequest(ctx: Ctx, b: BucketRow): void {
  const a = s3ActionOf(ctx);
  if (!a) { if (!isBucketOwner(ctx, b)) throw denied(); return; }
  if (a.action === null) return;                   // checked per key by the handler
  if (!isAllowed(ctx, b, a.action, a.object ? ctx.key : undefined)) throw denied();
  // an object written with an ACL (PutObject, CopyObject, CreateMultipartUpload): allowed by Object Ownership and BPA?
  const writesAcl = a.action === 'PutObject' && (ctx.method === 'PUT' ? !ctx.q.has('uploadId') && !ctx.q.has('partNumber') : ctx.q.has('uploads'));
  if (writesAcl) {
    const acl = aclFromHeaders((n) => header(ctx, n));
    checkAclWrite(b, acl, objectOwnerFor(ctx, b, acl));
  }
}

/**
 * The permission check of an object request (GET/HEAD, ACL, tagging ...): o is the
 * addressed version, undefined when there is none (or the latest is a delete
 * marker). Without an object, S3 answers 404 only to whoever may list the
 * bucket, AccessDenied to the rest.
 */
export function authorizeObjectRequest(ctx: Ctx, b: BucketRow, key: string, o: ObjectRow | undefined, action?: string): void {
  const act = action ?? s3ActionOf(ctx)?.action ?? 'GetObject';
  if (o) { if (!isAllowed(ctx, b, act, key, o)) throw denied(); return; }
  if (isBucketOwner(ctx, b)) return;
  if (!isAllowed(ctx, b, act, key) || !isAllowed(ctx, b, 'ListBucket')) throw denied();
}

/** Who owns an object the caller writes (Object Ownership; anonymous writes belong to the bucket owner). */
export function objectOwnerFor(ctx: Ctx, b: BucketRow, acl: string | undefined): string {
  const caller = principalOf(ctx)?.account;
  if (!caller || b.ownership === 'BucketOwnerEnforced') return b.accountId;
  if (b.ownership === 'BucketOwnerPreferred' && acl === 'bucket-owner-full-control') return b.accountId;
  return caller;
}

/**
 * May this ACL be written on the bucket or one of its objects (resourceOwner owns it)?
 * BucketOwnerEnforced takes only bucket-owner-full-control (or grants of full control
 * to the bucket owner alone): AccessControlListNotSupported; BlockPublicAcls refuses
 * public grants: AccessDenied.
 */
export function checkAclWrite(b: BucketRow, acl: string | undefined, resourceOwner: string): void {
  if (acl === undefined) return;
  const grants = grantsOf(acl, resourceOwner, b.accountId);
  if (b.ownership === 'BucketOwnerEnforced') {
    const ownerOnly = acl === 'bucket-owner-full-control' ||
      (acl.startsWith('[') && grants.every((g) => g.type === 'id' && g.grantee === b.accountId && g.permission === 'FULL_CONTROL'));
    if (!ownerOnly) throw new S3Error('AccessControlListNotSupported', 'The bucket does not allow ACLs', {}, 400);
  }
  if (b.publicAccessBlock?.BlockPublicAcls && isPublicGrants(grants)) throw denied();
}

/** Turning ACLs off (BucketOwnerEnforced) needs a bucket ACL that grants no one but the owner. */
export function checkEnforceable(b: Pick<BucketRow, 'accountId'>, acl: string): void {
  if (grantsOf(acl, b.accountId, b.accountId).some((g) => !(g.type === 'id' && g.grantee === b.accountId))) {
    throw new S3Error('InvalidBucketAclWithObjectOwnership', "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting", {}, 400);
  }
}

const OWNERSHIPS = new Set(['BucketOwnerEnforced', 'BucketOwnerPreferred', 'ObjectWriter']);

/**
 * CreateBucket's x-amz-object-ownership, checked against the ACL it asks for
 * (BucketOwnerEnforced with grants to others: InvalidBucketAclWithObjectOwnership);
 * the caller stores it once the bucket exists.
 */
export function creationOwnership(ctx: Ctx, acl: string): ObjectOwnership | undefined {
  const v = header(ctx, 'x-amz-object-ownership');
  if (v === undefined) return undefined;
  if (!OWNERSHIPS.has(v)) throw new S3Error('InvalidArgument', `Invalid x-amz-object-ownership header: ${v}`, { ArgumentName: 'x-amz-object-ownership', ArgumentValue: v });
  if (v === 'BucketOwnerEnforced' && ctx.caller) checkEnforceable({ accountId: ctx.caller }, acl);
  return v as ObjectOwnership;
}
