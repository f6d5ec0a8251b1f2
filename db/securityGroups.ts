// Security groups (EC2-Classic style, per account) and their rules. Every
// read is scoped to an account except where a rule names another account's
// group as its peer, which EC2-Classic allowed when the owner id is given.
// Failures that are the caller's fault are ec2Failure (nonRetryable
// ApplicationFailure named by the EC2 code), so activities may call these too.
import crypto from 'node:crypto';
import { getPool, inTransaction, type Conn } from './pool';
import { ec2Failure } from './errors';
import { loadTags, saveTags, type Tag } from './tags';

// The tag code is db/tags.ts; these names stay here for the modules that import them from here.
export { loadTags, saveTags, type Tag };

export interface SecurityGroupRow {
  id: string; accountId: string; name: string; description: string; createdAt: Date; tags: Tag[];
}

/** One permission: a protocol and port range with exactly one peer (cidr or group). */
export interface RuleSpec {
  isEgress: boolean;
  protocol: string;          // tcp | udp | icmp | -1
  fromPort: number;          // -1 = all (and for protocol -1)
  toPort: number;
  cidr?: string;             // normalised a.b.c.d/n
  sourceGroupId?: string;    // the peer group (may belong to another account)
  description?: string;
}

export interface RuleRow extends RuleSpec {
  id: string;
  groupId: string;
  groupOwnerId: string;
  sourceGroupName?: string;
  sourceGroupOwnerId?: string;
  createdAt: Date;
  tags: Tag[];
}

export const DEFAULT_GROUP_NAME = 'default';
export const DEFAULT_GROUP_DESCRIPTION = 'default group';

const hex17 = () => crypto.randomBytes(9).toString('hex').slice(0, 17);
export const newGroupId = () => `sg-${hex17()}`;
export const newRuleId = () => `sgr-${hex17()}`;

type Queryable = Pick<Conn, 'query'>;

// ---------------------------------------------------------------- groups

const groupOf = (r: any): SecurityGroupRow => ({
  id: r.id, accountId: r.account_id, name: r.name, description: r.description, createdAt: r.created_at, tags: [],
});

async function withTags<T extends { id: string; tags: Tag[] }>(rows: T[], q?: Queryable): Promise<T[]> {
  const tags = await loadTags(rows.map((r) => r.id), q);
  for (const r of rows) r.tags = tags.get(r.id) ?? [];
  return rows;
}

const isDup = (e: any) => e?.code === 'ER_DUP_ENTRY';

/**
 * The account's `default` group, made on first use: ingress from members of
 * itself (all protocols), egress to anywhere, as AWS's default group.
 */
export async function ensureDefaultGroup(accountId: string): Promise<SecurityGroupRow> {
  const find = async () => {
    const [rows] = await getPool().query<any[]>('SELECT * FROM security_groups WHERE account_id = ? AND name = ?', [accountId, DEFAULT_GROUP_NAME]);
    return rows[0] ? groupOf(rows[0]) : undefined;
  };
  const existing = await find();
  if (existing) return existing;
  try {
    await inTransaction(async (conn) => {
      const id = newGroupId();
      await conn.query('INSERT INTO security_groups (id, account_id, name, description) VALUES (?, ?, ?, ?)',
        [id, accountId, DEFAULT_GROUP_NAME, DEFAULT_GROUP_DESCRIPTION]);
      await insertRule(conn, id, { isEgress: false, protocol: '-1', fromPort: -1, toPort: -1, sourceGroupId: id });
      await insertRule(conn, id, { isEgress: true, protocol: '-1', fromPort: -1, toPort: -1, cidr: '0.0.0.0/0' });
    });
  } catch (e) {
    if (!isDup(e)) throw e;   // made at the same moment by another request
  }
  return (await find())!;
}

/** All groups of the account (the default group included), oldest first. */
export async function listGroups(accountId: string): Promise<SecurityGroupRow[]> {
  await ensureDefaultGroup(accountId);
  const [rows] = await getPool().query<any[]>('SELECT * FROM security_groups WHERE account_id = ? ORDER BY created_at, id', [accountId]);
  return withTags(rows.map(groupOf));
}

