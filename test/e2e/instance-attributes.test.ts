// Instance attributes end to end, with the clients people use (the AWS CLI and
// boto3's resource API) against the test cloud: DescribeInstanceAttribute for
// every attribute, ModifyInstanceAttribute of type and user data while stopped
// (and refused while running), termination protection, the shutdown behaviour
// of a guest that powers itself off (stop, then terminate), GetPasswordData,
// Monitor/UnmonitorInstances, DescribeInstanceStatus, credit specifications and
// instance types. Every DryRun answers NotFound for another account's instance
// and for i-00000000, never DryRunOperation.
//
// Real guests boot under TCG, so the file shares two: A (the CLI's, booted
// three times) and B (boto3's, never needs to finish booting).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  aws, awsFails, stackUp, imageId, waitForState, describe, consoleText, leftovers, query, closeDb, sleep, run,
  endpoint, region, adminCreds, type Creds,
} from './helpers';

const skip = stackUp ? false : 'the test cloud is not up (run through npm test)';
after(closeDb);

let other: Creds;
before(async () => {
  if (skip) return;
  const acct = String(300000000000 + crypto.randomInt(1e9));
  await query('INSERT INTO accounts (id, name) VALUES (?, ?)', [acct, `attr-tenant-${acct}`]);
  other = { accessKeyId: 'AKIA' + crypto.randomBytes(8).toString('hex').toUpperCase(), secretAccessKey: crypto.randomBytes(20).toString('hex') };
  await query('INSERT INTO access_keys (access_key_id, secret_key, account_id) VALUES (?, ?, ?)', [other.accessKeyId, other.secretAccessKey, acct]);
});

const NONE = 'i-00000000';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attr-test-'));
/** A JSON argument the CLI reads from a file (user data scripts have newlines and '=' that shorthand syntax would mangle). */
function jsonFile(name: string, value: unknown): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, JSON.stringify(value));
  return `file://${f}`;
}

const attr = (id: string, attribute: string, creds?: Creds) => aws(['ec2', 'describe-instance-attribute', '--instance-id', id, '--attribute', attribute], creds);

/** The error code of a failed CLI call. */
async function code(args: string[], creds?: Creds): Promise<string> {
  const err = await awsFails(args, creds);
  return /\(([A-Za-z.]+)\)/.exec(err)?.[1] ?? err;
}

/** A DryRun of `args` (a call on instance `own`): DryRunOperation for it, NotFound for another's and for i-00000000. */
async function dryRunCases(build: (id: string) => string[], own: string) {
  assert.equal(await code([...build(own), '--dry-run']), 'DryRunOperation', `${build(own)[1]} DryRun on the caller's instance`);
  assert.equal(await code([...build(own), '--dry-run'], other), 'InvalidInstanceID.NotFound', `${build(own)[1]} DryRun on another account's instance`);
  assert.equal(await code([...build(NONE), '--dry-run']), 'InvalidInstanceID.NotFound', `${build(NONE)[1]} DryRun on i-00000000`);
}

async function waitConsole(id: string, re: RegExp, timeoutMs = 120_000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) { if (re.test(await consoleText(id))) return; await sleep(2000); }
  throw new Error(`${id}: console never matched ${re}`);
}

