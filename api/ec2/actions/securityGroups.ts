// Security groups, EC2-Classic style (no VPC): per-account groups, a lazily
// made `default` group, ingress and egress rules with CIDR or group peers.
// Parsing and normalising of permissions is pure (unit-tested); the database
// work is in db/securityGroups.ts. Authorize*/Revoke* then wait for the zones' data planes
// (workflow applySecurityRules, activities/network/securityRules.ts).
import { ApplicationFailure } from '@temporalio/common';
import type { Ec2Context } from '../router';
import { dryRunCheck } from '../router';
import { Ec2Error, ec2Errors } from '../errors';
import type { InputObject, InputValue } from '../../model/queryInput';
import { applyFilters, paginate } from './filters';
import { inputFilters, maxResultsOf, tagsForType } from './tags';
import {
  addRules, createGroup, deleteGroup, ensureDefaultGroup, findGroup, foldGroupName, listGroups, removeRules, resolveGroups,
  rulesOfGroups, DEFAULT_GROUP_NAME, type RuleRow, type RuleSpec, type SecurityGroupRow,
} from '../../../db/securityGroups';
import { zonesOfGroup } from '../../../db/securityRules';
import { temporal, newWorkflowSuffix } from '../../operations';
import { applySecurityRules } from '../../../workflows/applySecurityRules';

// ---------------------------------------------------------------- shared helpers

export const groupIdPattern = /^sg-[0-9a-f]{8}([0-9a-f]{9})?$/;
export const ruleIdPattern = /^sgr-[0-9a-f]{8}([0-9a-f]{9})?$/;

/** Database failures named by an EC2 code (ec2Failure) become the API's Ec2Error. */
export async function dbCall<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof ApplicationFailure && e.type && e.nonRetryable) throw new Ec2Error(e.type, e.message);
    throw e;
  }
}

