// S3 access control lists: the grants of a bucket or an object, written as a
// canned ACL (x-amz-acl), x-amz-grant-* headers or an AccessControlPolicy
// document, listed by GetBucketAcl/GetObjectAcl, and evaluated on requests
// (api/s3/access.ts).
//
// Stored in the `acl` column of walrus_buckets / walrus_objects / walrus_uploads
// either as a canned ACL's name (expanded when read: its grants depend on the
// resource's and the bucket's owners) or as an explicit grant list in JSON,
// [["id"|"uri", grantee, permission], ...]. A grantee id is the canonical user
// id Walrus reports for an account: the account id.
import { S3Error } from './errors';
import { xmlEscape, parseXml } from './xml';

export type Permission = 'FULL_CONTROL' | 'READ' | 'WRITE' | 'READ_ACP' | 'WRITE_ACP';
export interface Grant { type: 'id' | 'uri'; grantee: string; permission: Permission }

export const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers';
export const AUTHENTICATED_USERS = 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers';
export const LOG_DELIVERY = 'http://acs.amazonaws.com/groups/s3/LogDelivery';
const GROUPS = new Set([ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY]);
const PERMISSIONS = new Set<Permission>(['FULL_CONTROL', 'READ', 'WRITE', 'READ_ACP', 'WRITE_ACP']);
export const CANNED_ACLS = new Set(['private', 'public-read', 'public-read-write', 'authenticated-read', 'bucket-owner-read',
  'bucket-owner-full-control', 'aws-exec-read', 'log-delivery-write']);
const MAX_GRANTS = 100;

/** The header of each permission, in S3's order. */
export const GRANT_HEADERS: Array<[string, Permission]> = [['x-amz-grant-full-control', 'FULL_CONTROL'], ['x-amz-grant-read', 'READ'],
  ['x-amz-grant-read-acp', 'READ_ACP'], ['x-amz-grant-write', 'WRITE'], ['x-amz-grant-write-acp', 'WRITE_ACP']];

const malformed = () => new S3Error('MalformedACLError', 'The XML you provided was not well-formed or did not validate against our published schema', {}, 400);
const invalidId = (v: string) => new S3Error('InvalidArgument', 'Invalid id', { ArgumentName: 'CanonicalUser/ID', ArgumentValue: v });
const noEmail = () => new S3Error('UnresolvableGrantByEmailAddress', 'The e-mail address you provided does not match any account on record.', {}, 400);

function grantee(type: string, value: string): Pick<Grant, 'type' | 'grantee'> {
  switch (type) {
    case 'id':
      if (!/^\d{12}$/.test(value)) throw invalidId(value);
      return { type: 'id', grantee: value };
    case 'uri':
      if (!GROUPS.has(value)) throw new S3Error('InvalidArgument', 'Invalid group uri', { ArgumentName: 'Group/URI', ArgumentValue: value });
      return { type: 'uri', grantee: value };
    case 'emailaddress': throw noEmail();
    default: throw new S3Error('InvalidArgument', `Invalid grantee type: ${type}`, { ArgumentName: 'x-amz-grant', ArgumentValue: type });
  }
}

/** The grants x-amz-grant-* headers name (`id="..."`, `uri="..."`, comma-separated), or undefined when there are none. */
export function grantsFromHeaders(get: (name: string) => string | undefined): Grant[] | undefined {
  let out: Grant[] | undefined;
  for (const [h, permission] of GRANT_HEADERS) {
    const v = get(h);
    if (v === undefined) continue;
    out ??= [];
    const re = /\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|([^,\s]+))\s*(,|$)/y;
    let m: RegExpExecArray | null; let at = 0, n = 0;
    while (at < v.length && (m = re.exec(v))) {
      out.push({ ...grantee(m[1].toLowerCase(), m[2] ?? m[3]), permission });
      at = re.lastIndex; n++;
      if (!m[4]) break;
    }
    if (at < v.length || n === 0) throw new S3Error('InvalidArgument', `Invalid ${h} header`, { ArgumentName: h, ArgumentValue: v });
  }
  if (out && out.length > MAX_GRANTS) throw malformed();
  return out;
}

/** The grants of an AccessControlPolicy document, with the owner it names. */
export function grantsFromXml(body: Buffer): { owner?: string; grants: Grant[] } {
  let doc: any;
  try { doc = parseXml(body, 'AccessControlPolicy'); } catch (e) { if (e instanceof S3Error && e.code === 'MalformedXML') throw malformed(); throw e; }
  if (typeof doc !== 'object' || doc.AccessControlList === undefined) throw malformed();
  const list: any[] = doc.AccessControlList === '' ? [] : (doc.AccessControlList?.Grant ?? []);
  if (list.length > MAX_GRANTS) throw malformed();
  const grants = list.map((g): Grant => {
    const ge = g?.Grantee; const permission = g?.Permission;
    if (typeof ge !== 'object' || ge === null || !PERMISSIONS.has(permission)) throw malformed();
    if (typeof ge.ID === 'string') return { ...grantee('id', ge.ID), permission };
    if (typeof ge.URI === 'string') return { ...grantee('uri', ge.URI), permission };
    if (typeof ge.EmailAddress === 'string') throw noEmail();
    throw malformed();
  });
  const owner = typeof doc.Owner?.ID === 'string' ? doc.Owner.ID : undefined;
  return { owner, grants };
}

