// EC2 XML responses serialized from botocore's EC2 output shapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser } from 'fast-xml-parser';
import { renderError, renderResponse } from '../../api/ec2/xml';

const parser = new XMLParser({ ignoreAttributes: false, parseTagValue: false, trimValues: false, htmlEntities: true });
const strict = { onUnknown: (p: string) => { throw new Error(`unknown ${p}`); } };

test('renderResponse: declaration, namespace, requestId first, lists, dates, booleans, omissions', () => {
  const launch = new Date(Date.UTC(2026, 10, 25, 11, 25, 41));
  const xml = renderResponse(
    'DescribeInstances',
    'req-1',
    {
      requestId: 'ignored',
      reservationSet: [
        {
          reservationId: 'r-0000000a',
          ownerId: '000000000001',
          groupSet: [],
          instancesSet: [
            {
              instanceId: 'i-0000000a',
              launchTime: launch,
              ebsOptimized: false,
              amiLaunchIndex: 0,
              keyName: undefined,
              kernelId: null,
              tagSet: [{ key: 'Name', value: `<a & "b" 'c'>` }],
            },
            { instanceId: 'i-0000000b' },
          ],
        },
      ],
      nextToken: undefined,
    },
    '2016-11-15',
    strict,
  );
  assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-1</requestId><reservationSet>'), xml);
  assert.ok(xml.includes('<groupSet/>'));
  assert.ok(xml.includes('<launchTime>2026-11-25T11:25:41.000Z</launchTime>'));
  assert.ok(!xml.includes('keyName') && !xml.includes('kernelId') && !xml.includes('nextToken'));
  assert.equal(xml.match(/<requestId>/g)?.length, 1);

  const doc = parser.parse(xml);
  const resp = doc.DescribeInstancesResponse;
  assert.equal(resp['@_xmlns'], 'http://ec2.amazonaws.com/doc/2016-11-15/');
  assert.equal(resp.requestId, 'req-1');
  const res = resp.reservationSet.item;
  assert.equal(res.reservationId, 'r-0000000a');
  assert.equal(res.groupSet, '');
  const insts = res.instancesSet.item;
  assert.equal(insts.length, 2);
  assert.equal(insts[0].ebsOptimized, 'false');
  assert.equal(insts[0].amiLaunchIndex, '0');
  assert.equal(insts[0].tagSet.item.value, `<a & "b" 'c'>`);
  assert.equal(insts[1].instanceId, 'i-0000000b');
});

test('renderResponse: members in the model order, by wire name or model name; version in the namespace', () => {
  // DescribeInstancesResult is (NextToken, Reservations) in the model; the handler's order does not matter
  const xml = renderResponse('DescribeInstances', 'r', { Reservations: [{ ReservationId: 'r-1', Instances: [{ InstanceId: 'i-1', State: { Code: 16, Name: 'running' } }] }], nextToken: 'n' }, '2014-06-15', strict);
  const doc = parser.parse(xml).DescribeInstancesResponse;
  assert.equal(doc['@_xmlns'], 'http://ec2.amazonaws.com/doc/2014-06-15/');
  assert.ok(xml.indexOf('<nextToken>') < xml.indexOf('<reservationSet>'));
  assert.equal(doc.reservationSet.item.reservationId, 'r-1');
  assert.equal(doc.reservationSet.item.instancesSet.item.instanceState.code, '16');
  const ret = parser.parse(renderResponse('RebootInstances', 'r', { return: true })).RebootInstancesResponse;
  assert.equal(ret.return, 'true');
  // lists of scalars use the list member's own name
  const sg = renderResponse('DescribeSecurityGroups', 'r', { securityGroupInfo: [{ groupId: 'sg-1', ipPermissions: [{ ipProtocol: 'tcp', ipRanges: [{ cidrIp: '0.0.0.0/0' }] }] }] }, undefined, strict);
  assert.match(sg, /<ipRanges><item><cidrIp>0\.0\.0\.0\/0<\/cidrIp><\/item><\/ipRanges>/);
});

test('renderResponse: control characters cannot break the document; wrong types and unknown members are caught', () => {
  const xml = renderResponse('DescribeKeyPairs', 'r', { keySet: [{ keyName: 'a\u0000b\u0007c\n]]>' }] });
  const doc = parser.parse(xml).DescribeKeyPairsResponse;
  assert.equal(doc.keySet.item.keyName, 'a\uFFFDb\uFFFDc\n]]>');
  assert.throws(() => renderResponse('DescribeKeyPairs', 'r', { 'bad name': 1 }, undefined, strict), /unknown/);
  assert.throws(() => renderResponse('DescribeInstances', 'r', { reservationSet: [{ instancesSet: [{ launchTime: new Date(NaN) }] }] }));
  assert.throws(() => renderResponse('DescribeInstances', 'r', { reservationSet: 'not a list' }));
  assert.throws(() => renderResponse('DescribeInstances', 'r', { reservationSet: [{ instancesSet: [{ amiLaunchIndex: 'x' }] }] }));
  // an unknown member is dropped when not strict
  assert.doesNotMatch(renderResponse('DescribeKeyPairs', 'r', { keySet: [], bogus: 1 }), /bogus/);
});

test('renderError: EC2 shape with RequestID', () => {
  const xml = renderError('InvalidParameterValue', 'Invalid value \'<x>\' for InstanceType.', 'req-9');
  assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>InvalidParameterValue</Code><Message>'), xml);
  const doc = parser.parse(xml);
  assert.equal(doc.Response.Errors.Error.Code, 'InvalidParameterValue');
  assert.equal(doc.Response.Errors.Error.Message, "Invalid value '<x>' for InstanceType.");
  assert.equal(doc.Response.RequestID, 'req-9');
});
