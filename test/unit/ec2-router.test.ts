import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { promisify } from 'node:util';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { DescribeRegionsCommand, DescribeInstancesCommand, EC2Client, RebootInstancesCommand } from '@aws-sdk/client-ec2';
import { XMLParser } from 'fast-xml-parser';
import pino from 'pino';
import type { Credential } from '../../api/auth/sigv4';
import { Ec2Error } from '../../api/ec2/errors';
import { dryRunCheck, ec2Router, type Ec2ActionTable, type Ec2Context } from '../../api/ec2/router';
import { createApiApp } from '../../api/server';

const CRED: Credential = {
  accessKeyId: 'AKIDTESTACCOUNT00001',
  secretAccessKey: 'secret/with+chars=00000000000000000000',
  accountId: '123456789012',
  userName: 'admin',
};
const REGION = 'eucalyptus';

const logLines: Array<Record<string, unknown>> = [];
const log = pino({ level: 'debug' }, { write: (s: string) => void logLines.push(JSON.parse(s)) });

const seen: Ec2Context[] = [];
const actions: Ec2ActionTable = {
  DescribeRegions: {
    handler: async (ctx) => {
      seen.push(ctx);
      return {
        regionInfo: [
          { regionName: REGION, regionEndpoint: 'http://127.0.0.1/', optInStatus: 'opt-in-not-required' },
          { regionName: 'other & <more>', regionEndpoint: 'http://x/' },
        ],
      };
    },
  },
  DescribeInstances: {
    handler: async () => ({
      reservationSet: [
        {
          reservationId: 'r-0000000a',
          ownerId: CRED.accountId,
          groupSet: [],
          instancesSet: [
            {
              instanceId: 'i-0000000a',
              imageId: 'emi-0000000a',
              instanceState: { code: 16, name: 'running' },
              launchTime: new Date('2026-11-25T11:25:41.000Z'),
              instanceType: 't2.micro',
              ebsOptimized: false,
              tagSet: [{ key: 'Name', value: 'web' }],
            },
          ],
        },
      ],
    }),
  },
  RebootInstances: {
    dryRunPermitted: true,
    handler: async (ctx) => {
      const ids = (ctx.input.InstanceIds ?? []) as string[];
      if (ids.length === 0) throw new Ec2Error('MissingParameter', 'The request must contain the parameter InstanceId');
      if (ids.some((id) => !/^i-[0-9a-f]{8}$/.test(id))) throw new Ec2Error('InvalidInstanceID.Malformed', `Invalid id: "${ids[0]}"`);
      dryRunCheck(ctx);
      return { return: true };
    },
  },
  DescribeKeyPairs: { // a handler that fails with a plain Error
    handler: async () => {
      throw new Error('secret internal detail at /srv/db.ts');
    },
  },
};

let server: Server;
let endpoint: string;
let host: string;

