// The access-control operations of S3: bucket policies (Put/Get/Delete, policy
// status), bucket and object ACLs, Object Ownership controls and Block Public
// Access. Who may call them is decided like any request (api/s3/access.ts);
// what they store is read back with the bucket row and evaluated there.
import * as db from '../../db/walrus';
import { setBucketPolicy, setObjectOwnership, setPublicAccessBlock, existingAccounts, type ObjectOwnership, type PublicAccessBlock } from '../../db/walrusAccess';
import { S3Error } from './errors';
import { xmlDoc, parseXml } from './xml';
import { type Ctx, loadBucket, readSmallBody, cannedAcl } from './context';
import { sendXml } from './buckets';
import { loadObject } from './objects';
import { aclXml, grantsOf, grantsFromXml, encodeGrants, type Grant } from './acl';
import { parseBucketPolicy, compiledPolicy, checkAclWrite, checkEnforceable, isBucketOwner, objectOwner } from './access';
import { isPublicPolicy } from '../auth/policy';

const MAX_POLICY = 20 * 1024;

const empty = (ctx: Ctx, status: number) => { ctx.res.status(status).setHeader('Content-Length', 0); ctx.res.end(); };

/** S3 lets only the bucket owner's account manage the policy: another account the policy allows gets 405. */
function ownerOnly(ctx: Ctx, b: db.BucketRow) {
  if (!isBucketOwner(ctx, b)) throw new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.', { Method: ctx.method, ResourceType: 'BUCKET' });
}

// ------------------------------------------------------------------ bucket policy

export async function putBucketPolicy(ctx: Ctx) {
  const b = await loadBucket(ctx, 'owner');
  ownerOnly(ctx, b);
  const body = await readSmallBody(ctx, 64 * 1024);
  if (body.length > MAX_POLICY) throw new S3Error('MalformedPolicy', 'Policies must be less than 20 KB', {}, 400);
  const text = body.toString('utf8');
  const policy = parseBucketPolicy(text, b.name);
  // principals must exist: every account a statement names
  const named = new Set<string>();
  for (const s of policy.statements) {
    if (!s.principal) continue;
    for (const a of s.principal.accounts) named.add(a);
    for (const arn of s.principal.arns) named.add(arn.split(':')[4]);
    for (const c of s.principal.canonical) named.add(c);
  }
  if (named.size) {
    const known = await existingAccounts([...named]);
    if ([...named].some((a) => !known.has(a))) throw new S3Error('MalformedPolicy', 'Invalid principal in policy', {}, 400);
  }
  if (b.publicAccessBlock?.BlockPublicPolicy && isPublicPolicy(policy)) throw new S3Error('AccessDenied');
  await setBucketPolicy(b.name, text);
  ctx.res.status(204).end();
}

export async function getBucketPolicy(ctx: Ctx) {
  const b = await loadBucket(ctx, 'owner');
  ownerOnly(ctx, b);
  if (!b.policy) throw new S3Error('NoSuchBucketPolicy', 'The bucket policy does not exist', { BucketName: b.name }, 404);
  ctx.res.status(200).setHeader('Content-Type', 'application/json');
  ctx.res.setHeader('Content-Length', Buffer.byteLength(b.policy));
  ctx.res.end(b.policy);
}

export async function deleteBucketPolicy(ctx: Ctx) {
  const b = await loadBucket(ctx, 'owner');
  ownerOnly(ctx, b);
  await setBucketPolicy(b.name, null);
  ctx.res.status(204).end();
}

export async function getBucketPolicyStatus(ctx: Ctx) {
  const b = await loadBucket(ctx, 'owner');
  const c = compiledPolicy(b.policy);
  if (!c) throw new S3Error('NoSuchBucketPolicy', 'The bucket policy does not exist', { BucketName: b.name }, 404);
  sendXml(ctx, 200, xmlDoc('PolicyStatus', { IsPublic: c.isPublic }));
}

// ------------------------------------------------------------------ ACLs

/** The ACL a PutBucketAcl / PutObjectAcl asks for: x-amz-acl, x-amz-grant-*, or an AccessControlPolicy body. */
async function requestedAcl(ctx: Ctx): Promise<string> {
  const fromHeaders = cannedAcl(ctx);
  const body = await readSmallBody(ctx, 64 * 1024);
  if (fromHeaders !== undefined) {
    if (body.length && body.toString('utf8').trim()) throw new S3Error('UnexpectedContent', 'This request does not support content', {}, 400);
    return fromHeaders;
  }
  if (!body.length || !body.toString('utf8').trim()) throw new S3Error('MissingSecurityHeader', 'Your request was missing a required header', { MissingHeaderName: 'x-amz-acl' });
  return encodeGrants(grantsFromXml(body).grants);
}

/** The grants GetBucketAcl / GetObjectAcl list: with ACLs disabled, full control for the bucket owner alone (as S3 shows it). */
function shownGrants(b: db.BucketRow, acl: string, owner: string): Grant[] {
  if (b.ownership === 'BucketOwnerEnforced') return [{ type: 'id', grantee: b.accountId, permission: 'FULL_CONTROL' }];
  return grantsOf(acl, owner, b.accountId);
}

export async function getBucketAcl(ctx: Ctx) {
  const b = await loadBucket(ctx, 'owner');
  sendXml(ctx, 200, aclXml(b.accountId, shownGrants(b, b.acl, b.accountId)));
}

export async function putBucketAcl(ctx: Ctx) {
  const b = await loadBucket(ctx, 'owner');
  const acl = await requestedAcl(ctx);
  checkAclWrite(b, acl, b.accountId);
  await db.updateBucket(b.name, { acl });
  empty(ctx, 200);
}