export const encodeGrants = (grants: Grant[]): string => JSON.stringify(grants.map((g) => [g.type, g.grantee, g.permission]));

/** The grants a stored ACL (canned name or encoded list) amounts to. */
export function grantsOf(acl: string, resourceOwner: string, bucketOwner: string): Grant[] {
  if (acl.startsWith('[')) {
    try { return (JSON.parse(acl) as Array<[Grant['type'], string, Permission]>).map(([type, g, permission]) => ({ type, grantee: g, permission })); } catch { return []; }
  }
  const own: Grant = { type: 'id', grantee: resourceOwner, permission: 'FULL_CONTROL' };
  const group = (uri: string, permission: Permission): Grant => ({ type: 'uri', grantee: uri, permission });
  switch (acl) {
    case 'public-read': return [own, group(ALL_USERS, 'READ')];
    case 'public-read-write': return [own, group(ALL_USERS, 'READ'), group(ALL_USERS, 'WRITE')];
    case 'authenticated-read': return [own, group(AUTHENTICATED_USERS, 'READ')];
    case 'bucket-owner-read': return bucketOwner === resourceOwner ? [own] : [own, { type: 'id', grantee: bucketOwner, permission: 'READ' }];
    case 'bucket-owner-full-control': return bucketOwner === resourceOwner ? [own] : [own, { type: 'id', grantee: bucketOwner, permission: 'FULL_CONTROL' }];
    case 'log-delivery-write': return [own, group(LOG_DELIVERY, 'WRITE'), group(LOG_DELIVERY, 'READ_ACP')];
    default: return [own];     // private, aws-exec-read (no EC2 principal here)
  }
}

/** Public: any grant to AllUsers or AuthenticatedUsers (Block Public Access' definition). */
export const isPublicGrants = (grants: Grant[]) => grants.some((g) => g.type === 'uri' && (g.grantee === ALL_USERS || g.grantee === AUTHENTICATED_USERS));

/** Does a grant give `account` (null: anonymous) one of `perms` (FULL_CONTROL always does)? */
export function grantsAllow(grants: Grant[], account: string | null, perms: readonly Permission[], ignorePublic: boolean): boolean {
  for (const g of grants) {
    if (g.permission !== 'FULL_CONTROL' && !perms.includes(g.permission)) continue;
    if (g.type === 'id') { if (account !== null && g.grantee === account) return true; continue; }
    if (ignorePublic) continue;
    if (g.grantee === ALL_USERS || (g.grantee === AUTHENTICATED_USERS && account !== null)) return true;
  }
  return false;
}

/** The AccessControlPolicy document S3 answers GetBucketAcl / GetObjectAcl with. */
export function aclXml(owner: string, grants: Grant[]): string {
  const g = grants.map((x) => {
    const who = x.type === 'id'
      ? `xsi:type="CanonicalUser"><ID>${xmlEscape(x.grantee)}</ID><DisplayName>${xmlEscape(x.grantee)}</DisplayName>`
      : `xsi:type="Group"><URI>${xmlEscape(x.grantee)}</URI>`;
    return `<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ${who}</Grantee><Permission>${x.permission}</Permission></Grant>`;
  }).join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>${xmlEscape(owner)}</ID><DisplayName>${xmlEscape(owner)}</DisplayName></Owner><AccessControlList>${g}</AccessControlList></AccessControlPolicy>`;
}

/**
 * The ACL a write's headers ask for: a canned name (x-amz-acl), an encoded
 * grant list (x-amz-grant-*), or undefined for neither. Both at once is
 * S3's InvalidRequest.
 */
export function aclFromHeaders(get: (name: string) => string | undefined): string | undefined {
  const canned = get('x-amz-acl');
  const grants = grantsFromHeaders(get);
  if (canned !== undefined && grants) throw new S3Error('InvalidRequest', 'Specifying both Canned ACLs and Header Grants is not allowed');
  if (canned !== undefined) {
    if (!CANNED_ACLS.has(canned)) throw new S3Error('InvalidArgument', `Invalid canned ACL ${canned}`, { ArgumentName: 'x-amz-acl', ArgumentValue: canned });
    return canned;
  }
  return grants ? encodeGrants(grants) : undefined;
}
