// Parsing and normalising of security group permissions (no database).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ec2Error } from '../../api/ec2/errors';
import { parseQueryString } from '../../api/ec2/query';
import { loadService } from '../../api/model/service';
import { parseInput } from '../../api/model/queryInput';
import { renderResponse } from '../../api/ec2/xml';
import {
  normaliseProtocol, normaliseCidr, normalisePorts, parsePermissions, checkRuleDescription, checkGroupName,
  parseRunInstancesGroups, ipPermissions, groupItem, ruleItem,
} from '../../api/ec2/actions/securityGroups';
import type { RuleRow } from '../../db/securityGroups';

function code(c: string, msg?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof Ec2Error, String(e));
    assert.equal(e.code, c, e.message);
    if (msg) assert.match(e.message, msg);
    return true;
  };
}
// A request's parameters as the handler gets them: parsed against the operation's input shape.
const ec2 = loadService('ec2');
const P = (s: string, op = 'AuthorizeSecurityGroupIngress') => parseInput(ec2, op, Object.entries(parseQueryString(s)));
const R = (s: string) => P(`MinCount=1&MaxCount=1&${s}`, 'RunInstances');

test('protocols: names and numbers normalise, anything else is InvalidParameterValue', () => {
  for (const [raw, want] of [['tcp', 'tcp'], ['TCP', 'tcp'], ['6', 'tcp'], ['udp', 'udp'], ['17', 'udp'], ['icmp', 'icmp'], ['1', 'icmp'], ['-1', '-1']]) {
    assert.equal(normaliseProtocol(raw), want, raw);
  }
  for (const raw of ['gre', '47', '', 'all', 'tcp6', '256']) assert.throws(() => normaliseProtocol(raw), code('InvalidParameterValue'), raw);
});

test('CIDRs: host bits are cleared (AWS keeps the network), malformed ones refused', () => {
  assert.equal(normaliseCidr('10.0.0.1/8'), '10.0.0.0/8');
  assert.equal(normaliseCidr('192.168.7.200/30'), '192.168.7.200/30');
  assert.equal(normaliseCidr('192.168.7.201/30'), '192.168.7.200/30');
  assert.equal(normaliseCidr('0.0.0.0/0'), '0.0.0.0/0');
  assert.equal(normaliseCidr('8.8.8.8/0'), '0.0.0.0/0');
  assert.equal(normaliseCidr('255.255.255.255/32'), '255.255.255.255/32');
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '256.0.0.0/8', '10.0.0/8', 'abc', '10.0.0.0/-1', '::/0', '10.0.0.0/8 ', ' /8']) {
    if (bad === '10.0.0.0/8 ') { assert.equal(normaliseCidr(bad), '10.0.0.0/8'); continue; }
    assert.throws(() => normaliseCidr(bad), code('InvalidParameterValue', new RegExp(`CIDR block .* is malformed`)), bad);
  }
});

test('ports: tcp/udp need an ordered 0-65535 range; icmp type/code; -1 ignores ports', () => {
  assert.deepEqual(normalisePorts('tcp', 22, 22), [22, 22]);
  assert.deepEqual(normalisePorts('udp', 0, 65535), [0, 65535]);
  assert.throws(() => normalisePorts('tcp', 80, 22), code('InvalidParameterValue'));
  assert.throws(() => normalisePorts('tcp', undefined, 22), code('InvalidParameterValue'));
  assert.throws(() => normalisePorts('tcp', -1, -1), code('InvalidParameterValue'));
  assert.throws(() => normalisePorts('udp', 0, 65536), code('InvalidParameterValue'));
  assert.deepEqual(normalisePorts('icmp', 8, 0), [8, 0]);
  assert.deepEqual(normalisePorts('icmp', 8, -1), [8, -1]);
  assert.deepEqual(normalisePorts('icmp', -1, -1), [-1, -1]);
  assert.deepEqual(normalisePorts('icmp', undefined, undefined), [-1, -1]);
  assert.throws(() => normalisePorts('icmp', -1, 3), code('InvalidParameterValue'));
  assert.throws(() => normalisePorts('icmp', 256, 0), code('InvalidParameterValue'));
  assert.deepEqual(normalisePorts('-1', 22, 80), [-1, -1]);
});

