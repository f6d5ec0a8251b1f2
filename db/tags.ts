// Tags: one row per (account, resource, key). A tag belongs to the account that
// made it: an account tags its own resources and the images it may see (a public
// or shared image), and sees only its own tags, as in EC2 ("you can tag public or
// shared resources, but the tags you assign are available only to your account").
//
// What a resource id names is told by its prefix (resourceTypeOf). Writes check,
// in their own transaction and under a shared lock on the resource's row, that
// the resource exists and the caller may tag it, so a tag never outlives a
// resource deleted at the same moment. Resources take their tags with them
// (deleteResourceTags, called by the Delete* of each type); an instance keeps
// its tags while it is visible after termination (TERMINATED_VISIBLE_MS, as AWS
// keeps a terminated instance about an hour), then they are gone: listTags no
// longer shows them and removes them.
import { getPool, inTransaction, type Conn } from './pool';
import { ec2Failure } from './errors';

export interface Tag { key: string; value: string }
export interface TagRow { resourceId: string; resourceType: TaggableType; key: string; value: string }

/** AWS's limit of user tags on one resource. */
export const MAX_TAGS_PER_RESOURCE = 50;
/** How long a terminated instance stays visible (and keeps its tags), as AWS's hour. */
export const TERMINATED_VISIBLE_MS = 60 * 60 * 1000;

export type TaggableType = 'instance' | 'image' | 'security-group' | 'security-group-rule' | 'key-pair' | 'elastic-ip';

type Queryable = Pick<Conn, 'query'>;

const HEX_ID = '[0-9a-f]{8}(?:[0-9a-f]{9})?';
/** Prefix of the resources this cloud can tag, and their EC2 resource type. */
const TAGGABLE: Array<[RegExp, TaggableType]> = [
  [new RegExp(`^i-${HEX_ID}$`), 'instance'],
  [new RegExp(`^(?:emi|eki|eri|ami)-${HEX_ID}$`), 'image'],
  [new RegExp(`^sg-${HEX_ID}$`), 'security-group'],
  [new RegExp(`^sgr-${HEX_ID}$`), 'security-group-rule'],
  [new RegExp(`^key-${HEX_ID}$`), 'key-pair'],
  [new RegExp(`^eipalloc-${HEX_ID}$`), 'elastic-ip'],
];

/**
 * Resources AWS tags that this cloud (EC2-Classic, instance store) does not have:
 * a well-formed id of one is simply not found, with that type's error.
 */
const ABSENT: Array<[RegExp, string, (id: string) => string]> = [
  [new RegExp(`^vol-${HEX_ID}$`), 'InvalidVolume.NotFound', (id) => `The volume '${id}' does not exist.`],
  [new RegExp(`^snap-${HEX_ID}$`), 'InvalidSnapshot.NotFound', (id) => `The snapshot '${id}' does not exist.`],
  [new RegExp(`^vpc-${HEX_ID}$`), 'InvalidVpcID.NotFound', (id) => `The vpc ID '${id}' does not exist`],
  [new RegExp(`^subnet-${HEX_ID}$`), 'InvalidSubnetID.NotFound', (id) => `The subnet ID '${id}' does not exist`],
  [new RegExp(`^eni-${HEX_ID}$`), 'InvalidNetworkInterfaceID.NotFound', (id) => `The networkInterface ID '${id}' does not exist`],
];

export type ResourceKind =
  | { kind: 'taggable'; type: TaggableType }
  | { kind: 'absent'; code: string; message: string }
  | { kind: 'invalid' };

/** What an id names, by its prefix. Reservations (r-) are not taggable in EC2: invalid, as any other id. */
export function resourceTypeOf(id: string): ResourceKind {
  for (const [re, type] of TAGGABLE) if (re.test(id)) return { kind: 'taggable', type };
  for (const [re, code, message] of ABSENT) if (re.test(id)) return { kind: 'absent', code, message: message(id) };
  return { kind: 'invalid' };
}

/** The EC2 error for resources of one type that are not there (or not the caller's). */
export function notFoundError(type: TaggableType, ids: string[]): { code: string; message: string } {
  const one = ids[0];
  switch (type) {
    case 'instance':
      return ids.length > 1
        ? { code: 'InvalidInstanceID.NotFound', message: `The instance IDs '${ids.join(', ')}' do not exist` }
        : { code: 'InvalidInstanceID.NotFound', message: `The instance ID '${one}' does not exist` };
    case 'image': return { code: 'InvalidAMIID.NotFound', message: `The image id '[${ids.join(', ')}]' does not exist` };
    case 'security-group': return { code: 'InvalidGroup.NotFound', message: `The security group ID '${one}' does not exist` };
    case 'security-group-rule': return { code: 'InvalidSecurityGroupRuleId.NotFound', message: `The security group rule ID '${one}' does not exist` };
    case 'key-pair': return { code: 'InvalidKeyPair.NotFound', message: `The key pair ID '${one}' does not exist` };
    case 'elastic-ip': return { code: 'InvalidAllocationID.NotFound', message: `The allocation ID '${one}' does not exist` };
  }
}

