// Security groups through the AWS CLI, the JS SDK and raw requests: the lazy
// default group, create/delete, authorize/revoke in both parameter styles,
// describe (groups and rules), AWS's errors, and account isolation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  AuthorizeSecurityGroupIngressCommand, RevokeSecurityGroupIngressCommand, DescribeSecurityGroupsCommand,
  DescribeSecurityGroupRulesCommand, CreateSecurityGroupCommand,
} from '@aws-sdk/client-ec2';
import { ec2, aws, awsFails, stackUp, rawEc2, query, closeDb, type Creds, newAccount } from './helpers';

const skip = stackUp ? false : 'the test cloud is not up (run through npm test)';
const V = { Version: '2016-11-15' };
const sfx = crypto.randomBytes(4).toString('hex');
let other: Creds;
let otherAccount: string;
let myAccount: string;

after(closeDb);

before(async () => {
  if (skip) return;
  ({ accountId: otherAccount, creds: other } = await newAccount('tenant', 'AKIT'));
});

const group = async (nameOrId: string, creds?: Creds) => {
  const args = nameOrId.startsWith('sg-') ? ['--group-ids', nameOrId] : ['--group-names', nameOrId];
  return (await aws(['ec2', 'describe-security-groups', ...args], creds)).SecurityGroups[0];
};

test('the default group exists from the first call: self ingress, all egress, cannot be deleted', { skip }, async () => {
  const g = await group('default');
  myAccount = g.OwnerId;
  assert.match(g.GroupId, /^sg-[0-9a-f]{17}$/);
  assert.equal(g.Description, 'default group');
  assert.deepEqual(g.IpPermissions, [{
    IpProtocol: '-1', IpRanges: [], Ipv6Ranges: [], PrefixListIds: [],
    UserIdGroupPairs: [{ UserId: myAccount, GroupId: g.GroupId, GroupName: 'default' }],
  }]);
  assert.deepEqual(g.IpPermissionsEgress, [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }], Ipv6Ranges: [], PrefixListIds: [], UserIdGroupPairs: [] }]);
  assert.equal((await aws(['ec2', 'describe-security-groups'])).SecurityGroups.filter((x: any) => x.GroupName === 'default').length, 1);
  assert.match(await awsFails(['ec2', 'delete-security-group', '--group-name', 'default']), /CannotDelete/);
  assert.match(await awsFails(['ec2', 'delete-security-group', '--group-id', g.GroupId]), /CannotDelete/);
  assert.match(await awsFails(['ec2', 'create-security-group', '--group-name', 'default', '--description', 'x']), /InvalidGroup\.Reserved/);
  // another account gets its own default group
  const theirs = await group('default', other);
  assert.notEqual(theirs.GroupId, g.GroupId);
  assert.equal(theirs.OwnerId, otherAccount);
});