// boto3's resource API; the script gets the instance id and prints one JSON document.
async function boto3(script: string, instanceId: string, creds: Creds = adminCreds): Promise<any> {
  const prelude = `
import json, os, sys, boto3, botocore
ec2 = boto3.resource('ec2', endpoint_url=os.environ['EP'], region_name=os.environ['RG'],
  aws_access_key_id=os.environ['AK'], aws_secret_access_key=os.environ['SK'],
  config=botocore.config.Config(retries={'max_attempts': 1}))
instance = ec2.Instance(os.environ['IID']) if os.environ['IID'] else None
def error_of(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response['Error']['Code']
    return None
`;
  const { stdout } = await run('python3', ['-c', prelude + script], {
    env: { ...process.env, EP: endpoint, RG: region, AK: creds.accessKeyId, SK: creds.secretAccessKey, IID: instanceId },
  });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

test('instance attributes, protection, shutdown behaviour, monitoring and status with the AWS CLI', { skip, timeout: 1_200_000 }, async () => {
  // A: launched protected, shutdown behaviour stop (the default), detailed monitoring off.
  const out = await aws(['ec2', 'run-instances', '--image-id', imageId, '--instance-type', 't1.micro', '--count', '1', '--disable-api-termination']);
  const a: string = out.Instances[0].InstanceId;
  assert.equal(out.Instances[0].Monitoring.State, 'disabled');
  const [running] = await waitForState([a], ['running']);

  // ---- DescribeInstanceAttribute, every attribute the API has
  const img = (await aws(['ec2', 'describe-images', '--image-ids', imageId])).Images[0];
  const group = running.SecurityGroups![0];
  const expected: Record<string, (o: any) => void> = {
    instanceType: (o) => assert.deepEqual(o.InstanceType, { Value: 't1.micro' }),
    kernel: (o) => assert.deepEqual(o.KernelId, { Value: img.KernelId }),
    ramdisk: (o) => assert.deepEqual(o.RamdiskId, { Value: img.RamdiskId }),
    userData: (o) => assert.deepEqual(o.UserData, {}),
    disableApiTermination: (o) => assert.deepEqual(o.DisableApiTermination, { Value: true }),
    instanceInitiatedShutdownBehavior: (o) => assert.deepEqual(o.InstanceInitiatedShutdownBehavior, { Value: 'stop' }),
    rootDeviceName: (o) => assert.deepEqual(o.RootDeviceName, img.RootDeviceName ? { Value: img.RootDeviceName } : {}),
    blockDeviceMapping: (o) => assert.deepEqual(o.BlockDeviceMappings, []),
    productCodes: (o) => assert.deepEqual(o.ProductCodes, []),
    sourceDestCheck: (o) => assert.equal(o.SourceDestCheck, undefined, 'EC2-Classic: no sourceDestCheck'),
    groupSet: (o) => assert.deepEqual(o.Groups, [{ GroupId: group.GroupId, GroupName: group.GroupName }]),
    ebsOptimized: (o) => assert.deepEqual(o.EbsOptimized, { Value: false }),
    sriovNetSupport: (o) => assert.deepEqual(o.SriovNetSupport, {}),
    enaSupport: (o) => assert.deepEqual(o.EnaSupport, { Value: false }),
    enclaveOptions: (o) => assert.deepEqual(o.EnclaveOptions, { Enabled: false }),
    disableApiStop: (o) => assert.deepEqual(o.DisableApiStop, { Value: false }),
  };
  for (const [name, check] of Object.entries(expected)) {
    const o = await attr(a, name);
    assert.equal(o.InstanceId, a, name);
    check(o);
  }
  // An attribute AWS does not have: the model's enum answers, before any instance is looked up.
  const bogus = await awsFails(['ec2', 'describe-instance-attribute', '--instance-id', NONE, '--attribute', 'colour']);
  assert.match(bogus, /\(InvalidParameterValue\).*Value \(colour\) for parameter Attribute is invalid/);
  assert.equal(await code(['ec2', 'describe-instance-attribute', '--instance-id', 'i-nothex!', '--attribute', 'colour']), 'InvalidParameterValue');
  assert.equal(await code(['ec2', 'describe-instance-attribute', '--instance-id', 'i-nothex!', '--attribute', 'kernel']), 'InvalidInstanceID.Malformed');
  assert.equal(await code(['ec2', 'describe-instance-attribute', '--instance-id', a, '--attribute', 'kernel'], other), 'InvalidInstanceID.NotFound');
  await dryRunCases((id) => ['ec2', 'describe-instance-attribute', '--instance-id', id, '--attribute', 'instanceType'], a);

  // ---- ModifyInstanceAttribute on a running instance: type and user data need it stopped
  assert.match(await awsFails(['ec2', 'modify-instance-attribute', '--instance-id', a, '--instance-type', 'Value=m1.small']),
    new RegExp(`\\(IncorrectInstanceState\\).*The instance '${a}' is not in the 'stopped' state`));
  assert.equal(await code(['ec2', 'modify-instance-attribute', '--instance-id', a, '--user-data', jsonFile('ud0.json', { Value: 'x' })]), 'IncorrectInstanceState');
  assert.equal(await code(['ec2', 'modify-instance-attribute', '--instance-id', a, '--instance-type', 'Value=m1.small', '--dry-run']), 'IncorrectInstanceState',
    'DryRun answers as the real call would');
  // EC2-Classic: groups and the source/dest check are VPC-only.
  assert.match(await awsFails(['ec2', 'modify-instance-attribute', '--instance-id', a, '--groups', group.GroupId!]),
    /\(InvalidParameterCombination\).*You may only modify the groupSet attribute for VPC instances/);
  assert.equal(await code(['ec2', 'modify-instance-attribute', '--instance-id', a, '--no-source-dest-check']), 'InvalidParameterCombination');
  assert.equal(await code(['ec2', 'modify-instance-attribute', '--instance-id', a, '--attribute', 'productCodes', '--value', 'x']), 'InvalidParameterValue');
  assert.equal(await code(['ec2', 'modify-instance-attribute', '--instance-id', a,
    '--instance-initiated-shutdown-behavior', 'Value=hibernate']), 'InvalidParameterValue');
  assert.equal(await code(['ec2', 'modify-instance-attribute', '--instance-id', a, '--disable-api-termination', '--instance-type', 'Value=m1.small']),
    'InvalidParameterCombination', 'one attribute at a time');
  await dryRunCases((id) => ['ec2', 'modify-instance-attribute', '--instance-id', id, '--disable-api-termination'], a);

  // ---- termination protection (set by RunInstances): refused, also as a DryRun
  const refused = await awsFails(['ec2', 'terminate-instances', '--instance-ids', a]);
  assert.match(refused, new RegExp(`\\(OperationNotPermitted\\).*The instance '${a}' may not be terminated\\. Modify its 'disableApiTermination' instance attribute and try again\\.`));
  assert.equal(await code(['ec2', 'terminate-instances', '--instance-ids', a, '--dry-run']), 'OperationNotPermitted');
  assert.equal((await describe([a]))[0].State?.Name, 'running');

  // ---- GetPasswordData: a Linux guest has none
  const pw = await aws(['ec2', 'get-password-data', '--instance-id', a]);
  assert.equal(pw.InstanceId, a);
  assert.equal(pw.PasswordData, '');
  assert.ok(Math.abs(Date.parse(pw.Timestamp) - Date.now()) < 60_000, `timestamp ${pw.Timestamp}`);
  await dryRunCases((id) => ['ec2', 'get-password-data', '--instance-id', id], a);

  // ---- Monitor / Unmonitor: the state shows in DescribeInstances and its monitoring-state filter
  const mon = await aws(['ec2', 'monitor-instances', '--instance-ids', a]);
  assert.deepEqual(mon.InstanceMonitorings, [{ InstanceId: a, Monitoring: { State: 'pending' } }]);
  assert.equal((await describe([a]))[0].Monitoring?.State, 'enabled');
  const byFilter = async (state: string) => (await aws(['ec2', 'describe-instances', '--filters', `Name=monitoring-state,Values=${state}`]))
    .Reservations.flatMap((r: any) => r.Instances.map((i: any) => i.InstanceId));
  assert.ok((await byFilter('enabled')).includes(a));
  assert.ok(!(await byFilter('disabled')).includes(a));
  await dryRunCases((id) => ['ec2', 'monitor-instances', '--instance-ids', id], a);
  const unmon = await aws(['ec2', 'unmonitor-instances', '--instance-ids', a]);
  assert.deepEqual(unmon.InstanceMonitorings, [{ InstanceId: a, Monitoring: { State: 'disabling' } }]);
  assert.equal((await describe([a]))[0].Monitoring?.State, 'disabled');
  assert.ok((await byFilter('disabled')).includes(a));
  await dryRunCases((id) => ['ec2', 'unmonitor-instances', '--instance-ids', id], a);
  assert.equal(await code(['ec2', 'monitor-instances', '--instance-ids', a], other), 'InvalidInstanceID.NotFound');

  // ---- DescribeInstanceStatus: running, no scheduled events
  const st = await aws(['ec2', 'describe-instance-status', '--include-all-instances', '--instance-ids', a]);
  assert.equal(st.InstanceStatuses.length, 1);
  const s0 = st.InstanceStatuses[0];
  assert.equal(s0.InstanceState.Name, 'running');
  assert.deepEqual(s0.Events, []);
  assert.equal(s0.InstanceStatus.Status, 'ok');
  assert.deepEqual(s0.SystemStatus.Details, [{ Name: 'reachability', Status: 'passed' }]);
  await dryRunCases((id) => ['ec2', 'describe-instance-status', '--instance-ids', id], a);

  // ---- credits: a named instance answers (standard for t1), none named: only `unlimited` ones
  const cs = await aws(['ec2', 'describe-instance-credit-specifications', '--instance-ids', a]);
  assert.deepEqual(cs.InstanceCreditSpecifications, [{ InstanceId: a, CpuCredits: 'standard' }]);
  const csAll = await aws(['ec2', 'describe-instance-credit-specifications']);
  assert.ok(!csAll.InstanceCreditSpecifications.some((c: any) => c.InstanceId === a));
  await dryRunCases((id) => ['ec2', 'describe-instance-credit-specifications', '--instance-ids', id], a);

  // ---- instance types, the details clients read
  const types = await aws(['ec2', 'describe-instance-types', '--instance-types', 't1.micro', 'm1.small']);
  const t = Object.fromEntries(types.InstanceTypes.map((x: any) => [x.InstanceType, x]));
  assert.equal(t['t1.micro'].VCpuInfo.DefaultVCpus, 1);
  assert.equal(t['t1.micro'].MemoryInfo.SizeInMiB, 128);
  assert.equal(t['t1.micro'].BurstablePerformanceSupported, true);
  assert.equal(t['m1.small'].BurstablePerformanceSupported, false);
  assert.equal(t['m1.small'].CurrentGeneration, false, 'm1 is a previous generation on AWS');
  assert.deepEqual(t['m1.small'].ProcessorInfo.SupportedArchitectures, ['x86_64']);
  assert.deepEqual(t['m1.small'].SupportedRootDeviceTypes, ['instance-store']);
  assert.equal(t['m1.small'].InstanceStorageInfo.TotalSizeInGB, 2);
  assert.equal(t['m1.small'].NetworkInfo.MaximumNetworkInterfaces, 1);
  const burstable = await aws(['ec2', 'describe-instance-types', '--filters', 'Name=burstable-performance-supported,Values=true']);
  assert.deepEqual(burstable.InstanceTypes.map((x: any) => x.InstanceType), ['t1.micro']);
  assert.equal(await code(['ec2', 'describe-instance-types', '--instance-types', 'z9.huge']), 'InvalidInstanceType');

  // ---- stopped: type and user data change; the next start boots with them
  await aws(['ec2', 'stop-instances', '--instance-ids', a]);
  await waitForState([a], ['stopped'], 120_000);
  assert.deepEqual((await aws(['ec2', 'describe-instance-status', '--instance-ids', a])).InstanceStatuses, [], 'only running ones by default');
  const stopped = (await aws(['ec2', 'describe-instance-status', '--instance-ids', a, '--include-all-instances'])).InstanceStatuses[0];
  assert.equal(stopped.InstanceState.Name, 'stopped');
  assert.equal(stopped.InstanceStatus.Status, 'not-applicable');

  assert.match(await awsFails(['ec2', 'modify-instance-attribute', '--instance-id', a, '--attribute', 'instanceType', '--value', 'z9.huge']),
    /\(InvalidInstanceAttributeValue\).*The instanceType 'z9\.huge' is invalid/);
  await dryRunCases((id) => ['ec2', 'modify-instance-attribute', '--instance-id', id, '--instance-type', 'Value=m1.small'], a);
  await aws(['ec2', 'modify-instance-attribute', '--instance-id', a, '--instance-type', 'Value=m1.small']);
  // (the guest stays up a few seconds after its boot, so `running` is seen before it powers off)
  const script = '#!/bin/sh\necho EUCA-ATTR-USERDATA-2\nsleep 8\npoweroff -f\n';
  await aws(['ec2', 'modify-instance-attribute', '--instance-id', a, '--user-data', jsonFile('ud.json', { Value: script })]);
  assert.deepEqual((await attr(a, 'instanceType')).InstanceType, { Value: 'm1.small' });
  assert.equal(Buffer.from((await attr(a, 'userData')).UserData.Value, 'base64').toString(), script);
  // kernel: set and reset (back to the image's own), only while stopped
  await aws(['ec2', 'modify-instance-attribute', '--instance-id', a, '--kernel', `Value=${img.KernelId}`]);
  assert.equal(await code(['ec2', 'modify-instance-attribute', '--instance-id', a, '--kernel', 'Value=eki-00000000']), 'InvalidAMIID.NotFound');
  await dryRunCases((id) => ['ec2', 'reset-instance-attribute', '--instance-id', id, '--attribute', 'kernel'], a);
  await aws(['ec2', 'reset-instance-attribute', '--instance-id', a, '--attribute', 'kernel']);
  assert.deepEqual((await attr(a, 'kernel')).KernelId, { Value: img.KernelId });
  assert.match(await awsFails(['ec2', 'reset-instance-attribute', '--instance-id', a, '--attribute', 'instanceType']), /\(InvalidParameterValue\)/);
  assert.equal(await code(['ec2', 'reset-instance-attribute', '--instance-id', NONE, '--attribute', 'userData']), 'InvalidParameterValue',
    'an attribute that cannot be reset is refused before the instance is looked up');
  assert.equal(await code(['ec2', 'reset-instance-attribute', '--instance-id', a, '--attribute', 'sourceDestCheck']), 'InvalidParameterCombination');

  // Start: the new type's capacity is held, the metadata service serves the new user data,
  // and the guest powers itself off: shutdown behaviour `stop`.
  await aws(['ec2', 'start-instances', '--instance-ids', a]);
  const [di] = await waitForState([a], ['running']);
  assert.equal(di.InstanceType, 'm1.small');
  const held = await query<{ vcpus: number; memory_mib: number }>('SELECT vcpus, memory_mib FROM node_allocations WHERE instance_id = ?', [a]);
  assert.deepEqual(held.map((h) => ({ ...h })), [{ vcpus: 1, memory_mib: 192 }], 'capacity of the new type (m1.small), not the old (t1.micro: 128 MiB)');
  await waitConsole(a, /EUCA-ATTR-USERDATA-2/);
  const [off] = await waitForState([a], ['stopped'], 120_000);
  assert.equal(off.StateReason?.Code, 'Client.InstanceInitiatedShutdown');
  let left = await leftovers([a]);
  assert.deepEqual({ capacity: left.capacity, qemu: left.qemu }, { capacity: [], qemu: [] }, 'a stopped instance holds no capacity and runs no QEMU');

  // Shutdown behaviour `terminate`: the guest's poweroff terminates it, protection or not (as on AWS).
  await aws(['ec2', 'modify-instance-attribute', '--instance-id', a, '--instance-initiated-shutdown-behavior', 'Value=terminate']);
  assert.deepEqual((await attr(a, 'instanceInitiatedShutdownBehavior')).InstanceInitiatedShutdownBehavior, { Value: 'terminate' });
  await aws(['ec2', 'start-instances', '--instance-ids', a]);
  const [gone] = await waitForState([a], ['terminated'], 300_000);
  assert.equal(gone.StateReason?.Code, 'Client.InstanceInitiatedShutdown');
  await sleep(1000);
  left = await leftovers([a]);
  assert.deepEqual(left, { ips: [], macs: [], capacity: [], qemu: [], dhcp: [], taps: [] }, 'nothing held after an instance-initiated terminate');
});

test("boto3's resource API: describe_attribute, modify_attribute, protection set at launch", { skip, timeout: 300_000 }, async () => {
  const made = await boto3(`
[i] = ec2.create_instances(ImageId=os.environ['IMG'], MinCount=1, MaxCount=1, InstanceType='t1.micro',
                           DisableApiTermination=True, InstanceInitiatedShutdownBehavior='terminate')
print(json.dumps({'id': i.id}))
`.replace("os.environ['IMG']", JSON.stringify(imageId)), '');
  const b: string = made.id;
  const r = await boto3(`
out = {}
out['type'] = instance.describe_attribute(Attribute='instanceType')['InstanceType']['Value']
out['protected'] = instance.describe_attribute(Attribute='disableApiTermination')['DisableApiTermination']['Value']
out['behaviour'] = instance.describe_attribute(Attribute='instanceInitiatedShutdownBehavior')['InstanceInitiatedShutdownBehavior']['Value']
out['resize_running'] = error_of(lambda: instance.modify_attribute(Attribute='instanceType', Value='m1.small'))
out['terminate'] = error_of(lambda: instance.terminate())
instance.modify_attribute(InstanceInitiatedShutdownBehavior={'Value': 'stop'})
out['behaviour2'] = instance.describe_attribute(Attribute='instanceInitiatedShutdownBehavior')['InstanceInitiatedShutdownBehavior']['Value']
out['dry'] = error_of(lambda: instance.modify_attribute(DisableApiTermination={'Value': True}, DryRun=True))
print(json.dumps(out))
`, b);
  assert.deepEqual(r, {
    type: 't1.micro', protected: true, behaviour: 'terminate', resize_running: 'IncorrectInstanceState',
    terminate: 'OperationNotPermitted', behaviour2: 'stop', dry: 'DryRunOperation',
  });
  const foreign = await boto3(`
print(json.dumps({'describe': error_of(lambda: instance.describe_attribute(Attribute='instanceType')),
                  'dry': error_of(lambda: instance.modify_attribute(DisableApiTermination={'Value': False}, DryRun=True))}))
`, b, other);
  assert.deepEqual(foreign, { describe: 'InvalidInstanceID.NotFound', dry: 'InvalidInstanceID.NotFound' });

  // The CLI lifts the protection; then TerminateInstances goes through.
  assert.equal(await code(['ec2', 'terminate-instances', '--instance-ids', b]), 'OperationNotPermitted');
  await aws(['ec2', 'modify-instance-attribute', '--instance-id', b, '--no-disable-api-termination']);
  const r2 = await boto3(`
print(json.dumps({'protected': instance.describe_attribute(Attribute='disableApiTermination')['DisableApiTermination']['Value']}))
`, b);
  assert.deepEqual(r2, { protected: false });
  const term = await aws(['ec2', 'terminate-instances', '--instance-ids', b]);
  assert.equal(term.TerminatingInstances[0].CurrentState.Name, 'shutting-down');
  await waitForState([b], ['terminated'], 120_000);
  // A terminated instance's attributes can no longer change.
  assert.equal(await code(['ec2', 'modify-instance-attribute', '--instance-id', b, '--disable-api-termination']), 'IncorrectInstanceState');
});
