import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser } from 'fast-xml-parser';
import { renderError, renderResponse } from '../../api/ec2/xml';

const parser = new XMLParser({ ignoreAttributes: false, parseTagValue: false, trimValues: false, htmlEntities: true });

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
  );
  assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-1</requestId><reservationSet>'));
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

test('renderResponse: lists of scalars, nested objects, version in namespace', () => {
  const xml = renderResponse('X', 'r', { ids: ['a', 'b'], nested: { deep: { v: 1n } }, return: true }, '2014-06-15');
  const doc = parser.parse(xml).XResponse;
  assert.equal(doc['@_xmlns'], 'http://ec2.amazonaws.com/doc/2014-06-15/');
  assert.deepEqual(doc.ids.item, ['a', 'b']);
  assert.equal(doc.nested.deep.v, '1');
  assert.equal(doc.return, 'true');
});

test('renderResponse: control characters cannot break the document; bad names throw', () => {
  const xml = renderResponse('X', 'r', { s: 'a\u0000b\u0007c\r\n]]>' });
  const doc = parser.parse(xml).XResponse;
  assert.equal(doc.s, 'a\uFFFDb\uFFFDc\r\n]]>');
  assert.throws(() => renderResponse('X', 'r', { 'bad name': 1 }));
  assert.throws(() => renderResponse('X', 'r', { d: new Date(NaN) }));
  assert.throws(() => renderResponse('X', 'r', { f: () => 1 }));
});

test('renderError: EC2 shape with RequestID', () => {
  const xml = renderError('InvalidParameterValue', 'Invalid value \'<x>\' for InstanceType.', 'req-9');
  assert.equal(
    xml,
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>InvalidParameterValue</Code>' +
      '<Message>Invalid value &apos;&lt;x&gt;&apos; for InstanceType.</Message></Error></Errors><RequestID>req-9</RequestID></Response>',
  );
  const doc = parser.parse(xml);
  assert.equal(doc.Response.Errors.Error.Code, 'InvalidParameterValue');
  assert.equal(doc.Response.Errors.Error.Message, "Invalid value '<x>' for InstanceType.");
  assert.equal(doc.Response.RequestID, 'req-9');
});
