// The model-driven API layer as clients meet it: SigV2 as euca2ools signs,
// parameters validated from the EC2 service model, DryRun that answers only
// when the real call would succeed, prototype-named parameters.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { aws, awsFails, stackUp, rawEc2, query, closeDb, run, endpoint, region, adminCreds, repo, type Creds, newAccount } from './helpers';

const skip = stackUp ? false : 'the test cloud is not up (run through npm test)';
after(closeDb);

let other: Creds;
before(async () => {
  if (skip) return;
  other = (await newAccount('surface', 'AKIS')).creds;
});

const V = { Version: '2016-11-15' };

/** botocore's own SigV2 signer (test/unit/sigv2_sign.py), then the request sent as signed. */
async function sigv2(params: Record<string, string>, opts: { method?: 'GET' | 'POST'; secret?: string; sha1?: boolean; expires?: string; creds?: Creds } = {}) {
  const creds = opts.creds ?? adminCreds;
  const spec = [{
    method: opts.method ?? 'POST', url: endpoint, params: Object.entries(params),
    access_key: creds.accessKeyId, secret: opts.secret ?? creds.secretAccessKey, sha1: opts.sha1, expires: opts.expires,
  }];
  const { stdout } = await run('python3', [path.join(repo, 'test/unit/sigv2_sign.py'), JSON.stringify(spec)]);
  const [signed] = JSON.parse(stdout) as Array<{ method: string; url: string; headers: Record<string, string>; body: string }>;
  const res = await fetch(signed.url, { method: signed.method, headers: signed.headers, body: signed.method === 'GET' ? undefined : signed.body });
  const text = await res.text();
  return { status: res.status, text, code: /<Code>([^<]+)<\/Code>/.exec(text)?.[1] };
}

test('SigV2 (botocore SigV2Auth, as euca2ools signs): GET and POST, SHA256 and SHA1, old Versions, Expires', { skip }, async () => {
  for (const method of ['GET', 'POST'] as const) {
    for (const version of ['2009-11-30', '2013-10-15', '2016-11-15']) {
      const r = await sigv2({ Action: 'DescribeAvailabilityZones', Version: version }, { method });
      assert.equal(r.status, 200, `${method} ${version}: ${r.text}`);
      assert.match(r.text, new RegExp(`xmlns="http://ec2.amazonaws.com/doc/${version}/"`));
    }
  }
  const sha1 = await sigv2({ Action: 'DescribeKeyPairs', ...V }, { sha1: true });
  assert.equal(sha1.status, 200, sha1.text);
  const exp = await sigv2({ Action: 'DescribeKeyPairs', ...V }, { expires: new Date(Date.now() + 60_000).toISOString() });
  assert.equal(exp.status, 200, exp.text);
  // a mutating call through SigV2, with a list parameter
  const name = `v2-${crypto.randomBytes(4).toString('hex')}`;
  const made = await sigv2({ Action: 'CreateSecurityGroup', GroupName: name, GroupDescription: 'made with SigV2', ...V });
  assert.equal(made.status, 200, made.text);
  const listed = await sigv2({ Action: 'DescribeSecurityGroups', 'GroupName.1': name, ...V }, { method: 'GET' });
  assert.match(listed.text, new RegExp(`<groupName>${name}</groupName>`));
  assert.equal((await sigv2({ Action: 'DeleteSecurityGroup', GroupName: name, ...V })).status, 200);
});

test('SigV2 wrongly signed: AuthFailure that says why', { skip }, async () => {
  const bad = await sigv2({ Action: 'DescribeInstances', ...V }, { secret: 'not-the-secret' });
  assert.equal(bad.status, 401);
  assert.equal(bad.code, 'AuthFailure');
  assert.match(bad.text, /signature/i);
  const old = await sigv2({ Action: 'DescribeInstances', ...V }, { expires: new Date(Date.now() - 60_000).toISOString() });
  assert.equal(old.code, 'RequestExpired');
  const unknown = await sigv2({ Action: 'DescribeInstances', ...V }, { creds: { accessKeyId: 'AKIDNOSUCHKEY0000000', secretAccessKey: 'x' } });
  assert.equal(unknown.code, 'AuthFailure');
});

test('boto3 with signature_version v2 (a real client path) works end to end', { skip }, async () => {
  const script = `
import boto3, json, sys
from botocore.config import Config
c = boto3.client('ec2', endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id=sys.argv[3],
                 aws_secret_access_key=sys.argv[4], config=Config(signature_version='v2', retries={'max_attempts': 1}))
print(json.dumps({'zones': [z['ZoneName'] for z in c.describe_availability_zones()['AvailabilityZones']],
                  'keys': len(c.describe_key_pairs()['KeyPairs'])}))`;
  const { stdout } = await run('python3', ['-c', script, endpoint, region, adminCreds.accessKeyId, adminCreds.secretAccessKey]);
  const out = JSON.parse(stdout);
  assert.ok(out.zones.length >= 1);
});

