import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ec2Error } from '../../api/ec2/errors';
import { emptyParams, parseEc2Request, parseQueryString } from '../../api/ec2/query';

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
  assert.equal(P('a=1')['toString'], undefined);
  assert.equal(P('a=1')['constructor'], undefined);
});

test('emptyParams: a null-prototype map; parseQueryString fills one given', () => {
  const into = emptyParams();
  assert.equal(Object.getPrototypeOf(into), null);
  assert.equal(into['hasOwnProperty'], undefined);
  assert.equal(parseQueryString('a=1&InstanceId.1=i-1', into), into);
  assert.deepEqual({ ...into }, { a: '1', 'InstanceId.1': 'i-1' });
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