test('flat parameters: one permission; a bare group grant is all traffic', () => {
  assert.deepEqual(parsePermissions(P('GroupName=web&IpProtocol=tcp&FromPort=22&ToPort=22&CidrIp=10.1.2.3/16')), [
    { protocol: 'tcp', fromPort: 22, toPort: 22, cidrs: [{ cidr: '10.1.0.0/16' }], groups: [] },
  ]);
  assert.deepEqual(parsePermissions(P('GroupName=web&SourceSecurityGroupName=db&SourceSecurityGroupOwnerId=123456789012')), [
    { protocol: '-1', fromPort: -1, toPort: -1, cidrs: [], groups: [{ groupName: 'db', userId: '123456789012' }] },
  ]);
  assert.deepEqual(parsePermissions(P('GroupName=web&IpProtocol=6&FromPort=80&ToPort=80&SourceSecurityGroupName=db'))[0].protocol, 'tcp');
  assert.throws(() => parsePermissions(P('GroupName=web&FromPort=22&ToPort=22&CidrIp=0.0.0.0/0')), code('MissingParameter'));
  assert.throws(() => parsePermissions(P('GroupName=web&IpProtocol=tcp&FromPort=22&ToPort=22')), code('InvalidParameterValue'));
  assert.throws(() => parsePermissions(P('GroupName=web&IpProtocol=tcp&FromPort=22&ToPort=22&CidrIp=0.0.0.0/0&SourceSecurityGroupName=x')),
    code('InvalidParameterCombination'));
  assert.throws(() => parsePermissions(P('GroupName=web&SourceSecurityGroupOwnerId=123456789012')), code('MissingParameter'));
  assert.throws(() => parsePermissions(P('GroupName=web&IpProtocol=tcp&FromPort=x&ToPort=22&CidrIp=0.0.0.0/0')), code('InvalidParameterValue'));
  assert.throws(() => parsePermissions(P('GroupName=web')), code('MissingParameter'));
});

test('IpPermissions.N: several ranges and groups, descriptions, numbers as protocols', () => {
  const perms = parsePermissions(P([
    'GroupId=sg-0123456789abcdef0',
    'IpPermissions.1.IpProtocol=tcp', 'IpPermissions.1.FromPort=80', 'IpPermissions.1.ToPort=443',
    'IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0/8', 'IpPermissions.1.IpRanges.1.Description=office',
    'IpPermissions.1.IpRanges.2.CidrIp=192.168.1.77/24',
    'IpPermissions.1.Groups.1.GroupId=sg-0123456789abcdef1', 'IpPermissions.1.Groups.1.UserId=111122223333',
    'IpPermissions.2.IpProtocol=1', 'IpPermissions.2.FromPort=8', 'IpPermissions.2.ToPort=-1',
    'IpPermissions.2.Groups.1.GroupName=peers',
    'IpPermissions.3.IpProtocol=-1', 'IpPermissions.3.IpRanges.1.CidrIp=0.0.0.0/0',
  ].join('&')));
  assert.deepEqual(perms, [
    { protocol: 'tcp', fromPort: 80, toPort: 443,
      cidrs: [{ cidr: '10.0.0.0/8', description: 'office' }, { cidr: '192.168.1.0/24', description: undefined }],
      groups: [{ groupId: 'sg-0123456789abcdef1', groupName: undefined, userId: '111122223333', description: undefined }] },
    { protocol: 'icmp', fromPort: 8, toPort: -1, cidrs: [],
      groups: [{ groupId: undefined, groupName: 'peers', userId: undefined, description: undefined }] },
    { protocol: '-1', fromPort: -1, toPort: -1, cidrs: [{ cidr: '0.0.0.0/0', description: undefined }], groups: [] },
  ]);
  const bad: [string, string][] = [
    ['IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=1&IpPermissions.1.ToPort=2', 'InvalidParameterValue'],
    ['IpPermissions.1.FromPort=1&IpPermissions.1.ToPort=2&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0', 'MissingParameter'],
    ['IpPermissions.1.IpProtocol=sctp&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0', 'InvalidParameterValue'],
    ['IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=9&IpPermissions.1.ToPort=1&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0', 'InvalidParameterValue'],
    ['IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=1&IpPermissions.1.ToPort=2&IpPermissions.1.IpRanges.1.CidrIp=1.2.3/8', 'InvalidParameterValue'],
    ['IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=1&IpPermissions.1.ToPort=2&IpPermissions.1.Groups.1.GroupId=nope', 'InvalidGroupId.Malformed'],
    ['IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=1&IpPermissions.1.ToPort=2&IpPermissions.1.Groups.1.UserId=1', 'MissingParameter'],
    ['IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=1&IpPermissions.1.ToPort=2&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0&IpPermissions.1.IpRanges.1.Description=%C3%A9', 'InvalidParameterValue'],
    ['IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=1&IpPermissions.1.ToPort=2&IpPermissions.1.Ipv6Ranges.1.CidrIpv6=::/0', 'InvalidParameterValue'],
    ['IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=1&IpPermissions.1.ToPort=2&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0&IpProtocol=tcp', 'InvalidParameterCombination'],
  ];
  for (const [q, c] of bad) assert.throws(() => parsePermissions(P(`GroupName=g&${q}`)), code(c), q);
});

