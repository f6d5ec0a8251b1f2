// Bad input gets the EC2 error AWS gives, never a 500 or a stack trace; one
// account never sees or touches another's instances.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { ec2, aws, awsFails, stackUp, imageId, waitForState, rawEc2, query, closeDb, leftovers, type Creds, newAccount } from './helpers';

const skip = stackUp ? false : 'the test cloud is not up (run through npm test)';
after(closeDb);

let other: Creds;
let otherAccount: string;
before(async () => {
  if (skip) return;
  // A second account, made the way the bootstrap makes the admin one.
  ({ accountId: otherAccount, creds: other } = await newAccount('tenant', 'AKIT'));
});

const V = { Version: '2016-11-15' };

test('authentication failures', { skip }, async () => {
  const unsigned = await rawEc2({ Action: 'DescribeInstances', ...V }, { sign: false });
  assert.equal(unsigned.code, 'AuthFailure'); assert.equal(unsigned.status, 401);
  const wrong = await rawEc2({ Action: 'DescribeInstances', ...V }, { creds: { accessKeyId: other.accessKeyId, secretAccessKey: 'nope' } });
  assert.equal(wrong.code, 'SignatureDoesNotMatch'); assert.equal(wrong.status, 403);
  const unknownKey = await rawEc2({ Action: 'DescribeInstances', ...V }, { creds: { accessKeyId: 'AKIDOESNOTEXIST00000', secretAccessKey: 'x' } });
  assert.equal(unknownKey.code, 'AuthFailure');
  const expired = await rawEc2({ Action: 'DescribeInstances', ...V }, { date: new Date(Date.now() - 60 * 60 * 1000) });
  assert.equal(expired.code, 'RequestExpired');
  const tampered = await rawEc2({ Action: 'DescribeInstances', ...V }, { tamper: (r) => { r.body = 'Action=TerminateInstances&InstanceId.1=i-00000000&Version=2016-11-15'; } });
  assert.equal(tampered.code, 'SignatureDoesNotMatch');
});

test('malformed and missing parameters, unknown actions and ids', { skip }, async () => {
  const cases: [Record<string, string>, string][] = [
    [{ Action: 'LaunchRockets', ...V }, 'InvalidAction'],
    [{ Action: 'RunInstances', ...V, MinCount: '1', MaxCount: '1' }, 'MissingParameter'],
    [{ Action: 'RunInstances', ...V, ImageId: imageId, MinCount: 'abc', MaxCount: '1' }, 'InvalidParameterValue'],
    [{ Action: 'RunInstances', ...V, ImageId: imageId, MinCount: '3', MaxCount: '1' }, 'InvalidParameterValue'],
    [{ Action: 'RunInstances', ...V, ImageId: 'emi-0badc0de', MinCount: '1', MaxCount: '1' }, 'InvalidAMIID.NotFound'],
    [{ Action: 'RunInstances', ...V, ImageId: 'not-an-image', MinCount: '1', MaxCount: '1' }, 'InvalidAMIID.Malformed'],
    [{ Action: 'RunInstances', ...V, ImageId: imageId, MinCount: '1', MaxCount: '1', InstanceType: 'z9.huge' }, 'InvalidParameterValue'],
    [{ Action: 'RunInstances', ...V, ImageId: imageId, MinCount: '1', MaxCount: '1', 'Placement.AvailabilityZone': 'nowhere-1z' }, 'InvalidParameterValue'],
    [{ Action: 'RunInstances', ...V, ImageId: imageId, MinCount: '500', MaxCount: '500' }, 'InsufficientInstanceCapacity'],
    [{ Action: 'RunInstances', ...V, ImageId: imageId, MinCount: '1', MaxCount: '1', DryRun: 'true' }, 'DryRunOperation'],
    [{ Action: 'DescribeInstances', ...V, 'InstanceId.1': 'i-0000dead' }, 'InvalidInstanceID.NotFound'],
    [{ Action: 'DescribeInstances', ...V, 'InstanceId.1': 'bogus' }, 'InvalidInstanceID.Malformed'],
    [{ Action: 'DescribeInstances', ...V, 'Filter.1.Name': 'no-such-filter', 'Filter.1.Value.1': 'x' }, 'InvalidParameterValue'],
    [{ Action: 'DescribeInstances', ...V, MaxResults: '2' }, 'InvalidParameterValue'],
    [{ Action: 'DescribeInstances', ...V, NextToken: '!!!' }, 'InvalidNextToken'],
    [{ Action: 'TerminateInstances', ...V }, 'MissingParameter'],
    [{ Action: 'StopInstances', ...V, 'InstanceId.1': 'i-0000dead' }, 'InvalidInstanceID.NotFound'],
    [{ Action: 'GetConsoleOutput', ...V }, 'MissingParameter'],
    [{ Action: 'DescribeImages', ...V, 'ImageId.1': 'emi-0badc0de' }, 'InvalidAMIID.NotFound'],
    [{ Action: 'DescribeAvailabilityZones', ...V, 'ZoneName.1': 'nowhere-1z' }, 'InvalidParameterValue'],
    [{ Action: 'DescribeInstances' }, 'MissingParameter'],
  ];
  for (const [params, code] of cases) {
    const r = await rawEc2(params);
    assert.equal(r.code, code, `${JSON.stringify(params)} -> ${r.text}`);
    assert.ok(r.status < 500, `${params.Action} answered ${r.status}`);
    assert.doesNotMatch(r.text, /at .*\.ts:\d+|Error: /, 'no stack trace');
  }
  const dry = await rawEc2({ Action: 'DescribeInstances', ...V, DryRun: 'true' });
  assert.equal(dry.status, 412);
  // The AWS CLI shows the same codes.
  assert.match(await awsFails(['ec2', 'terminate-instances', '--instance-ids', 'i-0000beef']), /InvalidInstanceID\.NotFound/);
  assert.match(await awsFails(['ec2', 'run-instances', '--image-id', imageId, '--count', '1', '--dry-run']), /DryRunOperation/);
});