test('CreateSecurityGroup / DeleteSecurityGroup and their errors', { skip }, async () => {
  const name = `web-${sfx}`;
  const c = await aws(['ec2', 'create-security-group', '--group-name', name, '--description', 'web servers',
    '--tag-specifications', `ResourceType=security-group,Tags=[{Key=env,Value=${sfx}}]`]);
  assert.match(c.GroupId, /^sg-[0-9a-f]{17}$/);
  assert.deepEqual(c.Tags, [{ Key: 'env', Value: sfx }]);
  const g = await group(name);
  assert.equal(g.GroupId, c.GroupId);
  assert.equal(g.Description, 'web servers');
  assert.deepEqual(g.IpPermissions, []);
  assert.deepEqual(g.Tags, [{ Key: 'env', Value: sfx }]);
  assert.equal(g.IpPermissionsEgress[0].IpRanges[0].CidrIp, '0.0.0.0/0', 'new groups allow all egress');
  assert.match(await awsFails(['ec2', 'create-security-group', '--group-name', name, '--description', 'again']), /InvalidGroup\.Duplicate/);
  assert.match(await awsFails(['ec2', 'create-security-group', '--group-name', name.toUpperCase(), '--description', 'again']), /InvalidGroup\.Duplicate/);
  const cases: [Record<string, string>, string][] = [
    [{ Action: 'CreateSecurityGroup', ...V, GroupDescription: 'd' }, 'MissingParameter'],
    [{ Action: 'CreateSecurityGroup', ...V, GroupName: `x-${sfx}` }, 'MissingParameter'],
    [{ Action: 'CreateSecurityGroup', ...V, GroupName: `sg-${sfx}`, GroupDescription: 'd' }, 'InvalidParameterValue'],
    [{ Action: 'CreateSecurityGroup', ...V, GroupName: 'x'.repeat(256), GroupDescription: 'd' }, 'InvalidParameterValue'],
    [{ Action: 'CreateSecurityGroup', ...V, GroupName: `x-${sfx}`, GroupDescription: 'd'.repeat(256) }, 'InvalidParameterValue'],
    [{ Action: 'CreateSecurityGroup', ...V, GroupName: `x-${sfx}`, GroupDescription: 'd', VpcId: 'vpc-12345678' }, 'InvalidVpcID.NotFound'],
    [{ Action: 'CreateSecurityGroup', ...V, GroupName: `x-${sfx}`, GroupDescription: 'd', DryRun: 'true' }, 'DryRunOperation'],
    [{ Action: 'DeleteSecurityGroup', ...V }, 'MissingParameter'],
    [{ Action: 'DeleteSecurityGroup', ...V, GroupName: `nope-${sfx}` }, 'InvalidGroup.NotFound'],
    [{ Action: 'DeleteSecurityGroup', ...V, GroupId: 'sg-0123456789abcdef0' }, 'InvalidGroup.NotFound'],
    [{ Action: 'DeleteSecurityGroup', ...V, GroupId: 'web' }, 'InvalidGroupId.Malformed'],
    [{ Action: 'DescribeSecurityGroups', ...V, 'GroupName.1': `nope-${sfx}` }, 'InvalidGroup.NotFound'],
    [{ Action: 'DescribeSecurityGroups', ...V, 'GroupId.1': 'sg-0123456789abcdef0' }, 'InvalidGroup.NotFound'],
    [{ Action: 'DescribeSecurityGroups', ...V, 'GroupId.1': 'bogus' }, 'InvalidGroupId.Malformed'],
    [{ Action: 'DescribeSecurityGroups', ...V, 'Filter.1.Name': 'vpc-thing', 'Filter.1.Value.1': 'x' }, 'InvalidParameterValue'],
  ];
  for (const [params, code] of cases) {
    const r = await rawEc2(params);
    assert.equal(r.code, code, `${JSON.stringify(params)} -> ${r.text}`);
    assert.ok(r.status < 500);
  }
  assert.equal((await query('SELECT * FROM security_groups WHERE name = ?', [`x-${sfx}`])).length, 0, 'DryRun made nothing');
  const del = await rawEc2({ Action: 'DeleteSecurityGroup', ...V, GroupName: name });
  assert.equal(del.status, 200, del.text);
  assert.match(del.text, new RegExp(`<return>true</return><groupId>${c.GroupId}</groupId>`));
  assert.match(await awsFails(['ec2', 'describe-security-groups', '--group-ids', c.GroupId]), /InvalidGroup\.NotFound/);
  assert.equal((await query('SELECT * FROM tags WHERE resource_id = ?', [c.GroupId])).length, 0);
  assert.equal((await query('SELECT * FROM security_group_rules WHERE group_id = ?', [c.GroupId])).length, 0);
});