export async function getObjectAcl(ctx: Ctx) {
  const { b, o } = await loadObject(ctx, 'owner');
  const owner = objectOwner(o, b);
  if (o.versionId !== 'null') ctx.res.setHeader('x-amz-version-id', o.versionId);
  sendXml(ctx, 200, aclXml(owner, shownGrants(b, o.acl, owner)));
}

export async function putObjectAcl(ctx: Ctx) {
  const { b, o } = await loadObject(ctx, 'owner');
  const acl = await requestedAcl(ctx);
  checkAclWrite(b, acl, objectOwner(o, b));
  await db.updateObject(o.id, { acl });
  if (o.versionId !== 'null') ctx.res.setHeader('x-amz-version-id', o.versionId);
  empty(ctx, 200);
}

// ------------------------------------------------------------------ Object Ownership

const OWNERSHIPS = new Set<ObjectOwnership>(['BucketOwnerEnforced', 'BucketOwnerPreferred', 'ObjectWriter']);
const text = (v: unknown) => (typeof v === 'string' ? v.trim() : undefined);

export async function putOwnershipControls(ctx: Ctx) {
  const b = await loadBucket(ctx, 'owner');
  const doc = parseXml(await readSmallBody(ctx, 64 * 1024), 'OwnershipControls');
  const rules = Array.isArray(doc?.Rule) ? doc.Rule : doc?.Rule === undefined ? [] : [doc.Rule];
  if (rules.length !== 1) throw new S3Error('MalformedXML');
  const v = text(rules[0]?.ObjectOwnership) as ObjectOwnership | undefined;
  if (!v || !OWNERSHIPS.has(v)) throw new S3Error('MalformedXML');
  if (v === 'BucketOwnerEnforced') checkEnforceable(b, b.acl);
  await setObjectOwnership(b.name, v);
  empty(ctx, 200);
}

export async function getOwnershipControls(ctx: Ctx) {
  const b = await loadBucket(ctx, 'owner');
  if (!b.ownership) throw new S3Error('OwnershipControlsNotFoundError', 'The bucket ownership controls were not found', { BucketName: b.name }, 404);
  sendXml(ctx, 200, xmlDoc('OwnershipControls', { Rule: { ObjectOwnership: b.ownership } }));
}

export async function deleteOwnershipControls(ctx: Ctx) {
  const b = await loadBucket(ctx, 'owner');
  await setObjectOwnership(b.name, null);
  ctx.res.status(204).end();
}

// ------------------------------------------------------------------ Block Public Access

const BPA_FIELDS = ['BlockPublicAcls', 'IgnorePublicAcls', 'BlockPublicPolicy', 'RestrictPublicBuckets'] as const;

export async function putPublicAccessBlock(ctx: Ctx) {
  const b = await loadBucket(ctx, 'owner');
  const doc = parseXml(await readSmallBody(ctx, 64 * 1024), 'PublicAccessBlockConfiguration');
  const cfg = {} as PublicAccessBlock;
  for (const f of BPA_FIELDS) {
    const v = text(doc?.[f]);
    if (v !== undefined && v !== 'true' && v !== 'false') throw new S3Error('MalformedXML');
    cfg[f] = v === 'true';
  }
  await setPublicAccessBlock(b.name, cfg);
  empty(ctx, 200);
}

export async function getPublicAccessBlock(ctx: Ctx) {
  const b = await loadBucket(ctx, 'owner');
  if (!b.publicAccessBlock) throw new S3Error('NoSuchPublicAccessBlockConfiguration', 'The public access block configuration was not found', { BucketName: b.name }, 404);
  const cfg = b.publicAccessBlock;
  sendXml(ctx, 200, xmlDoc('PublicAccessBlockConfiguration', Object.fromEntries(BPA_FIELDS.map((f) => [f, !!cfg[f]]))));
}

export async function deletePublicAccessBlock(ctx: Ctx) {
  const b = await loadBucket(ctx, 'owner');
  await setPublicAccessBlock(b.name, null);
  ctx.res.status(204).end();
}

// ------------------------------------------------------------------ routes

type Handler = (ctx: Ctx) => Promise<void>;
const BUCKET_ROUTES: Record<string, Record<string, Handler>> = {
  GET: { policy: getBucketPolicy, policyStatus: getBucketPolicyStatus, acl: getBucketAcl, ownershipControls: getOwnershipControls, publicAccessBlock: getPublicAccessBlock },
  PUT: { policy: putBucketPolicy, acl: putBucketAcl, ownershipControls: putOwnershipControls, publicAccessBlock: putPublicAccessBlock },
  DELETE: { policy: deleteBucketPolicy, ownershipControls: deleteOwnershipControls, publicAccessBlock: deletePublicAccessBlock },
};
const OBJECT_ROUTES: Record<string, Record<string, Handler>> = { GET: { acl: getObjectAcl }, PUT: { acl: putObjectAcl } };

/** The handler of an access-control sub-resource (?policy, ?acl, ?ownershipControls, ...), if the request is one. */
export function accessHandler(ctx: Ctx): Handler | undefined {
  if (!ctx.bucket) return undefined;
  const table = (ctx.key === undefined ? BUCKET_ROUTES : OBJECT_ROUTES)[ctx.method];
  if (!table) return undefined;
  if (ctx.key !== undefined && (ctx.q.has('uploadId') || ctx.q.has('partNumber'))) return undefined;
  for (const sub of ctx.q.keys()) if (Object.hasOwn(table, sub)) return table[sub];
  return undefined;
}
