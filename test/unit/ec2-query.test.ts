import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ec2Error } from '../../api/ec2/errors';
import {
  getBool,
  getEnum,
  getFilters,
  getInt,
  getList,
  getString,
  getStruct,
  getStructList,
  getTags,
  getTagSpecifications,
  parseEc2Request,
  parseQueryString,
  required,
} from '../../api/ec2/query';

function ec2Code(code: string, msg?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof Ec2Error, `expected Ec2Error, got ${e}`);
    assert.equal(e.code, code, e.message);
    if (msg) assert.match(e.message, msg);
    return true;
  };
}

const P = (s: string) => parseQueryString(s);

test('parseQueryString: decoding, + as space, last wins, null prototype, auth params dropped', () => {
  const p = P('Action=RunInstances&a=1&a=2&b=x+y%20z&c&d=%E2%9C%93&X-Amz-Signature=abc&constructor=k');
  assert.equal(p.Action, 'RunInstances');
  assert.equal(p.a, '2');
  assert.equal(p.b, 'x y z');
  assert.equal(p.c, '');
  assert.equal(p.d, '✓');
  assert.equal(p['X-Amz-Signature'], undefined);
  assert.equal(Object.getPrototypeOf(p), null);
  assert.equal(getString(P('a=1'), 'toString'), undefined);
});

test('invalid percent-encoding -> MalformedQueryString', () => {
  assert.throws(() => P('a=%zz'), ec2Code('MalformedQueryString'));
  assert.throws(() => P('a=%E2%9C'), ec2Code('MalformedQueryString')); // truncated UTF-8
});

test('parseEc2Request: GET query and POST form body, body wins', () => {
  const g = parseEc2Request({ method: 'GET', query: 'Action=DescribeRegions&Version=2016-11-15' });
  assert.equal(g.Action, 'DescribeRegions');
  const p = parseEc2Request({
    method: 'POST',
    query: 'Version=2009-11-30&Extra=1',
    contentType: 'application/x-www-form-urlencoded; charset=utf-8',
    body: Buffer.from('Action=DescribeRegions&Version=2016-11-15\n'),
  });
  assert.equal(p.Action, 'DescribeRegions');
  assert.equal(p.Version, '2016-11-15');
  assert.equal(p.Extra, '1');
  assert.throws(
    () => parseEc2Request({ method: 'POST', query: '', contentType: 'application/json', body: Buffer.from('{}') }),
    ec2Code('InvalidParameterValue'),
  );
  assert.throws(
    () => parseEc2Request({ method: 'POST', query: '', body: Buffer.from([0x41, 0x3d, 0xff]) }),
    ec2Code('MalformedQueryString'),
  );
});

test('required / MissingParameter', () => {
  assert.equal(required(P('ImageId=emi-1'), 'ImageId'), 'emi-1');
  assert.throws(() => required(P(''), 'ImageId'), ec2Code('MissingParameter', /^The request must contain the parameter ImageId$/));
});

test('getInt with bounds', () => {
  const p = P('MinCount=3&Bad=abc&Big=1001&Neg=-2&Float=1.5&Empty=');
  assert.equal(getInt(p, 'MinCount', { min: 1 }), 3);
  assert.equal(getInt(p, 'Absent'), undefined);
  assert.equal(getInt(p, 'Neg'), -2);
  assert.throws(() => getInt(p, 'Bad'), ec2Code('InvalidParameterValue', /Invalid value 'abc' for Bad/));
  assert.throws(() => getInt(p, 'Float'), ec2Code('InvalidParameterValue'));
  assert.throws(() => getInt(p, 'Empty'), ec2Code('InvalidParameterValue'));
  assert.throws(() => getInt(p, 'Big', { min: 5, max: 1000 }), ec2Code('InvalidParameterValue', /between 5 and 1000/));
  assert.throws(() => getInt(p, 'Neg', { min: 0 }), ec2Code('InvalidParameterValue'));
});