test('authorize and revoke with IpPermissions (CLI) and flat parameters (SDK, raw)', { skip }, async () => {
  const web = (await aws(['ec2', 'create-security-group', '--group-name', `app-${sfx}`, '--description', 'app'])).GroupId;
  const db = (await aws(['ec2', 'create-security-group', '--group-name', `db-${sfx}`, '--description', 'db'])).GroupId;
  // IpPermissions: two ranges (one with host bits, normalised), a group peer, a description
  const a = await aws(['ec2', 'authorize-security-group-ingress', '--group-id', web, '--ip-permissions', JSON.stringify([
    { IpProtocol: 'tcp', FromPort: 80, ToPort: 443, IpRanges: [{ CidrIp: '10.1.2.3/8', Description: 'office' }, { CidrIp: '192.168.0.0/16' }] },
    { IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, UserIdGroupPairs: [{ GroupId: db, Description: 'from db' }] },
    { IpProtocol: 'icmp', FromPort: 8, ToPort: -1, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
  ])]);
  assert.equal(a.Return, true);
  assert.equal(a.SecurityGroupRules.length, 4);
  for (const r of a.SecurityGroupRules) {
    assert.match(r.SecurityGroupRuleId, /^sgr-[0-9a-f]{17}$/);
    assert.equal(r.GroupId, web);
    assert.equal(r.GroupOwnerId, myAccount);
    assert.equal(r.IsEgress, false);
  }
  assert.equal(a.SecurityGroupRules[0].CidrIpv4, '10.0.0.0/8');
  assert.deepEqual(a.SecurityGroupRules[2].ReferencedGroupInfo, { GroupId: db, UserId: myAccount });
  // the CLI's simplified options and the SDK's flat parameters
  await aws(['ec2', 'authorize-security-group-ingress', '--group-name', `app-${sfx}`, '--protocol', 'udp', '--port', '53', '--cidr', '10.0.0.0/24']);
  const flat = await ec2().send(new AuthorizeSecurityGroupIngressCommand({ GroupName: `app-${sfx}`, IpProtocol: '6', FromPort: 22, ToPort: 22, CidrIp: '172.16.0.0/12' }));
  assert.equal(flat.SecurityGroupRules![0].IpProtocol, 'tcp', 'protocol 6 is tcp');
  const grant = await rawEc2({ Action: 'AuthorizeSecurityGroupIngress', ...V, GroupName: `app-${sfx}`, SourceSecurityGroupName: `db-${sfx}`, SourceSecurityGroupOwnerId: myAccount });
  assert.equal(grant.status, 200, grant.text);

  const g = (await ec2().send(new DescribeSecurityGroupsCommand({ GroupIds: [web] }))).SecurityGroups![0];
  const perm = (p: string, f?: number) => g.IpPermissions!.find((x) => x.IpProtocol === p && x.FromPort === f);
  assert.deepEqual(perm('tcp', 80)!.IpRanges, [{ CidrIp: '10.0.0.0/8', Description: 'office' }, { CidrIp: '192.168.0.0/16' }]);
  assert.equal(perm('tcp', 80)!.ToPort, 443);
  assert.deepEqual(perm('tcp', 5432)!.UserIdGroupPairs, [{ UserId: myAccount, GroupId: db, GroupName: `db-${sfx}`, Description: 'from db' }]);
  assert.deepEqual(perm('icmp', 8)!.IpRanges, [{ CidrIp: '0.0.0.0/0' }]);
  assert.equal(perm('icmp', 8)!.ToPort, -1);
  assert.deepEqual(perm('udp', 53)!.IpRanges, [{ CidrIp: '10.0.0.0/24' }]);
  assert.deepEqual(perm('tcp', 22)!.IpRanges, [{ CidrIp: '172.16.0.0/12' }]);
  assert.deepEqual(perm('-1')!.UserIdGroupPairs!.map((p) => p.GroupId), [db]);

  // duplicates (description ignored), bad input, unknown peers
  const dup = await awsFails(['ec2', 'authorize-security-group-ingress', '--group-id', web, '--ip-permissions',
    JSON.stringify([{ IpProtocol: 'tcp', FromPort: 80, ToPort: 443, IpRanges: [{ CidrIp: '10.0.0.0/8', Description: 'other' }] }])]);
  assert.match(dup, /InvalidPermission\.Duplicate/);
  assert.match(await awsFails(['ec2', 'authorize-security-group-ingress', '--group-id', web, '--protocol', 'tcp', '--port', '22', '--cidr', '172.16.5.5/12']),
    /InvalidPermission\.Duplicate/);
  const base = { Action: 'AuthorizeSecurityGroupIngress', ...V, GroupId: web };
  const cases: [Record<string, string>, string, RegExp?][] = [
    [{ ...base, IpProtocol: 'tcp', FromPort: '1', ToPort: '2', CidrIp: '10.0.0.300/8' }, 'InvalidParameterValue', /CIDR block 10\.0\.0\.300\/8 is malformed/],
    [{ ...base, IpProtocol: 'tcp', FromPort: '1', ToPort: '2', CidrIp: '10.0.0.0' }, 'InvalidParameterValue', /malformed/],
    [{ ...base, IpProtocol: 'tcp', FromPort: '90', ToPort: '80', CidrIp: '10.0.0.0/8' }, 'InvalidParameterValue'],
    [{ ...base, IpProtocol: 'tcp', FromPort: '0', ToPort: '70000', CidrIp: '10.0.0.0/8' }, 'InvalidParameterValue'],
    [{ ...base, IpProtocol: 'gre', CidrIp: '10.0.0.0/8' }, 'InvalidParameterValue', /Unknown protocol/],
    [{ ...base, IpProtocol: 'icmp', FromPort: '-1', ToPort: '3', CidrIp: '10.0.0.0/8' }, 'InvalidParameterValue'],
    [{ ...base, IpProtocol: 'tcp', FromPort: '1', ToPort: '2', SourceSecurityGroupName: `nope-${sfx}` }, 'InvalidGroup.NotFound'],
    [{ ...base, 'IpPermissions.1.IpProtocol': 'tcp', 'IpPermissions.1.FromPort': '1', 'IpPermissions.1.ToPort': '2', 'IpPermissions.1.Groups.1.GroupId': 'sg-0123456789abcdef0' }, 'InvalidGroup.NotFound'],
    [{ ...base, GroupId: 'sg-0123456789abcdef0', IpProtocol: 'tcp', FromPort: '1', ToPort: '2', CidrIp: '10.0.0.0/8' }, 'InvalidGroup.NotFound'],
    [{ Action: 'AuthorizeSecurityGroupIngress', ...V, IpProtocol: 'tcp', FromPort: '1', ToPort: '2', CidrIp: '10.0.0.0/8' }, 'MissingParameter'],
    [{ ...base }, 'MissingParameter'],
    [{ ...base, IpProtocol: 'tcp', FromPort: '1', ToPort: '2', CidrIp: '10.9.0.0/16', DryRun: 'true' }, 'DryRunOperation'],
  ];
  for (const [params, code, msg] of cases) {
    const r = await rawEc2(params);
    assert.equal(r.code, code, `${JSON.stringify(params)} -> ${r.text}`);
    if (msg) assert.match(r.text, msg);
  }
  assert.equal((await query("SELECT * FROM security_group_rules WHERE cidr = '10.9.0.0/16'")).length, 0, 'DryRun added nothing');

  // revoke: IpPermissions (CLI), flat (SDK), by rule id; a missing rule is NotFound
  await aws(['ec2', 'revoke-security-group-ingress', '--group-id', web, '--ip-permissions',
    JSON.stringify([{ IpProtocol: 'tcp', FromPort: 80, ToPort: 443, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }])]);
  const rv = await ec2().send(new RevokeSecurityGroupIngressCommand({ GroupId: web, IpProtocol: 'tcp', FromPort: 22, ToPort: 22, CidrIp: '172.16.0.0/12' }));
  assert.equal(rv.Return, true);
  assert.equal(rv.RevokedSecurityGroupRules!.length, 1);
  assert.match(await awsFails(['ec2', 'revoke-security-group-ingress', '--group-id', web, '--protocol', 'tcp', '--port', '22', '--cidr', '172.16.0.0/12']),
    /InvalidPermission\.NotFound/);
  const icmpRule = a.SecurityGroupRules[3].SecurityGroupRuleId;
  await aws(['ec2', 'revoke-security-group-ingress', '--group-id', web, '--security-group-rule-ids', icmpRule]);
  await rawEc2({ Action: 'RevokeSecurityGroupIngress', ...V, GroupId: web, SourceSecurityGroupName: `db-${sfx}` });
  const now = await group(web);
  assert.deepEqual(now.IpPermissions.map((p: any) => `${p.IpProtocol}:${p.FromPort ?? ''}`).sort(), ['tcp:5432', 'tcp:80', 'udp:53']);
  assert.deepEqual(now.IpPermissions.find((p: any) => p.FromPort === 80).IpRanges, [{ CidrIp: '192.168.0.0/16' }]);

  // egress: add one, take away the allow-all
  await aws(['ec2', 'authorize-security-group-egress', '--group-id', web, '--ip-permissions',
    JSON.stringify([{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }])]);
  await aws(['ec2', 'revoke-security-group-egress', '--group-id', web, '--ip-permissions', JSON.stringify([{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }])]);
  assert.deepEqual((await group(web)).IpPermissionsEgress, [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }], Ipv6Ranges: [], PrefixListIds: [], UserIdGroupPairs: [] }]);
  assert.match(await awsFails(['ec2', 'revoke-security-group-egress', '--group-id', web, '--ip-permissions', JSON.stringify([{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }])]),
    /InvalidPermission\.NotFound/);
  // an ingress rule id is not an egress rule
  const ingressId = a.SecurityGroupRules[1].SecurityGroupRuleId;
  assert.match(await awsFails(['ec2', 'revoke-security-group-egress', '--group-id', web, '--security-group-rule-ids', ingressId]), /InvalidSecurityGroupRuleId\.NotFound/);

  // filters
  const names = async (filters: string[]) => (await aws(['ec2', 'describe-security-groups', '--filters', ...filters])).SecurityGroups.map((x: any) => x.GroupName).sort();
  assert.deepEqual(await names([`Name=group-name,Values=*-${sfx}`]), [`app-${sfx}`, `db-${sfx}`]);
  assert.deepEqual(await names(['Name=ip-permission.cidr,Values=192.168.0.0/16', `Name=group-name,Values=*-${sfx}`]), [`app-${sfx}`]);
  assert.deepEqual(await names(['Name=ip-permission.protocol,Values=udp', `Name=group-name,Values=*-${sfx}`]), [`app-${sfx}`]);
  assert.deepEqual(await names(['Name=ip-permission.from-port,Values=5432', 'Name=ip-permission.to-port,Values=5432', `Name=group-name,Values=*-${sfx}`]), [`app-${sfx}`]);
  assert.deepEqual(await names([`Name=ip-permission.group-id,Values=${db}`]), [`app-${sfx}`]);
  assert.deepEqual(await names(['Name=description,Values=db', `Name=owner-id,Values=${myAccount}`, `Name=group-name,Values=*-${sfx}`]), [`db-${sfx}`]);
  assert.deepEqual(await names([`Name=group-id,Values=${web}`]), [`app-${sfx}`]);

  // DescribeSecurityGroupRules: by id, by group, paged
  const byId = await aws(['ec2', 'describe-security-group-rules', '--security-group-rule-ids', ingressId]);
  assert.equal(byId.SecurityGroupRules.length, 1);
  assert.equal(byId.SecurityGroupRules[0].GroupId, web);
  const all = await aws(['ec2', 'describe-security-group-rules', '--filters', `Name=group-id,Values=${web}`]);
  assert.equal(all.SecurityGroupRules.length, 4, JSON.stringify(all));   // ingress 80-443, 5432 from db, udp 53; egress 443
  const paged: string[] = [];
  let token: string | undefined;
  do {
    const page = await ec2().send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [web, db] }], MaxResults: 5, NextToken: token }));
    assert.ok(page.SecurityGroupRules!.length <= 5);
    paged.push(...page.SecurityGroupRules!.map((r) => r.SecurityGroupRuleId!));
    token = page.NextToken;
  } while (token);
  assert.equal(new Set(paged).size, paged.length);
  assert.equal(paged.length, all.SecurityGroupRules.length + 1, 'plus db\'s egress rule');
  assert.match(await awsFails(['ec2', 'describe-security-group-rules', '--security-group-rule-ids', 'sgr-0123456789abcdef0']), /InvalidSecurityGroupRuleId\.NotFound/);

  // a group another group of the account names as a peer cannot go; then it can
  assert.match(await awsFails(['ec2', 'delete-security-group', '--group-id', db]), /DependencyViolation/);
  await aws(['ec2', 'revoke-security-group-ingress', '--group-id', web, '--ip-permissions',
    JSON.stringify([{ IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, UserIdGroupPairs: [{ GroupId: db }] }])]);
  await aws(['ec2', 'delete-security-group', '--group-id', db]);
  await aws(['ec2', 'delete-security-group', '--group-id', web]);
});