const visibleSince = () => new Date(Date.now() - TERMINATED_VISIBLE_MS);

/**
 * The ids among `ids` (all of type `type`) that exist and that this account may
 * tag. `lock`: take a shared lock on their rows (inside a transaction), so they
 * cannot be deleted before the transaction ends.
 */
async function existing(q: Queryable, accountId: string, type: TaggableType, ids: string[], lock: boolean): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const share = lock ? ' LOCK IN SHARE MODE' : '';
  let rows: any[];
  switch (type) {
    case 'instance':
      [rows] = await q.query<any[]>(
        `SELECT id FROM instances WHERE account_id = ? AND id IN (?) AND (state <> 'terminated' OR updated_at >= ?)${share}`,
        [accountId, ids, visibleSince()]);
      break;
    case 'image':
      [rows] = await q.query<any[]>(
        `SELECT id FROM images WHERE id IN (?) AND state <> 'deregistered'
            AND (account_id = ? OR is_public OR id IN (SELECT image_id FROM image_launch_permissions WHERE account_id = ?))${share}`,
        [ids, accountId, accountId]);
      break;
    case 'security-group':
      [rows] = await q.query<any[]>(`SELECT id FROM security_groups WHERE account_id = ? AND id IN (?)${share}`, [accountId, ids]);
      break;
    case 'security-group-rule':
      [rows] = await q.query<any[]>(
        `SELECT r.id FROM security_group_rules r JOIN security_groups g ON g.id = r.group_id WHERE g.account_id = ? AND r.id IN (?)${share}`,
        [accountId, ids]);
      break;
    case 'key-pair':
      [rows] = await q.query<any[]>(`SELECT id FROM key_pairs WHERE account_id = ? AND id IN (?)${share}`, [accountId, ids]);
      break;
    case 'elastic-ip':
      [rows] = await q.query<any[]>(
        `SELECT allocation_id AS id FROM addresses WHERE account_id = ? AND NOT is_launch_address AND allocation_id IN (?)${share}`,
        [accountId, ids]);
      break;
  }
  return new Set(rows.map((r) => r.id as string));
}

export interface TaggedResource { id: string; type: TaggableType }

/**
 * Throws the NotFound error of the first type that has resources that are not there
 * or not the caller's (ec2Failure, so activities may call it too). Types in the order
 * the resources were given.
 */
export async function checkResources(accountId: string, resources: TaggedResource[], q: Queryable = getPool(), lock = false): Promise<void> {
  const byType = new Map<TaggableType, string[]>();
  for (const r of resources) {
    const l = byType.get(r.type) ?? [];
    if (!l.includes(r.id)) l.push(r.id);
    byType.set(r.type, l);
  }
  for (const [type, ids] of byType) {
    const found = await existing(q, accountId, type, ids, lock);
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length) {
      const e = notFoundError(type, missing);
      throw ec2Failure(e.code, e.message);
    }
  }
}

// ---------------------------------------------------------------- reads

/**
 * The tags this account put on these resources, by resource id, keys in order.
 * Without accountId: whoever made them (for resources only their owner can tag:
 * instances, groups, rules, key pairs, addresses).
 */
export async function loadTags(ids: string[], q: Queryable = getPool(), accountId?: string): Promise<Map<string, Tag[]>> {
  const out = new Map<string, Tag[]>();
  if (!ids.length) return out;
  const [rows] = accountId === undefined
    ? await q.query<any[]>('SELECT resource_id, tag_key, tag_value FROM tags WHERE resource_id IN (?) ORDER BY tag_key', [ids])
    : await q.query<any[]>('SELECT resource_id, tag_key, tag_value FROM tags WHERE account_id = ? AND resource_id IN (?) ORDER BY tag_key', [accountId, ids]);
  for (const r of rows) {
    let l = out.get(r.resource_id);
    if (!l) out.set(r.resource_id, (l = []));
    l.push({ key: r.tag_key, value: r.tag_value });
  }
  return out;
}

/** Sets `tags` on `items` from this account's tags (by item id). */
export async function withAccountTags<T extends { tags?: Tag[] }>(accountId: string, items: T[], idOf: (t: T) => string): Promise<T[]> {
  const tags = await loadTags(items.map(idOf), getPool(), accountId);
  for (const i of items) i.tags = tags.get(idOf(i)) ?? [];
  return items;
}

/**
 * Every tag of this account (DescribeTags), by resource id and key. Tags of
 * instances no longer visible (terminated over an hour ago), of images the account
 * may no longer see and of released addresses are not shown; the instances' are
 * removed on the way.
 */