test('ClientToken makes RunInstances idempotent; other parameters with it are refused', { skip, timeout: 300_000 }, async () => {
  const token = `tok-${crypto.randomBytes(6).toString('hex')}`;
  const a = await aws(['ec2', 'run-instances', '--image-id', imageId, '--count', '1', '--client-token', token]);
  const b = await aws(['ec2', 'run-instances', '--image-id', imageId, '--count', '1', '--client-token', token]);
  assert.equal(b.ReservationId, a.ReservationId);
  assert.deepEqual(b.Instances.map((i: any) => i.InstanceId), a.Instances.map((i: any) => i.InstanceId));
  assert.match(await awsFails(['ec2', 'run-instances', '--image-id', imageId, '--instance-type', 'c1.medium', '--count', '1', '--client-token', token]),
    /IdempotentParameterMismatch/);
  const id = a.Instances[0].InstanceId;
  await waitForState([id], ['running']);
  // After the launch workflow is over, the token still answers with the same reservation.
  const c = await aws(['ec2', 'run-instances', '--image-id', imageId, '--count', '1', '--client-token', token]);
  assert.equal(c.ReservationId, a.ReservationId);
  assert.equal((await query('SELECT * FROM reservations WHERE client_token = ?', [token])).length, 1);
  await aws(['ec2', 'terminate-instances', '--instance-ids', id]);
  await waitForState([id], ['terminated'], 120_000);
  assert.match(await awsFails(['ec2', 'stop-instances', '--instance-ids', id]), /IncorrectInstanceState/);
});

test("one account never sees or touches another's instances", { skip, timeout: 300_000 }, async () => {
  const mine = await ec2().send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, InstanceType: 't1.micro' }));
  const id = mine.Instances![0].InstanceId!;
  const seen = await aws(['ec2', 'describe-instances'], other);
  assert.ok(!JSON.stringify(seen).includes(id), 'not listed for the other account');
  for (const args of [['describe-instances', '--instance-ids', id], ['terminate-instances', '--instance-ids', id],
    ['stop-instances', '--instance-ids', id], ['reboot-instances', '--instance-ids', id], ['get-console-output', '--instance-id', id]]) {
    assert.match(await awsFails(['ec2', ...args], other), /InvalidInstanceID\.NotFound/, args.join(' '));
  }
  assert.notEqual((await waitForState([id], ['running', 'pending'], 10_000))[0].State?.Name, 'terminated');
  await ec2().send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  await waitForState([id], ['terminated'], 200_000);
  assert.deepEqual(await leftovers([id]), { ips: [], macs: [], capacity: [], qemu: [], dhcp: [], taps: [] });
});