/**
 * A group name as it is compared: group names are unique per account and
 * looked up regardless of case, as AWS's are. Only ASCII letters fold: stored
 * names are printable ASCII (CreateSecurityGroup refuses anything else), and
 * the schema's name_folded column is LOWER(name) of those. Unicode folding
 * would let a name in another script match an ASCII one ('\u212A' KELVIN SIGN
 * lower-cases to 'k'); this way such a name is simply not found.
 */
export function foldGroupName(name: string): string {
  return name.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/** A group of this account by id or name (any case); undefined when there is none. */
export async function findGroup(accountId: string, by: { id?: string; name?: string }, q: Queryable = getPool()): Promise<SecurityGroupRow | undefined> {
  if (by.name !== undefined && foldGroupName(by.name) === DEFAULT_GROUP_NAME) await ensureDefaultGroup(accountId);
  const [rows] = by.id !== undefined
    ? await q.query<any[]>('SELECT * FROM security_groups WHERE account_id = ? AND id = ?', [accountId, by.id])
    : await q.query<any[]>('SELECT * FROM security_groups WHERE account_id = ? AND name_folded = ?', [accountId, foldGroupName(by.name ?? '')]);
  return rows[0] ? (await withTags([groupOf(rows[0])], q))[0] : undefined;
}

export function groupNotFound(by: { id?: string; name?: string }) {
  return by.id !== undefined
    ? ec2Failure('InvalidGroup.NotFound', `The security group ID '${by.id}' does not exist`)
    : ec2Failure('InvalidGroup.NotFound', `The security group '${by.name}' does not exist`);
}

export async function createGroup(accountId: string, name: string, description: string, tags: Tag[] = []): Promise<SecurityGroupRow> {
  await ensureDefaultGroup(accountId);
  const id = newGroupId();
  try {
    await inTransaction(async (conn) => {
      await conn.query('INSERT INTO security_groups (id, account_id, name, description) VALUES (?, ?, ?, ?)', [id, accountId, name, description]);
      // New groups allow all outbound traffic until that rule is revoked (AWS).
      await insertRule(conn, id, { isEgress: true, protocol: '-1', fromPort: -1, toPort: -1, cidr: '0.0.0.0/0' });
      await saveTags(conn, accountId, id, 'security-group', tags);
    });
  } catch (e) {
    if (isDup(e)) throw ec2Failure('InvalidGroup.Duplicate', `The security group '${name}' already exists`);
    throw e;
  }
  return (await findGroup(accountId, { id }))!;
}

/**
 * Deletes a group of this account. The default group cannot go; a group
 * that a live instance is in, or that another group of the same account
 * names as a peer, is DependencyViolation. Other accounts' grants to it are
 * removed with it (they could only ever narrow access).
 */
export async function deleteGroup(accountId: string, by: { id?: string; name?: string }): Promise<string> {
  return inTransaction(async (conn) => {
    const g = await findGroup(accountId, by, conn);
    if (!g) throw groupNotFound(by);
    await conn.query('SELECT id FROM security_groups WHERE id = ? FOR UPDATE', [g.id]);
    if (foldGroupName(g.name) === DEFAULT_GROUP_NAME) {
      throw ec2Failure('CannotDelete', `the specified group: "${g.id}" name: "${g.name}" cannot be deleted by a user`);
    }
    const [inUse] = await conn.query<any[]>(
      `SELECT isg.instance_id FROM instance_security_groups isg JOIN instances i ON i.id = isg.instance_id
        WHERE isg.group_id = ? AND i.state <> 'terminated' LIMIT 1`, [g.id]);
    if (inUse[0]) throw ec2Failure('DependencyViolation', `resource ${g.id} has a dependent object`);
    const [refs] = await conn.query<any[]>(
      `SELECT r.group_id FROM security_group_rules r JOIN security_groups sg ON sg.id = r.group_id
        WHERE r.source_group_id = ? AND r.group_id <> ? AND sg.account_id = ? LIMIT 1`, [g.id, g.id, accountId]);
    if (refs[0]) throw ec2Failure('DependencyViolation', `resource ${g.id} has a dependent object`);
    const [ruleIds] = await conn.query<any[]>('SELECT id FROM security_group_rules WHERE group_id = ? OR source_group_id = ?', [g.id, g.id]);
    await conn.query('DELETE FROM security_group_rules WHERE source_group_id = ?', [g.id]);
    await conn.query('DELETE FROM security_group_rules WHERE group_id = ?', [g.id]);
    await conn.query('DELETE FROM instance_security_groups WHERE group_id = ?', [g.id]);
    const tagged = [g.id, ...ruleIds.map((r) => r.id as string)];
    await conn.query('DELETE FROM tags WHERE resource_id IN (?)', [tagged]);
    await conn.query('DELETE FROM security_groups WHERE id = ?', [g.id]);
    return g.id;
  });
}

/**
 * The groups a launch names, in the caller's account: by name and by id,
 * or the default group when none is given. Unknown ones: InvalidGroup.NotFound.
 */
export async function resolveGroups(accountId: string, names: string[], ids: string[]): Promise<SecurityGroupRow[]> {
  if (!names.length && !ids.length) return [await ensureDefaultGroup(accountId)];
  const out = new Map<string, SecurityGroupRow>();
  for (const name of names) {
    const g = await findGroup(accountId, { name });
    if (!g) throw groupNotFound({ name });
    out.set(g.id, g);
  }
  for (const id of ids) {
    const g = await findGroup(accountId, { id });
    if (!g) throw groupNotFound({ id });
    out.set(g.id, g);
  }
  return [...out.values()];
}

// ---------------------------------------------------------------- instances

/** Records an instance's groups (in the launch's transaction). Idempotent. */
export async function setInstanceGroups(conn: Queryable, instanceId: string, groupIds: string[]): Promise<void> {
  await conn.query('DELETE FROM instance_security_groups WHERE instance_id = ?', [instanceId]);
  for (const g of [...new Set(groupIds)]) {
    await conn.query('INSERT INTO instance_security_groups (instance_id, group_id) VALUES (?, ?)', [instanceId, g]);
  }
}

export async function groupsOfInstance(instanceId: string): Promise<SecurityGroupRow[]> {
  const [rows] = await getPool().query<any[]>(
    `SELECT sg.* FROM instance_security_groups isg JOIN security_groups sg ON sg.id = isg.group_id
      WHERE isg.instance_id = ? ORDER BY sg.created_at, sg.id`, [instanceId]);
  return withTags(rows.map(groupOf));
}

// ---------------------------------------------------------------- rules

const RULE_SELECT = `SELECT r.*, g.account_id AS group_owner_id, s.name AS source_name, s.account_id AS source_owner_id
  FROM security_group_rules r JOIN security_groups g ON g.id = r.group_id
  LEFT JOIN security_groups s ON s.id = r.source_group_id AND r.source_group_id <> ''`;

const ruleOf = (r: any): RuleRow => ({
  id: r.id, groupId: r.group_id, groupOwnerId: r.group_owner_id, isEgress: Boolean(r.is_egress), protocol: r.protocol,
  fromPort: r.from_port, toPort: r.to_port, cidr: r.cidr || undefined, sourceGroupId: r.source_group_id || undefined,
  sourceGroupName: r.source_name ?? undefined, sourceGroupOwnerId: r.source_owner_id ?? undefined,
  description: r.description ?? undefined, createdAt: r.created_at, tags: [],
});

/** Every rule of a group, ingress and egress, in the order they were made. */
export async function rulesOfGroup(groupId: string, q: Queryable = getPool()): Promise<RuleRow[]> {
  const [rows] = await q.query<any[]>(`${RULE_SELECT} WHERE r.group_id = ? ORDER BY r.seq`, [groupId]);
  return withTags(rows.map(ruleOf), q);
}

/** Rules of several groups (all of one account's groups for Describe*). */
export async function rulesOfGroups(groupIds: string[]): Promise<RuleRow[]> {
  if (!groupIds.length) return [];
  const [rows] = await getPool().query<any[]>(`${RULE_SELECT} WHERE r.group_id IN (?) ORDER BY r.seq`, [groupIds]);
  return withTags(rows.map(ruleOf));
}

async function insertRule(conn: Queryable, groupId: string, s: RuleSpec): Promise<string> {
  const id = newRuleId();
  await conn.query(
    `INSERT INTO security_group_rules (id, group_id, is_egress, protocol, from_port, to_port, cidr, source_group_id, description)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [id, groupId, s.isEgress, s.protocol, s.fromPort, s.toPort, s.cidr ?? '', s.sourceGroupId ?? '', s.description ?? null]);
  return id;
}

export const sameRule = (a: RuleSpec, b: RuleSpec) =>
  a.isEgress === b.isEgress && a.protocol === b.protocol && a.fromPort === b.fromPort && a.toPort === b.toPort &&
  (a.cidr ?? '') === (b.cidr ?? '') && (a.sourceGroupId ?? '') === (b.sourceGroupId ?? '');

/** AWS's words for a rule in InvalidPermission.* messages. */
export function describeRule(s: RuleSpec, peerName?: string): string {
  const proto = s.protocol === '-1' ? 'ALL' : s.protocol.toUpperCase();
  const peer = s.cidr ?? peerName ?? s.sourceGroupId;
  return `peer: ${peer}, ${proto}, from port: ${s.fromPort}, to port: ${s.toPort}, ALLOW`;
}

/**
 * Adds the rules to a group of this account, all or none. A rule that is
 * there already (or twice in the request): InvalidPermission.Duplicate.
 */
export async function addRules(accountId: string, groupId: string, specs: RuleSpec[], tags: Tag[] = []): Promise<RuleRow[]> {
  return inTransaction(async (conn) => {
    const [g] = await conn.query<any[]>('SELECT id FROM security_groups WHERE id = ? AND account_id = ? FOR UPDATE', [groupId, accountId]);
    if (!g[0]) throw groupNotFound({ id: groupId });
    const existing = await rulesOfGroup(groupId, conn);
    const ids: string[] = [];
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i];
      if (existing.some((e) => sameRule(e, s)) || specs.slice(0, i).some((e) => sameRule(e, s))) {
        throw ec2Failure('InvalidPermission.Duplicate', `the specified rule "${describeRule(s)}" already exists`);
      }
      try {
        ids.push(await insertRule(conn, groupId, s));
      } catch (e) {
        if (isDup(e)) throw ec2Failure('InvalidPermission.Duplicate', `the specified rule "${describeRule(s)}" already exists`);
        throw e;
      }
      await saveTags(conn, accountId, ids[ids.length - 1], 'security-group-rule', tags);
    }
    const rows = await rulesOfGroup(groupId, conn);
    return ids.map((id) => rows.find((r) => r.id === id)!);
  });
}

/**
 * Removes the rules that match (description ignored) from a group of this
 * account. When none of them exists: InvalidPermission.NotFound; otherwise
 * the ones removed and the specs that matched nothing.
 */
export async function removeRules(accountId: string, groupId: string, specs: RuleSpec[], ruleIds: string[] = [], ruleIdsEgress?: boolean):
  Promise<{ removed: RuleRow[]; unknown: RuleSpec[] }> {
  return inTransaction(async (conn) => {
    const [g] = await conn.query<any[]>('SELECT id FROM security_groups WHERE id = ? AND account_id = ? FOR UPDATE', [groupId, accountId]);
    if (!g[0]) throw groupNotFound({ id: groupId });
    const existing = await rulesOfGroup(groupId, conn);
    const removed = new Map<string, RuleRow>();
    const unknown: RuleSpec[] = [];
    for (const s of specs) {
      const hit = existing.find((e) => sameRule(e, s));
      if (hit) removed.set(hit.id, hit); else unknown.push(s);
    }
    for (const id of ruleIds) {
      const hit = existing.find((e) => e.id === id && (ruleIdsEgress === undefined || e.isEgress === ruleIdsEgress));
      if (!hit) throw ec2Failure('InvalidSecurityGroupRuleId.NotFound', `The security group rule ID '${id}' does not exist`);
      removed.set(hit.id, hit);
    }
    if (removed.size === 0) {
      throw ec2Failure('InvalidPermission.NotFound', 'The specified rule does not exist in this security group.');
    }
    const ids = [...removed.keys()];
    await conn.query('DELETE FROM security_group_rules WHERE id IN (?)', [ids]);
    await conn.query('DELETE FROM tags WHERE resource_id IN (?)', [ids]);
    return { removed: [...removed.values()], unknown };
  });
}

/** A group of any account by id (a rule's peer may belong to another account). */
export async function getGroupAnyAccount(id: string): Promise<SecurityGroupRow | undefined> {
  const [rows] = await getPool().query<any[]>('SELECT * FROM security_groups WHERE id = ?', [id]);
  return rows[0] ? groupOf(rows[0]) : undefined;
}