test('descriptions and names', () => {
  assert.equal(checkRuleDescription('SSH from [office] #1: a-b_c.d/e(f)=g&h;{i}!$*+@,'), 'SSH from [office] #1: a-b_c.d/e(f)=g&h;{i}!$*+@,');
  assert.throws(() => checkRuleDescription('x'.repeat(256)), code('InvalidParameterValue'));
  assert.throws(() => checkRuleDescription('quote"'), code('InvalidParameterValue'));
  assert.equal(checkGroupName('web servers (prod)'), 'web servers (prod)');
  assert.throws(() => checkGroupName(''), code('InvalidParameterValue'));
  assert.throws(() => checkGroupName('sg-web'), code('InvalidParameterValue'));
  assert.throws(() => checkGroupName('x'.repeat(256)), code('InvalidParameterValue'));
  assert.throws(() => checkGroupName('grüppe'), code('InvalidParameterValue'));
});

test('RunInstances groups: names and ids, checked and de-duplicated', () => {
  assert.deepEqual(parseRunInstancesGroups(R('ImageId=emi-1&SecurityGroup.1=web&SecurityGroup.2=db&SecurityGroup.3=web&SecurityGroupId.1=sg-0123456789abcdef0')),
    { names: ['web', 'db'], ids: ['sg-0123456789abcdef0'] });
  assert.deepEqual(parseRunInstancesGroups(R('ImageId=emi-1')), { names: [], ids: [] });
  assert.throws(() => parseRunInstancesGroups(R('SecurityGroupId.1=web')), code('InvalidGroupId.Malformed'));
  assert.throws(() => parseRunInstancesGroups(R('SecurityGroup.1=')), code('InvalidParameterValue'));
});

const rule = (r: Partial<RuleRow>): RuleRow => ({
  id: 'sgr-00000000000000001', groupId: 'sg-00000000000000001', groupOwnerId: '111111111111', isEgress: false,
  protocol: 'tcp', fromPort: 22, toPort: 22, createdAt: new Date(0), tags: [], ...r,
});

test('rules render as AWS describes them: grouped by protocol and ports', () => {
  const rules = [
    rule({ cidr: '10.0.0.0/8', description: 'a' }),
    rule({ id: 'sgr-2', cidr: '192.168.0.0/16' }),
    rule({ id: 'sgr-3', sourceGroupId: 'sg-00000000000000002', sourceGroupName: 'db', sourceGroupOwnerId: '222222222222' }),
    rule({ id: 'sgr-4', protocol: '-1', fromPort: -1, toPort: -1, sourceGroupId: 'sg-00000000000000001', sourceGroupName: 'default', sourceGroupOwnerId: '111111111111' }),
    rule({ id: 'sgr-5', isEgress: true, protocol: '-1', fromPort: -1, toPort: -1, cidr: '0.0.0.0/0' }),
  ];
  const perms = ipPermissions(rules.filter((r) => !r.isEgress));
  assert.equal(perms.length, 2);
  assert.deepEqual(perms[0].ipRanges, [{ cidrIp: '10.0.0.0/8', description: 'a' }, { cidrIp: '192.168.0.0/16', description: undefined }]);
  assert.deepEqual(perms[0].groups, [{ userId: '222222222222', groupId: 'sg-00000000000000002', groupName: 'db', description: undefined }]);
  assert.equal(perms[1].fromPort, undefined, '-1 rules carry no ports');
  const xml = renderResponse('DescribeSecurityGroups', 'req', {
    securityGroupInfo: [groupItem({ id: 'sg-00000000000000001', accountId: '111111111111', name: 'default', description: 'default group', createdAt: new Date(0), tags: [] }, rules)],
  });
  // element order is the EC2 model's (groupId, ipPermissionsEgress, tagSet, ownerId, groupName, ...)
  assert.match(xml, /<securityGroupInfo><item><groupId>sg-00000000000000001<\/groupId><ipPermissionsEgress><item><ipProtocol>-1<\/ipProtocol><groups\/><ipRanges><item><cidrIp>0.0.0.0\/0<\/cidrIp><\/item><\/ipRanges>/);
  assert.match(xml, /<tagSet\/><ownerId>111111111111<\/ownerId><groupName>default<\/groupName><groupDescription>default group<\/groupDescription><ipPermissions><item><ipProtocol>tcp<\/ipProtocol><fromPort>22<\/fromPort><toPort>22<\/toPort><groups><item><userId>222222222222<\/userId>/);
  const r = ruleItem(rules[2]);
  assert.deepEqual(r.referencedGroupInfo, { groupId: 'sg-00000000000000002', userId: '222222222222' });
  assert.equal(r.isEgress, false);
});