export async function listTags(accountId: string): Promise<TagRow[]> {
  const since = visibleSince();
  await getPool().query(
    `DELETE t FROM tags t JOIN instances i ON i.id = t.resource_id
      WHERE t.account_id = ? AND t.resource_type = 'instance' AND i.state = 'terminated' AND i.updated_at < ?`, [accountId, since]);
  const [rows] = await getPool().query<any[]>(
    `SELECT t.resource_id, t.resource_type, t.tag_key, t.tag_value FROM tags t
      WHERE t.account_id = ?
        AND (t.resource_type <> 'instance' OR EXISTS (SELECT 1 FROM instances i
              WHERE i.id = t.resource_id AND (i.state <> 'terminated' OR i.updated_at >= ?)))
        AND (t.resource_type <> 'image' OR EXISTS (SELECT 1 FROM images m
              WHERE m.id = t.resource_id AND m.state <> 'deregistered' AND (m.account_id = t.account_id OR m.is_public
                OR EXISTS (SELECT 1 FROM image_launch_permissions p WHERE p.image_id = m.id AND p.account_id = t.account_id))))
        AND (t.resource_type <> 'elastic-ip' OR EXISTS (SELECT 1 FROM addresses a
              WHERE a.allocation_id = t.resource_id AND a.account_id = t.account_id))
      ORDER BY t.resource_id, t.tag_key`, [accountId, since]);
  return rows.map((r) => ({ resourceId: r.resource_id, resourceType: r.resource_type, key: r.tag_key, value: r.tag_value }));
}

// ---------------------------------------------------------------- writes

/** Adds or overwrites tags on a resource (in the caller's transaction); no checks. */
export async function saveTags(conn: Queryable, accountId: string, resourceId: string, resourceType: string, tags: Tag[]): Promise<void> {
  if (!tags.length) return;
  await conn.query(
    `INSERT INTO tags (account_id, resource_id, resource_type, tag_key, tag_value) VALUES ?
     ON DUPLICATE KEY UPDATE tag_value = VALUES(tag_value), resource_type = VALUES(resource_type)`,
    [tags.map((t) => [accountId, resourceId, resourceType, t.key, t.value])]);
}

/**
 * CreateTags: the tags on every resource, all or nothing. Each resource must exist
 * and be the caller's to tag (NotFound of its type otherwise) and may end with at
 * most 50 tags, overwritten keys counted once (TagLimitExceeded).
 */
export async function putTags(accountId: string, resources: TaggedResource[], tags: Tag[]): Promise<void> {
  const sorted = [...new Map(resources.map((r) => [r.id, r])).values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  await inTransaction(async (conn) => {
    await checkResources(accountId, sorted, conn, true);
    for (const r of sorted) {
      const [rows] = await conn.query<any[]>('SELECT tag_key FROM tags WHERE account_id = ? AND resource_id = ? FOR UPDATE', [accountId, r.id]);
      const keys = new Set<string>(rows.map((x) => x.tag_key as string));
      for (const t of tags) keys.add(t.key);
      if (keys.size > MAX_TAGS_PER_RESOURCE) {
        throw ec2Failure('TagLimitExceeded', `The maximum number of Tags for a resource has been reached (${MAX_TAGS_PER_RESOURCE}): ${r.id} would have ${keys.size}.`);
      }
      await saveTags(conn, accountId, r.id, r.type, tags);
    }
  });
}

/**
 * DeleteTags. `tags` undefined: every tag of the resources. A tag with a value
 * (even '') is deleted only if its value is that; without one, whatever its value.
 * Only the caller's own tags are ever touched. Returns how many went.
 */
export async function removeTags(accountId: string, resources: TaggedResource[], tags?: Array<{ key: string; value?: string }>): Promise<number> {
  const ids = [...new Set(resources.map((r) => r.id))];
  if (!ids.length) return 0;
  return inTransaction(async (conn) => {
    await checkResources(accountId, resources, conn, true);
    let n = 0;
    if (tags === undefined) {
      const [r] = await conn.query<any>('DELETE FROM tags WHERE account_id = ? AND resource_id IN (?)', [accountId, ids]);
      return Number(r.affectedRows);
    }
    for (const t of tags) {
      const [r] = t.value === undefined
        ? await conn.query<any>('DELETE FROM tags WHERE account_id = ? AND resource_id IN (?) AND tag_key = ?', [accountId, ids, t.key])
        : await conn.query<any>('DELETE FROM tags WHERE account_id = ? AND resource_id IN (?) AND tag_key = ? AND tag_value = ?', [accountId, ids, t.key, t.value]);
      n += Number(r.affectedRows);
    }
    return n;
  });
}

/** A resource is gone: its tags go with it, every account's (in the deleting transaction when there is one). */
export async function deleteResourceTags(ids: string[], q: Queryable = getPool()): Promise<void> {
  if (!ids.length) return;
  await q.query('DELETE FROM tags WHERE resource_id IN (?)', [ids]);
}