test('a group with a live instance in it is DependencyViolation; terminated ones do not count', { skip }, async () => {
  // No launch records instance groups yet (the lead wires setInstanceGroups
  // into RunInstances), so the association is written here, for an instance
  // row of the second account that no node runs (state stopped, no node).
  const sg = (await aws(['ec2', 'create-security-group', '--group-name', `inuse-${sfx}`, '--description', 'x'], other)).GroupId;
  const rid = `r-${crypto.randomBytes(4).toString('hex')}`;
  const iid = `i-${crypto.randomBytes(4).toString('hex')}`;
  await query('INSERT INTO reservations (id, account_id, params_hash, workflow_id) VALUES (?, ?, ?, ?)', [rid, otherAccount, '0'.repeat(64), `test-${rid}`]);
  await query(`INSERT INTO instances (id, reservation_id, account_id, launch_index, image_id, instance_type, zone, state)
               VALUES (?, ?, ?, 0, 'emi-00000000', 't1.micro', 'test-1a', 'stopped')`, [iid, rid, otherAccount]);
  try {
    await query('INSERT INTO instance_security_groups (instance_id, group_id) VALUES (?, ?)', [iid, sg]);
    assert.match(await awsFails(['ec2', 'delete-security-group', '--group-id', sg], other), /DependencyViolation/);
    await query("UPDATE instances SET state = 'terminated' WHERE id = ?", [iid]);
    await aws(['ec2', 'delete-security-group', '--group-id', sg], other);
    assert.equal((await query('SELECT * FROM instance_security_groups WHERE instance_id = ?', [iid])).length, 0);
  } finally {
    await query('DELETE FROM instance_security_groups WHERE instance_id = ?', [iid]);
    await query('DELETE FROM instances WHERE id = ?', [iid]);
    await query('DELETE FROM reservations WHERE id = ?', [rid]);
  }
});