test('getBool and getEnum', () => {
  const p = P('DryRun=true&B=FALSE&C=yes&T=t2.micro');
  assert.equal(getBool(p, 'DryRun'), true);
  assert.equal(getBool(p, 'B'), false);
  assert.equal(getBool(p, 'Nope'), undefined);
  assert.throws(() => getBool(p, 'C'), ec2Code('InvalidParameterValue'));
  assert.equal(getEnum(p, 'T', ['t2.micro', 'm1.small'] as const), 't2.micro');
  assert.throws(() => getEnum(p, 'T', ['m1.small']), ec2Code('InvalidParameterValue'));
});

test('getList: ordered by N, gaps allowed, no prefix confusion', () => {
  const p = P('InstanceId.10=i-10&InstanceId.2=i-2&InstanceId.1=i-1&InstanceIdX.1=no&InstanceId.1.Foo=no&InstanceId=no');
  assert.deepEqual(getList(p, 'InstanceId'), ['i-1', 'i-2', 'i-10']);
  assert.deepEqual(getList(p, 'Missing'), []);
});

test('getFilters', () => {
  const p = P(
    'Filter.2.Name=tag%3AName&Filter.2.Value.1=web&Filter.1.Name=instance-state-name&Filter.1.Value.2=stopped&Filter.1.Value.1=running&Filter.3.Name=empty',
  );
  assert.deepEqual(getFilters(p), [
    { name: 'instance-state-name', values: ['running', 'stopped'] },
    { name: 'tag:Name', values: ['web'] },
    { name: 'empty', values: [] },
  ]);
  assert.deepEqual(getFilters(P('')), []);
  assert.throws(() => getFilters(P('Filter.1.Value.1=x')), ec2Code('MissingParameter', /Filter\.1\.Name/));
});

test('getStructList / getTagSpecifications / getTags', () => {
  const p = P(
    [
      'TagSpecification.1.ResourceType=instance',
      'TagSpecification.1.Tag.1.Key=Name',
      'TagSpecification.1.Tag.1.Value=web%26db',
      'TagSpecification.1.Tag.2.Key=env',
      'TagSpecification.2.ResourceType=volume',
      'TagSpecification.2.Tag.1.Key=k',
      'BlockDeviceMapping.1.DeviceName=%2Fdev%2Fsda1',
      'BlockDeviceMapping.1.Ebs.VolumeSize=10',
      'BlockDeviceMapping.1.Ebs.DeleteOnTermination=true',
      'Tag.2.Key=b',
      'Tag.2.Value=2',
      'Tag.1.Key=a',
    ].join('&'),
  );
  const specs = getStructList(p, 'TagSpecification');
  assert.equal(specs.length, 2);
  assert.equal(specs[0].ResourceType, 'instance');
  assert.deepEqual(JSON.parse(JSON.stringify(specs[0].Tag)), [{ Key: 'Name', Value: 'web&db' }, { Key: 'env' }]);
  assert.deepEqual(getTagSpecifications(p), [
    { resourceType: 'instance', tags: [{ key: 'Name', value: 'web&db' }, { key: 'env', value: '' }] },
    { resourceType: 'volume', tags: [{ key: 'k', value: '' }] },
  ]);
  const bdm = getStructList(p, 'BlockDeviceMapping');
  assert.deepEqual(JSON.parse(JSON.stringify(bdm)), [
    { DeviceName: '/dev/sda1', Ebs: { VolumeSize: '10', DeleteOnTermination: 'true' } },
  ]);
  assert.deepEqual(getTags(p), [
    { key: 'a', value: '' },
    { key: 'b', value: '2' },
  ]);
  assert.deepEqual(getStructList(p, 'Nothing'), []);
  assert.equal(getStruct(p, 'Nothing'), undefined);
  assert.throws(() => getTags(P('Tag.1.Value=v')), ec2Code('MissingParameter', /Tag\.1\.Key/));
  assert.throws(() => getStructList(P('X.Foo=1'), 'X'), ec2Code('InvalidParameterValue'));
  assert.throws(() => getStructList(P('X.1=a&X.1.B=b'), 'X'), ec2Code('InvalidParameterValue'));
});