test('parameters are validated from the EC2 model: types, enums, required, unknown names', { skip }, async () => {
  const cases: Array<[Record<string, string>, string, RegExp?]> = [
    [{ Action: 'DescribeInstances', MaxResults: 'ten', ...V }, 'InvalidParameterValue', /MaxResults/],
    [{ Action: 'DescribeInstances', 'InstanceId.1': 'i-12345678', MaxResults: '7', Bogus: '1', ...V }, 'UnknownParameter', /Bogus/],
    [{ Action: 'DescribeInstanceAttribute', InstanceId: 'i-12345678', Attribute: 'colour', ...V }, 'InvalidParameterValue', /colour/],
    [{ Action: 'CreateSecurityGroup', GroupName: 'x', ...V }, 'MissingParameter', /GroupDescription/],
    [{ Action: 'DescribeImages', 'ImageId.x': 'emi-12345678', ...V }, 'UnknownParameter'],
    [{ Action: 'RunInstances', ImageId: 'emi-12345678', MinCount: '1', MaxCount: '1', DisableApiTermination: 'perhaps', ...V }, 'InvalidParameterValue'],
    [{ Action: 'DescribeRegions', 'Filter.1.Name': 'region-name', 'Filter.1.Value.1': 'x', 'Filter.1.Value.x': 'y', ...V }, 'UnknownParameter'],
  ];
  for (const [params, code, msg] of cases) {
    const r = await rawEc2(params);
    assert.equal(r.code, code, `${JSON.stringify(params)}: ${r.text}`);
    assert.ok(r.status >= 400 && r.status < 500, r.text);
    if (msg) assert.match(r.text, msg);
  }
});

test('enums the cloud keeps open: its own instance types, and every account attribute EC2 answers', { skip }, async () => {
  const out = await aws(['ec2', 'describe-account-attributes', '--attribute-names', 'max-instances', 'supported-platforms']);
  assert.deepEqual(out.AccountAttributes.map((a: any) => a.AttributeName).sort(), ['max-instances', 'supported-platforms']);
  assert.match(await awsFails(['ec2', 'describe-account-attributes', '--attribute-names', 'colour']), /InvalidParameterValue/);
});

test('parameter and filter names are data: __proto__, constructor, hasOwnProperty, valueOf', { skip }, async () => {
  for (const name of ['__proto__', 'constructor', 'hasOwnProperty', 'valueOf', 'toString', '__proto__.polluted']) {
    const asParam = await rawEc2({ Action: 'DescribeInstances', [name]: 'x', ...V });
    assert.equal(asParam.code, 'UnknownParameter', asParam.text);
    for (const action of ['DescribeInstances', 'DescribeSecurityGroups', 'DescribeImages', 'DescribeKeyPairs', 'DescribeAddresses', 'DescribeAvailabilityZones']) {
      const asFilter = await rawEc2({ Action: action, 'Filter.1.Name': name, 'Filter.1.Value.1': 'x', ...V });
      assert.ok(asFilter.status < 500, `${action} filter ${name}: ${asFilter.text}`);
      assert.equal(asFilter.code, 'InvalidParameterValue', `${action} filter ${name}: ${asFilter.text}`);
    }
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('DryRun answers DryRunOperation only when the real call would succeed', { skip }, async () => {
  const mine = await aws(['ec2', 'describe-security-groups', '--group-names', 'default']);
  const myGroup = mine.SecurityGroups[0].GroupId as string;
  // Existence and ownership first: a missing id, and another account's group, are NotFound, not DryRunOperation.
  const cases: Array<[string[], RegExp]> = [
    [['ec2', 'terminate-instances', '--instance-ids', 'i-00000000', '--dry-run'], /InvalidInstanceID\.NotFound/],
    [['ec2', 'stop-instances', '--instance-ids', 'i-00000000', '--dry-run'], /InvalidInstanceID\.NotFound/],
    [['ec2', 'start-instances', '--instance-ids', 'i-00000000', '--dry-run'], /InvalidInstanceID\.NotFound/],
    [['ec2', 'reboot-instances', '--instance-ids', 'i-00000000', '--dry-run'], /InvalidInstanceID\.NotFound/],
    [['ec2', 'get-console-output', '--instance-id', 'i-00000000', '--dry-run'], /InvalidInstanceID\.NotFound/],
    [['ec2', 'describe-instances', '--instance-ids', 'i-00000000', '--dry-run'], /InvalidInstanceID\.NotFound/],
    [['ec2', 'describe-images', '--image-ids', 'emi-00000000', '--dry-run'], /InvalidAMIID\.NotFound/],
    [['ec2', 'describe-key-pairs', '--key-names', 'no-such-key', '--dry-run'], /InvalidKeyPair\.NotFound/],
    [['ec2', 'delete-security-group', '--group-id', myGroup, '--dry-run'], /InvalidGroup\.NotFound/],
    [['ec2', 'authorize-security-group-ingress', '--group-id', myGroup, '--protocol', 'tcp', '--port', '22', '--cidr', '0.0.0.0/0', '--dry-run'], /InvalidGroup\.NotFound/],
    [['ec2', 'associate-address', '--public-ip', '100.64.251.250', '--instance-id', 'i-00000000', '--dry-run'], /NotFound|AuthFailure/],
  ];
  for (const [args, want] of cases) {
    const err = await awsFails(args, other);
    assert.match(err, want, `${args.join(' ')}: ${err}`);
    assert.doesNotMatch(err, /DryRunOperation/, args.join(' '));
  }
  // And a call that would succeed answers DryRunOperation.
  assert.match(await awsFails(['ec2', 'authorize-security-group-ingress', '--group-id', myGroup, '--protocol', 'tcp', '--port', '2222', '--cidr', '10.0.0.0/8', '--dry-run']), /DryRunOperation/);
  assert.match(await awsFails(['ec2', 'describe-security-groups', '--group-ids', myGroup, '--dry-run']), /DryRunOperation/);
  const rules = await aws(['ec2', 'describe-security-groups', '--group-ids', myGroup]);
  assert.ok(!JSON.stringify(rules).includes('"FromPort": 2222'), 'the dry run changed nothing');
});