export function checkGroupId(id: string): string {
  if (!groupIdPattern.test(id)) throw new Ec2Error('InvalidGroupId.Malformed', `Invalid id: "${id}" (expecting "sg-...")`);
  return id;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** Group names: 1-255 printable ASCII characters, not sg-*, (the caller checks "default"). */
export function checkGroupName(name: string, param = 'GroupName'): string {
  if (name === '') throw new Ec2Error('InvalidParameterValue', `Value () for parameter ${param} is invalid. The value cannot be empty`);
  if (name.length > 255) throw new Ec2Error('InvalidParameterValue', `Value (${name}) for parameter ${param} is invalid. Length exceeds maximum of 255 characters`);
  if (!PRINTABLE_ASCII.test(name)) throw new Ec2Error('InvalidParameterValue', `Value (${name}) for parameter ${param} is invalid. Character sets beyond ASCII are not supported.`);
  if (/^sg-/i.test(name)) throw new Ec2Error('InvalidParameterValue', 'Group names may not be in the format sg-*');
  return name;
}

// ---------------------------------------------------------------- permissions (pure)

/** tcp/udp/icmp/-1 by name (any case) or number (6/17/1); anything else InvalidParameterValue. */
export function normaliseProtocol(raw: string): string {
  const p = raw.trim().toLowerCase();
  switch (p) {
    case 'tcp': case '6': return 'tcp';
    case 'udp': case '17': return 'udp';
    case 'icmp': case '1': return 'icmp';
    case '-1': return '-1';
    default: throw new Ec2Error('InvalidParameterValue', `Invalid value '${raw}' for IP protocol. Unknown protocol.`);
  }
}

/**
 * a.b.c.d/n with host bits cleared: AWS accepts 10.0.0.1/8 and keeps
 * 10.0.0.0/8. Anything else: "CIDR block x is malformed".
 */
export function normaliseCidr(raw: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(raw.trim());
  const bad = () => new Ec2Error('InvalidParameterValue', `CIDR block ${raw} is malformed`);
  if (!m) throw bad();
  const octets = m.slice(1, 5).map(Number);
  const len = Number(m[5]);
  if (octets.some((o) => o > 255) || len > 32) throw bad();
  const addr = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const net = (addr & mask) >>> 0;
  return `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${len}`;
}

/**
 * Ports of a permission. tcp/udp: both 0-65535, from <= to. icmp: type and
 * code -1..255 (-1 = all; all types means all codes; missing = -1).
 * -1 (all traffic): ports are ignored, as AWS ignores them.
 */
export function normalisePorts(protocol: string, from: number | undefined, to: number | undefined): [number, number] {
  if (protocol === '-1') return [-1, -1];
  if (protocol === 'icmp') {
    const type = from ?? -1;
    const code = to ?? -1;
    for (const [v, what] of [[type, 'type'], [code, 'code']] as const) {
      if (v < -1 || v > 255) throw new Ec2Error('InvalidParameterValue', `Invalid value '${v}' for ICMP ${what}. Must be -1 (all) or 0-255.`);
    }
    if (type === -1 && code !== -1) {
      throw new Ec2Error('InvalidParameterValue', `Invalid value '${code}' for ICMP code. With all ICMP types (-1) the code must be -1.`);
    }
    return [type, code];
  }
  if (from === undefined || to === undefined) {
    throw new Ec2Error('InvalidParameterValue', "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange");
  }
  for (const v of [from, to]) {
    if (v < 0 || v > 65535) throw new Ec2Error('InvalidParameterValue', `Invalid value '${v}' for port. Ports of TCP/UDP must be between 0 and 65535.`);
  }
  if (from > to) {
    throw new Ec2Error('InvalidParameterValue', `Invalid value for portRange: the from port (${from}) must not be greater than the to port (${to}).`);
  }
  return [from, to];
}

const RULE_DESCRIPTION = /^[a-zA-Z0-9. _\-:/()#,@[\]+=&;{}!$*]*$/;

export function checkRuleDescription(d: string | undefined): string | undefined {
  if (d === undefined) return undefined;
  if (d.length > 255 || !RULE_DESCRIPTION.test(d)) {
    throw new Ec2Error('InvalidParameterValue',
      'Invalid rule description. Valid descriptions are strings less than 256 characters from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*');
  }
  return d;
}

export interface PeerGroupRef { groupId?: string; groupName?: string; userId?: string; description?: string }

/** One IpPermission as sent, normalised but with its peer groups not yet looked up. */
export interface ParsedPermission {
  protocol: string;
  fromPort: number;
  toPort: number;
  cidrs: { cidr: string; description?: string }[];
  groups: PeerGroupRef[];
}

const FLAT = ['IpProtocol', 'FromPort', 'ToPort', 'CidrIp', 'SourceSecurityGroupName', 'SourceSecurityGroupOwnerId'];

const str = (v: InputValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: InputValue | undefined): number | undefined => (typeof v === 'number' ? v : undefined);
const structs = (v: InputValue | undefined): InputObject[] => (Array.isArray(v) ? (v as InputObject[]) : []);

/**
 * The permissions of an Authorize/Revoke request (its model input), from
 * IpPermissions or from the old flat members (IpProtocol, FromPort, ToPort,
 * CidrIp, SourceSecurityGroupName, SourceSecurityGroupOwnerId), not both.
 * The model has checked the types (ports are integers).
 */
export function parsePermissions(input: InputObject, opts: { allowEmpty?: boolean } = {}): ParsedPermission[] {
  const structured = structs(input.IpPermissions);
  const flat = FLAT.filter((k) => input[k] !== undefined);
  if (structured.length && flat.length) {
    throw new Ec2Error('InvalidParameterCombination', `The parameter IpPermissions cannot be used with the parameter ${flat[0]}`);
  }
  const out: ParsedPermission[] = [];
  if (flat.length) {
    const cidr = str(input.CidrIp);
    const srcName = str(input.SourceSecurityGroupName);
    const srcOwner = str(input.SourceSecurityGroupOwnerId);
    const rawProto = str(input.IpProtocol);
    if (srcOwner !== undefined && srcName === undefined) throw ec2Errors.missingParameter('SourceSecurityGroupName');
    if (cidr !== undefined && srcName !== undefined) {
      throw new Ec2Error('InvalidParameterCombination', 'The parameter CidrIp cannot be used with the parameter SourceSecurityGroupName');
    }
    if (cidr === undefined && srcName === undefined) {
      throw new Ec2Error('InvalidParameterValue', 'A permission must name a peer: CidrIp or SourceSecurityGroupName');
    }
    // A bare group grant (no protocol) is all traffic from that group, as EC2-Classic's group grants.
    if (rawProto === undefined && srcName === undefined) throw ec2Errors.missingParameter('IpProtocol');
    const protocol = normaliseProtocol(rawProto ?? '-1');
    const [fromPort, toPort] = normalisePorts(protocol, num(input.FromPort), num(input.ToPort));
    out.push({
      protocol, fromPort, toPort,
      cidrs: cidr !== undefined ? [{ cidr: normaliseCidr(cidr) }] : [],
      groups: srcName !== undefined ? [{ groupName: srcName, userId: srcOwner }] : [],
    });
  }
  structured.forEach((p, i) => {
    const at = `IpPermissions.${i + 1}`;
    const rawProto = str(p.IpProtocol);
    if (rawProto === undefined || rawProto === '') throw ec2Errors.missingParameter(`${at}.IpProtocol`);
    const protocol = normaliseProtocol(rawProto);
    const [fromPort, toPort] = normalisePorts(protocol, num(p.FromPort), num(p.ToPort));
    if (structs(p.Ipv6Ranges).length) throw new Ec2Error('InvalidParameterValue', 'IPv6 ranges are not supported by this cloud.');
    if (structs(p.PrefixListIds).length) throw new Ec2Error('InvalidParameterValue', 'Prefix lists are not supported by this cloud.');
    const cidrs = structs(p.IpRanges).map((r, j) => {
      const c = str(r.CidrIp);
      if (c === undefined) throw ec2Errors.missingParameter(`${at}.IpRanges.${j + 1}.CidrIp`);
      return { cidr: normaliseCidr(c), description: checkRuleDescription(str(r.Description)) };
    });
    const groups = structs(p.UserIdGroupPairs).map((g, j) => {   // Groups.N on the wire
      const ref: PeerGroupRef = {
        groupId: str(g.GroupId) || undefined, groupName: str(g.GroupName) || undefined,
        userId: str(g.UserId) || undefined, description: checkRuleDescription(str(g.Description)),
      };
      if (!ref.groupId && !ref.groupName) throw ec2Errors.missingParameter(`${at}.Groups.${j + 1}.GroupId`);
      if (ref.groupId) checkGroupId(ref.groupId);
      return ref;
    });
    if (!cidrs.length && !groups.length) {
      throw new Ec2Error('InvalidParameterValue', `${at} must specify at least one IP range or security group`);
    }
    out.push({ protocol, fromPort, toPort, cidrs, groups });
  });
  if (!out.length && !opts.allowEmpty) throw ec2Errors.missingParameter('IpPermissions');
  return out;
}

/** Looks up a peer group: in the caller's account, or in UserId's account when that is given. */
async function resolvePeer(accountId: string, ref: PeerGroupRef): Promise<SecurityGroupRow> {
  const owner = ref.userId && ref.userId !== accountId ? ref.userId : accountId;
  const by = ref.groupId ? { id: ref.groupId } : { name: ref.groupName! };
  const g = await findGroup(owner, by);
  if (!g) {
    throw new Ec2Error('InvalidGroup.NotFound', ref.groupId
      ? `The security group ID '${ref.groupId}' does not exist`
      : `The security group '${ref.groupName}'${owner !== accountId ? ` of account ${owner}` : ''} does not exist`);
  }
  return g;
}

/** One RuleSpec per peer of each permission. */
export async function toRuleSpecs(accountId: string, perms: ParsedPermission[], isEgress: boolean): Promise<RuleSpec[]> {
  const specs: RuleSpec[] = [];
  for (const p of perms) {
    const base = { isEgress, protocol: p.protocol, fromPort: p.fromPort, toPort: p.toPort };
    for (const c of p.cidrs) specs.push({ ...base, cidr: c.cidr, description: c.description });
    for (const g of p.groups) specs.push({ ...base, sourceGroupId: (await resolvePeer(accountId, g)).id, description: g.description });
  }
  return specs;
}

// ---------------------------------------------------------------- XML shapes

/** Rules grouped by protocol and ports into IpPermissions, as AWS describes them. */
export function ipPermissions(rules: RuleRow[]) {
  const byKey = new Map<string, any>();
  for (const r of rules) {
    const key = `${r.protocol}|${r.fromPort}|${r.toPort}`;
    let p = byKey.get(key);
    if (!p) {
      p = {
        ipProtocol: r.protocol,
        fromPort: r.protocol === '-1' ? undefined : r.fromPort,
        toPort: r.protocol === '-1' ? undefined : r.toPort,
        groups: [] as object[], ipRanges: [] as object[], ipv6Ranges: [], prefixListIds: [],
      };
      byKey.set(key, p);
    }
    if (r.cidr) p.ipRanges.push({ cidrIp: r.cidr, description: r.description });
    if (r.sourceGroupId) {
      p.groups.push({ userId: r.sourceGroupOwnerId, groupId: r.sourceGroupId, groupName: r.sourceGroupName, description: r.description });
    }
  }
  return [...byKey.values()];
}

export function groupItem(g: SecurityGroupRow, rules: RuleRow[]) {
  const mine = rules.filter((r) => r.groupId === g.id);
  return {
    ownerId: g.accountId, groupId: g.id, groupName: g.name, groupDescription: g.description,
    ipPermissions: ipPermissions(mine.filter((r) => !r.isEgress)),
    ipPermissionsEgress: ipPermissions(mine.filter((r) => r.isEgress)),
    tagSet: g.tags.map((t) => ({ key: t.key, value: t.value })),
  };
}

export function ruleItem(r: RuleRow) {
  return {
    securityGroupRuleId: r.id, groupId: r.groupId, groupOwnerId: r.groupOwnerId, isEgress: r.isEgress,
    ipProtocol: r.protocol, fromPort: r.fromPort, toPort: r.toPort, cidrIpv4: r.cidr,
    referencedGroupInfo: r.sourceGroupId ? { groupId: r.sourceGroupId, userId: r.sourceGroupOwnerId } : undefined,
    description: r.description, tagSet: r.tags.map((t) => ({ key: t.key, value: t.value })),
  };
}

function specAsPermission(s: RuleSpec) {
  return {
    ipProtocol: s.protocol, fromPort: s.protocol === '-1' ? undefined : s.fromPort, toPort: s.protocol === '-1' ? undefined : s.toPort,
    groups: s.sourceGroupId ? [{ groupId: s.sourceGroupId }] : [], ipRanges: s.cidr ? [{ cidrIp: s.cidr }] : [],
    ipv6Ranges: [], prefixListIds: [],
  };
}

// ---------------------------------------------------------------- RunInstances

/**
 * SecurityGroups (names, SecurityGroup.N) and SecurityGroupIds (SecurityGroupId.N)
 * of RunInstances' input, checked for form (names non-empty, ids sg-*);
 * duplicates dropped. Empty lists mean the default group (resolveGroups does that).
 */
export function parseRunInstancesGroups(input: InputObject): { names: string[]; ids: string[] } {
  const names = (input.SecurityGroups ?? []) as string[];
  const ids = (input.SecurityGroupIds ?? []) as string[];
  for (const n of names) {
    if (n === '') throw new Ec2Error('InvalidParameterValue', 'Value () for parameter SecurityGroup is invalid. The value cannot be empty');
    if (n.length > 255) throw new Ec2Error('InvalidParameterValue', `Value (${n}) for parameter SecurityGroup is invalid.`);
  }
  for (const id of ids) checkGroupId(id);
  return { names: [...new Set(names)], ids: [...new Set(ids)] };
}

/** parseRunInstancesGroups + existence in the caller's account (InvalidGroup.NotFound), as Ec2Error. */
export async function resolveRunInstancesGroups(accountId: string, input: InputObject): Promise<SecurityGroupRow[]> {
  const { names, ids } = parseRunInstancesGroups(input);
  return dbCall(resolveGroups(accountId, names, ids));
}

// ---------------------------------------------------------------- actions

/** The group an Authorize/Revoke/Delete names by GroupId or GroupName, in the caller's account. */
function targetOf(input: InputObject): { id?: string; name?: string } {
  const id = input.GroupId as string | undefined;
  const name = input.GroupName as string | undefined;
  if (id) return { id: checkGroupId(id) };
  if (name) return { name };
  throw new Ec2Error('MissingParameter', 'The request must contain the parameter groupName or groupId');
}

async function targetGroup(accountId: string, by: { id?: string; name?: string }): Promise<SecurityGroupRow> {
  const g = await findGroup(accountId, by);
  if (!g) {
    throw new Ec2Error('InvalidGroup.NotFound', by.id !== undefined
      ? `The security group ID '${by.id}' does not exist` : `The security group '${by.name}' does not exist`);
  }
  return g;
}

export async function CreateSecurityGroup(ctx: Ec2Context) {
  const name = ctx.input.GroupName as string | undefined;
  if (name === undefined) throw ec2Errors.missingParameter('GroupName');
  checkGroupName(name);
  const description = ctx.input.Description as string | undefined;   // GroupDescription on the wire
  if (description === undefined || description === '') throw ec2Errors.missingParameter('GroupDescription');
  if (description.length > 255 || !PRINTABLE_ASCII.test(description)) {
    throw new Ec2Error('InvalidParameterValue', `Value (${description}) for parameter GroupDescription is invalid. Up to 255 ASCII characters.`);
  }
  const vpcId = ctx.input.VpcId as string | undefined;
  if (vpcId) throw new Ec2Error('InvalidVpcID.NotFound', `The vpc ID '${vpcId}' does not exist`);
  if (foldGroupName(name) === DEFAULT_GROUP_NAME) {
    throw new Ec2Error('InvalidGroup.Reserved', `The security group '${name}' is reserved`);
  }
  const tags = tagsForType(ctx.input, 'security-group');
  dryRunCheck(ctx);
  const g = await dbCall(createGroup(ctx.accountId, name, description, tags));
  return { return: true, groupId: g.id, tagSet: g.tags.length ? g.tags : undefined };
}

export async function DeleteSecurityGroup(ctx: Ec2Context) {
  const by = targetOf(ctx.input);
  await ensureDefaultGroup(ctx.accountId);
  if (ctx.dryRun) { await targetGroup(ctx.accountId, by); dryRunCheck(ctx); }   // DryRun: the group must be ours
  const id = await dbCall(deleteGroup(ctx.accountId, by));
  return { return: true, groupId: id };
}

const permFilters = (egress: boolean) => {
  const pre = egress ? 'egress.ip-permission.' : 'ip-permission.';
  const of = (g: GroupWithRules) => g.rules.filter((r) => r.isEgress === egress);
  return {
    [`${pre}protocol`]: (g: GroupWithRules) => of(g).map((r) => r.protocol),
    [`${pre}from-port`]: (g: GroupWithRules) => of(g).map((r) => String(r.fromPort)),
    [`${pre}to-port`]: (g: GroupWithRules) => of(g).map((r) => String(r.toPort)),
    [`${pre}cidr`]: (g: GroupWithRules) => of(g).flatMap((r) => (r.cidr ? [r.cidr] : [])),
    [`${pre}group-id`]: (g: GroupWithRules) => of(g).flatMap((r) => (r.sourceGroupId ? [r.sourceGroupId] : [])),
    [`${pre}group-name`]: (g: GroupWithRules) => of(g).flatMap((r) => (r.sourceGroupName ? [r.sourceGroupName] : [])),
    [`${pre}user-id`]: (g: GroupWithRules) => of(g).flatMap((r) => (r.sourceGroupOwnerId ? [r.sourceGroupOwnerId] : [])),
    // documented by EC2, never true here (no IPv6 rules, no prefix lists): they match nothing
    [`${pre}ipv6-cidr`]: () => undefined,
    [`${pre}prefix-list-id`]: () => undefined,
  };
};
type GroupWithRules = SecurityGroupRow & { rules: RuleRow[] };
const groupFilters = {
  'group-name': (g: GroupWithRules) => g.name,
  'group-id': (g: GroupWithRules) => g.id,
  description: (g: GroupWithRules) => g.description,
  'owner-id': (g: GroupWithRules) => g.accountId,
  'vpc-id': () => undefined,   // EC2-Classic groups belong to no VPC
  ...permFilters(false),
  ...permFilters(true),
};

export async function DescribeSecurityGroups(ctx: Ec2Context) {
  const names = [...new Set((ctx.input.GroupNames ?? []) as string[])];
  const ids = [...new Set((ctx.input.GroupIds ?? []) as string[])];
  ids.forEach(checkGroupId);
  const maxResults = maxResultsOf(ctx.input, 5, 1000);
  const nextToken = ctx.input.NextToken as string | undefined;
  if (maxResults !== undefined && (ids.length || names.length)) {
    throw new Ec2Error('InvalidParameterCombination', 'The parameter groupIds or groupNames cannot be used with the parameter maxResults');
  }
  const filters = inputFilters(ctx.input);
  let groups = await listGroups(ctx.accountId);
  for (const n of names) {
    if (!groups.some((g) => foldGroupName(g.name) === foldGroupName(n))) throw new Ec2Error('InvalidGroup.NotFound', `The security group '${n}' does not exist`);
  }
  for (const id of ids) {
    if (!groups.some((g) => g.id === id)) throw new Ec2Error('InvalidGroup.NotFound', `The security group ID '${id}' does not exist`);
  }
  dryRunCheck(ctx);
  if (names.length || ids.length) {
    groups = groups.filter((g) => ids.includes(g.id) || names.some((n) => foldGroupName(n) === foldGroupName(g.name)));
  }
  const rules = await rulesOfGroups(groups.map((g) => g.id));
  const withRules: GroupWithRules[] = groups.map((g) => ({ ...g, rules: rules.filter((r) => r.groupId === g.id) }));
  const { page, nextToken: next } = paginate(applyFilters(withRules, filters, groupFilters), maxResults, nextToken);
  return { securityGroupInfo: page.map((g) => groupItem(g, g.rules)), nextToken: next };
}

/** How long Authorize/Revoke wait for the zones' data planes (EUCA_RULES_WAIT_MS, default 20 s). */
const RULES_WAIT_MS = Number(process.env.EUCA_RULES_WAIT_MS) || 20_000;

/**
 * After a rule change is committed: enforce it in every zone where members of the group live
 * (workflow applySecurityRules per zone, `rules-<zone>-<uuid>`), and wait, so the rule is in
 * force when the call returns. The database is the truth: when a CC does not answer in time the
 * call still succeeds (the workflow keeps retrying; reconcileZone rebuilds the table), logged loudly.
 */
async function enforceRules(ctx: Ec2Context, groupId: string): Promise<void> {
  const zones = await zonesOfGroup(groupId);
  await Promise.all(zones.map(async (zone) => {
    const workflowId = `rules-${zone}-${newWorkflowSuffix()}`;
    let timer: NodeJS.Timeout | undefined;
    try {
      const run = temporal().workflow.execute(applySecurityRules, {
        taskQueue: 'clc', workflowId, args: [zone],
        searchAttributes: { AccountId: [ctx.accountId], Operation: [ctx.action], Zone: [zone] },
      });
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not enforced within ${RULES_WAIT_MS} ms`)), RULES_WAIT_MS);
      });
      const r = await Promise.race([run, timeout]);
      ctx.log.info({ groupId, zone, workflowId, rules: r.rules, ms: r.ms }, 'security rules enforced');
    } catch (err) {
      ctx.log.error({ err, groupId, zone, workflowId }, 'security rules committed but not (yet) enforced');
    } finally {
      if (timer) clearTimeout(timer);
    }
  }));
}

async function authorize(ctx: Ec2Context, isEgress: boolean) {
  const by = targetOf(ctx.input);
  const perms = parsePermissions(ctx.input);
  const tags = tagsForType(ctx.input, 'security-group-rule');
  const group = await targetGroup(ctx.accountId, by);
  const specs = await toRuleSpecs(ctx.accountId, perms, isEgress);
  dryRunCheck(ctx);
  const rows = await dbCall(addRules(ctx.accountId, group.id, specs, tags));
  await enforceRules(ctx, group.id);
  return { return: true, securityGroupRuleSet: rows.map(ruleItem) };
}

async function revoke(ctx: Ec2Context, isEgress: boolean) {
  const by = targetOf(ctx.input);
  const ruleIds = [...new Set((ctx.input.SecurityGroupRuleIds ?? []) as string[])];
  for (const id of ruleIds) {
    if (!ruleIdPattern.test(id)) throw new Ec2Error('InvalidSecurityGroupRuleId.Malformed', `Invalid id: "${id}" (expecting "sgr-...")`);
  }
  const perms = parsePermissions(ctx.input, { allowEmpty: ruleIds.length > 0 });
  const group = await targetGroup(ctx.accountId, by);
  const specs = await toRuleSpecs(ctx.accountId, perms, isEgress);
  dryRunCheck(ctx);
  const { removed, unknown } = await dbCall(removeRules(ctx.accountId, group.id, specs, ruleIds, isEgress));
  await enforceRules(ctx, group.id);
  return {
    return: true,
    unknownIpPermissionSet: unknown.length ? unknown.map(specAsPermission) : undefined,
    revokedSecurityGroupRuleSet: removed.map((r) => ({
      securityGroupRuleId: r.id, groupId: r.groupId, isEgress: r.isEgress, ipProtocol: r.protocol,
      fromPort: r.fromPort, toPort: r.toPort, cidrIpv4: r.cidr, referencedGroupId: r.sourceGroupId, description: r.description,
    })),
  };
}

export const AuthorizeSecurityGroupIngress = (ctx: Ec2Context) => authorize(ctx, false);
export const AuthorizeSecurityGroupEgress = (ctx: Ec2Context) => authorize(ctx, true);
export const RevokeSecurityGroupIngress = (ctx: Ec2Context) => revoke(ctx, false);
export const RevokeSecurityGroupEgress = (ctx: Ec2Context) => revoke(ctx, true);

export async function DescribeSecurityGroupRules(ctx: Ec2Context) {
  const ids = [...new Set((ctx.input.SecurityGroupRuleIds ?? []) as string[])];
  for (const id of ids) {
    if (!ruleIdPattern.test(id)) throw new Ec2Error('InvalidSecurityGroupRuleId.Malformed', `Invalid id: "${id}" (expecting "sgr-...")`);
  }
  const maxResults = maxResultsOf(ctx.input, 5, 1000);
  const nextToken = ctx.input.NextToken as string | undefined;
  const filters = inputFilters(ctx.input);
  dryRunCheck(ctx);
  const groups = await listGroups(ctx.accountId);
  let rules = await rulesOfGroups(groups.map((g) => g.id));
  for (const id of ids) {
    if (!rules.some((r) => r.id === id)) throw new Ec2Error('InvalidSecurityGroupRuleId.NotFound', `The security group rule ID '${id}' does not exist`);
  }
  if (ids.length) rules = rules.filter((r) => ids.includes(r.id));
  rules = applyFilters(rules, filters, {
    'group-id': (r) => r.groupId,
    'security-group-rule-id': (r) => r.id,
  });
  const { page, nextToken: next } = paginate(rules, maxResults, nextToken);
  return { securityGroupRuleSet: page.map(ruleItem), nextToken: next };
}