test("accounts: another account's groups are NotFound, except as a peer named with its owner id", { skip }, async () => {
  const mine = (await ec2().send(new CreateSecurityGroupCommand({ GroupName: `iso-${sfx}`, Description: 'mine' }))).GroupId!;
  const theirs = (await aws(['ec2', 'create-security-group', '--group-name', `peer-${sfx}`, '--description', 'theirs'], other)).GroupId;
  const listed = await aws(['ec2', 'describe-security-groups'], other);
  assert.ok(!JSON.stringify(listed).includes(mine));
  const tcp = JSON.stringify([{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }]);
  for (const args of [
    ['describe-security-groups', '--group-ids', mine], ['describe-security-groups', '--group-names', `iso-${sfx}`],
    ['delete-security-group', '--group-id', mine], ['delete-security-group', '--group-name', `iso-${sfx}`],
    ['authorize-security-group-ingress', '--group-id', mine, '--ip-permissions', tcp],
    ['revoke-security-group-ingress', '--group-id', mine, '--ip-permissions', tcp],
    ['authorize-security-group-egress', '--group-id', mine, '--ip-permissions', tcp],
  ]) {
    assert.match(await awsFails(['ec2', ...args], other), /InvalidGroup\.NotFound/, args.join(' '));
  }
  const r = await rawEc2({ Action: 'DescribeSecurityGroupRules', ...V, 'Filter.1.Name': 'group-id', 'Filter.1.Value.1': mine }, { creds: other });
  assert.doesNotMatch(r.text, /sgr-/, "another account's rules are not listed");
  // their group as my peer: only with its owner id
  const peer = (extra: object) => JSON.stringify([{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, UserIdGroupPairs: [{ GroupId: theirs, ...extra }] }]);
  assert.match(await awsFails(['ec2', 'authorize-security-group-ingress', '--group-id', mine, '--ip-permissions', peer({})]), /InvalidGroup\.NotFound/);
  await aws(['ec2', 'authorize-security-group-ingress', '--group-id', mine, '--ip-permissions', peer({ UserId: otherAccount })]);
  const byName = await rawEc2({ Action: 'AuthorizeSecurityGroupIngress', ...V, GroupId: mine, IpProtocol: 'udp', FromPort: '1', ToPort: '2',
    SourceSecurityGroupName: `peer-${sfx}`, SourceSecurityGroupOwnerId: otherAccount });
  assert.equal(byName.status, 200, byName.text);
  const g = await group(mine);
  assert.deepEqual(g.IpPermissions.find((p: any) => p.IpProtocol === 'tcp').UserIdGroupPairs, [{ UserId: otherAccount, GroupId: theirs, GroupName: `peer-${sfx}` }]);
  // the owner may still delete their group; my grants to it go with it
  await aws(['ec2', 'delete-security-group', '--group-id', theirs], other);
  assert.deepEqual((await group(mine)).IpPermissions, []);
  await aws(['ec2', 'delete-security-group', '--group-id', mine]);
});