before(async () => {
  const app = createApiApp({
    ec2: ec2Router({
      actions,
      lookupCredential: async (id) => (id === CRED.accessKeyId ? CRED : undefined),
      region: REGION,
      log,
      maxBodyBytes: 64 * 1024,
    }),
    health: (_req, res) => void res.json({ ok: true }),
    log,
  });
  await new Promise<void>((resolve) => {
    server = app.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  host = `127.0.0.1:${port}`;
  endpoint = `http://${host}`;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function client(secret = CRED.secretAccessKey) {
  return new EC2Client({
    endpoint,
    region: REGION,
    credentials: { accessKeyId: CRED.accessKeyId, secretAccessKey: secret },
    maxAttempts: 1,
  });
}

const parser = new XMLParser({ parseTagValue: false, htmlEntities: true });

async function rawSigned(body: string, opts: { secret?: string; method?: string; query?: Record<string, string> } = {}) {
  const signer = new SignatureV4({
    credentials: { accessKeyId: CRED.accessKeyId, secretAccessKey: opts.secret ?? CRED.secretAccessKey },
    region: REGION,
    service: 'ec2',
    sha256: Sha256,
  });
  const req = new HttpRequest({
    method: opts.method ?? 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1',
    path: '/',
    query: opts.query,
    headers: { host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body,
  });
  const s = (await signer.sign(req)) as HttpRequest;
  const qs = new URLSearchParams(opts.query ?? {}).toString().replace(/\+/g, '%20');
  const { host: _h, ...headers } = s.headers;
  return fetch(`${endpoint}/${qs ? '?' + qs : ''}`, {
    method: s.method,
    headers,
    body: s.method === 'GET' ? undefined : body,
  });
}

async function expectXmlError(res: Response, status: number, code: string) {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.equal(res.headers.get('content-type'), 'text/xml;charset=UTF-8');
  assert.ok(res.headers.get('x-amzn-requestid'));
  const doc = parser.parse(text);
  assert.equal(doc.Response.Errors.Error.Code, code, text);
  assert.equal(doc.Response.RequestID, res.headers.get('x-amzn-requestid'));
  return { text, message: doc.Response.Errors.Error.Message as string };
}

describe('ec2Router over HTTP', () => {
  test('aws-sdk v3 DescribeRegions parses', async () => {
    const out = await client().send(new DescribeRegionsCommand({ RegionNames: ['a', 'b'] }));
    assert.deepEqual(
      out.Regions?.map((r) => r.RegionName),
      [REGION, 'other & <more>'],
    );
    assert.equal(out.Regions?.[0].OptInStatus, 'opt-in-not-required');
    assert.ok(out.$metadata.requestId);
    const ctx = seen.at(-1)!;
    assert.equal(ctx.accountId, CRED.accountId);
    assert.equal(ctx.userName, 'admin');
    assert.equal(ctx.action, 'DescribeRegions');
    assert.equal(ctx.version, '2016-11-15');
    assert.equal(ctx.dryRun, false);
    assert.deepEqual(ctx.input.RegionNames, ['a', 'b']);
    assert.equal(ctx.params['RegionName.2'], 'b');
    assert.equal(ctx.requestId, out.$metadata.requestId);
  });

  test('aws-sdk v3 DescribeInstances: nested lists, dates, numbers', async () => {
    const out = await client().send(new DescribeInstancesCommand({}));
    const inst = out.Reservations?.[0].Instances?.[0];
    assert.equal(inst?.InstanceId, 'i-0000000a');
    assert.equal(inst?.State?.Code, 16);
    assert.equal(inst?.LaunchTime?.toISOString(), '2026-11-25T11:25:41.000Z');
    assert.equal(inst?.EbsOptimized, false);
    assert.deepEqual(inst?.Tags, [{ Key: 'Name', Value: 'web' }]);
    assert.deepEqual(out.Reservations?.[0].Groups, []);
  });

  test('DryRun: router short-circuit and handler-validated', async () => {
    await assert.rejects(client().send(new DescribeRegionsCommand({ DryRun: true })), (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(e.name, 'DryRunOperation');
      assert.equal(e.message, 'Request would have succeeded, but DryRun flag is set.');
      assert.equal(e.$metadata?.httpStatusCode, 412);
      return true;
    });
    const before = seen.length;
    await assert.rejects(client().send(new DescribeRegionsCommand({ DryRun: true })), { name: 'DryRunOperation' });
    assert.equal(seen.length, before, 'handler without dryRunPermitted is not called');
    await assert.rejects(client().send(new RebootInstancesCommand({ InstanceIds: ['i-0000000a'], DryRun: true })), { name: 'DryRunOperation' });
    await assert.rejects(client().send(new RebootInstancesCommand({ InstanceIds: ['bogus'], DryRun: true })), {
      name: 'InvalidInstanceID.Malformed',
    });
    const ok = await client().send(new RebootInstancesCommand({ InstanceIds: ['i-0000000a'] }));
    assert.equal(ok.$metadata.httpStatusCode, 200);
  });

  test('wrong secret -> SignatureDoesNotMatch 403', async () => {
    await assert.rejects(client('wrong').send(new DescribeRegionsCommand({})), (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(e.name, 'SignatureDoesNotMatch');
      assert.equal(e.$metadata?.httpStatusCode, 403);
      return true;
    });
    await expectXmlError(await rawSigned('Action=DescribeRegions&Version=2016-11-15', { secret: 'nope' }), 403, 'SignatureDoesNotMatch');
  });

  test('unsigned request -> AuthFailure 401', async () => {
    const res = await fetch(endpoint + '/', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=DescribeRegions&Version=2016-11-15',
    });
    const { message } = await expectXmlError(res, 401, 'AuthFailure');
    assert.equal(message, 'AWS was not able to validate the provided access credentials');
    await expectXmlError(await fetch(endpoint + '/?Action=DescribeRegions&Version=2016-11-15'), 401, 'AuthFailure');
  });

  test('unknown / missing action, bad version', async () => {
    const { message } = await expectXmlError(await rawSigned('Action=DescribeUnicorns&Version=2016-11-15'), 400, 'InvalidAction');
    assert.equal(message, 'The action DescribeUnicorns is not valid for this web service.');
    await expectXmlError(await rawSigned('Action=constructor&Version=2016-11-15'), 400, 'InvalidAction');
    await expectXmlError(await rawSigned('Version=2016-11-15'), 400, 'MissingAction');
    await expectXmlError(await rawSigned('Action=DescribeRegions'), 400, 'MissingParameter');
    await expectXmlError(await rawSigned('Action=DescribeRegions&Version=banana'), 400, 'NoSuchVersion');
    await expectXmlError(await rawSigned('Action=DescribeRegions&Version=2999-01-01'), 400, 'NoSuchVersion');
    const old = await rawSigned('Action=DescribeRegions&Version=2010-08-31');
    assert.equal(old.status, 200);
    assert.match(await old.text(), /xmlns="http:\/\/ec2\.amazonaws\.com\/doc\/2010-08-31\/"/);
    await expectXmlError(await rawSigned('Action=DescribeRegions&Version=2016-11-15&DryRun=maybe'), 400, 'InvalidParameterValue');
  });

  test('signed GET with query string works', async () => {
    const res = await rawSigned('', { method: 'GET', query: { Action: 'DescribeRegions', Version: '2016-11-15', 'RegionName.1': 'a b' } });
    assert.equal(res.status, 200);
    const doc = parser.parse(await res.text());
    assert.equal(doc.DescribeRegionsResponse.regionInfo.item[0].regionName, REGION);
    assert.deepEqual(seen.at(-1)!.input.RegionNames, ['a b']);
  });

  test('plain Error from handler -> InternalError 500, generic message, stack only in the log', async () => {
    const res = await rawSigned('Action=DescribeKeyPairs&Version=2016-11-15');
    const { text, message } = await expectXmlError(res, 500, 'InternalError');
    assert.equal(message, 'An internal error has occurred');
    assert.ok(!text.includes('secret internal detail') && !text.includes('.ts') && !text.includes(' at '));
    const rid = res.headers.get('x-amzn-requestid');
    const errLine = logLines.find((l) => l.requestId === rid && l.level === 50);
    assert.ok(errLine, 'error logged');
    assert.match(String((errLine.err as { stack?: string }).stack), /secret internal detail/);
    const reqLines = logLines.filter((l) => l.requestId === rid && l.msg === 'ec2 request');
    assert.equal(reqLines.length, 1);
    assert.equal(reqLines[0].status, 500);
    assert.equal(reqLines[0].action, 'DescribeKeyPairs');
    assert.equal(reqLines[0].accountId, CRED.accountId);
    assert.equal(typeof reqLines[0].ms, 'number');
  });

  test('malformed input is always EC2 XML', async () => {
    await expectXmlError(await rawSigned('Action=DescribeRegions&Version=2016-11-15&X=%zz'), 404, 'MalformedQueryString');
    const big = 'Action=DescribeRegions&Version=2016-11-15&Pad=' + 'x'.repeat(70 * 1024);
    await expectXmlError(await rawSigned(big), 413, 'RequestEntityTooLarge');
    const put = await fetch(endpoint + '/', { method: 'PUT', body: 'x' });
    await expectXmlError(put, 405, 'UnsupportedOperation');
    await expectXmlError(await fetch(endpoint + '/some/path?%zz'), 404, 'MalformedQueryString');
    const ok = await fetch(endpoint + '/healthz');
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('x-powered-by'), null);
  });

  test('boto3 (second real client) parses the XML', async (t) => {
    const exec = promisify(execFile);
    try {
      await exec('python3', ['-c', 'import boto3']);
    } catch {
      t.skip('python3/boto3 not available');
      return;
    }
    const script = `
import boto3, json, sys
c = boto3.client('ec2', endpoint_url=sys.argv[1], region_name='${REGION}',
                 aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
out = {'regions': [r['RegionName'] for r in c.describe_regions()['Regions']]}
inst = c.describe_instances()['Reservations'][0]['Instances'][0]
out['launch'] = inst['LaunchTime'].isoformat()
out['state'] = inst['State']
try:
    c.reboot_instances(InstanceIds=['i-0000000a'], DryRun=True)
except Exception as e:
    out['dry'] = [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode']]
try:
    c.describe_regions(DryRun=False, RegionNames=['x'])
    bad = boto3.client('ec2', endpoint_url=sys.argv[1], region_name='${REGION}',
                       aws_access_key_id=sys.argv[2], aws_secret_access_key='wrong')
    bad.describe_regions()
except Exception as e:
    out['bad'] = [e.response['Error']['Code'], e.response['ResponseMetadata']['RequestId']]
print(json.dumps(out))
`;
    const { stdout } = await exec('python3', ['-c', script, endpoint, CRED.accessKeyId, CRED.secretAccessKey], {
      env: { ...process.env, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_MAX_ATTEMPTS: '1' },
      timeout: 60_000,
    });
    const out = JSON.parse(stdout);
    assert.deepEqual(out.regions, [REGION, 'other & <more>']);
    assert.equal(out.launch, '2026-11-25T11:25:41+00:00');
    assert.deepEqual(out.state, { Code: 16, Name: 'running' });
    assert.deepEqual(out.dry, ['DryRunOperation', 412]);
    assert.equal(out.bad[0], 'SignatureDoesNotMatch');
    assert.ok(out.bad[1]);
  });
});
