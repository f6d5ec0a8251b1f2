// The instance lifecycle end to end, through real clients against the test
// cloud: real QEMU guests on two NCs, DHCP from the CC, Temporal workflows.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  RunInstancesCommand, StopInstancesCommand, StartInstancesCommand, RebootInstancesCommand, TerminateInstancesCommand,
  DescribeInstanceStatusCommand, GetConsoleOutputCommand,
} from '@aws-sdk/client-ec2';
import { ec2, aws, stackUp, imageId, waitForState, describe, consoleText, leftovers, query, closeDb, sleep } from './helpers';

const skip = stackUp ? false : 'the test cloud is not up (run through npm test)';
after(closeDb);

test('two instances run on the two NCs, stop/start/reboot/terminate, nothing left', { skip, timeout: 600_000 }, async () => {
  const client = ec2();
  const run = await client.send(new RunInstancesCommand({
    ImageId: imageId, InstanceType: 'm1.small', MinCount: 2, MaxCount: 2,
    TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'suite', Value: 'lifecycle' }] }],
  }));
  const ids = run.Instances!.map((i) => i.InstanceId!);
  assert.equal(ids.length, 2);
  assert.ok(run.Instances!.every((i) => i.State?.Name === 'pending'), 'RunInstances answers while pending');

  const running = await waitForState(ids, ['running']);
  const nodes = await query<{ node: string }>('SELECT node FROM instances WHERE id IN (?) ORDER BY node', [ids]);
  assert.deepEqual(nodes.map((n) => n.node), ['nc1', 'nc2'], 'one instance on each NC');
  for (const i of running) {
    assert.match(i.PrivateIpAddress ?? '', /^10\.144\.\d+\.\d+$/);
    assert.equal(i.Tags?.find((t) => t.Key === 'suite')?.Value, 'lifecycle');
    const text = await consoleText(i.InstanceId!);
    assert.match(text, new RegExp(`EUCA-BOOT-OK ip=${i.PrivateIpAddress!.replace(/\./g, '\\.')}`), 'the guest got its address by DHCP');
  }
  // The SDK's view of the console is base64, as on AWS.
  const co = await client.send(new GetConsoleOutputCommand({ InstanceId: ids[0] }));
  assert.match(Buffer.from(co.Output ?? '', 'base64').toString(), /EUCA-BOOT-OK/);

  const status = await client.send(new DescribeInstanceStatusCommand({ InstanceIds: ids }));
  assert.equal(status.InstanceStatuses?.length, 2);
  assert.equal(status.InstanceStatuses?.[0].InstanceState?.Name, 'running');

  // Stop: capacity goes back, the address stays.
  const stop = await client.send(new StopInstancesCommand({ InstanceIds: [ids[0]] }));
  assert.equal(stop.StoppingInstances?.[0].PreviousState?.Name, 'running');
  assert.equal(stop.StoppingInstances?.[0].CurrentState?.Name, 'stopping');
  await waitForState([ids[0]], ['stopped'], 60_000);
  assert.equal((await query('SELECT * FROM node_allocations WHERE instance_id = ?', [ids[0]])).length, 0);
  assert.equal((await query('SELECT * FROM private_ips WHERE instance_id = ?', [ids[0]])).length, 1);
  assert.equal((await leftovers([ids[0]])).qemu.length, 0, 'no QEMU for a stopped instance');

  // Start: back to running with the same address.
  const start = await client.send(new StartInstancesCommand({ InstanceIds: [ids[0]] }));
  assert.equal(start.StartingInstances?.[0].PreviousState?.Name, 'stopped');
  const [restarted] = await waitForState([ids[0]], ['running']);
  assert.equal(restarted.PrivateIpAddress, running.find((i) => i.InstanceId === ids[0])!.PrivateIpAddress);

  // Reboot: the guest boots again (a second boot marker), state stays running.
  const before = (await consoleText(ids[1])).split('EUCA-BOOT-OK').length - 1;
  await client.send(new RebootInstancesCommand({ InstanceIds: [ids[1]] }));
  let after = before;
  for (let i = 0; i < 60 && after <= before; i++) { await sleep(1000); after = (await consoleText(ids[1])).split('EUCA-BOOT-OK').length - 1; }
  assert.ok(after > before, `reboot produced a new boot marker (${before} -> ${after})`);
  assert.equal((await describe([ids[1]]))[0].State?.Name, 'running');

  const term = await client.send(new TerminateInstancesCommand({ InstanceIds: ids }));
  assert.ok(term.TerminatingInstances?.every((t) => t.CurrentState?.Name === 'shutting-down'));
  await waitForState(ids, ['terminated'], 120_000);
  const left = await leftovers(ids);
  assert.deepEqual(left, { ips: [], macs: [], capacity: [], qemu: [], dhcp: [], taps: [] }, 'nothing held after terminate');
});

test('the AWS CLI drives a launch, filters and the console', { skip, timeout: 400_000 }, async () => {
  const out = await aws(['ec2', 'run-instances', '--image-id', imageId, '--instance-type', 't1.micro', '--count', '1',
    '--tag-specifications', 'ResourceType=instance,Tags=[{Key=Name,Value=cli-test}]']);
  const id: string = out.Instances[0].InstanceId;
  await waitForState([id], ['running']);
  const byTag = await aws(['ec2', 'describe-instances', '--filters', 'Name=tag:Name,Values=cli-test', 'Name=instance-state-name,Values=running']);
  assert.deepEqual(byTag.Reservations.flatMap((r: any) => r.Instances.map((i: any) => i.InstanceId)), [id]);
  const byType = await aws(['ec2', 'describe-instances', '--filters', 'Name=instance-type,Values=t1.*', 'Name=instance-state-name,Values=running']);
  assert.ok(byType.Reservations.some((r: any) => r.Instances.some((i: any) => i.InstanceId === id)));
  const none = await aws(['ec2', 'describe-instances', '--filters', 'Name=image-id,Values=emi-00000000']);
  assert.equal(none.Reservations.length, 0);
  assert.match(await consoleText(id), /EUCA-BOOT-OK ip=10\.144\.\d+\.\d+/);
  const term = await aws(['ec2', 'terminate-instances', '--instance-ids', id]);
  assert.equal(term.TerminatingInstances[0].CurrentState.Name, 'shutting-down');
  await waitForState([id], ['terminated'], 120_000);
  assert.deepEqual(await leftovers([id]), { ips: [], macs: [], capacity: [], qemu: [], dhcp: [], taps: [] });
});

test('terminating a pending instance cancels its launch and frees everything', { skip, timeout: 300_000 }, async () => {
  const client = ec2();
  const run = await client.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: 'm1.small', MinCount: 1, MaxCount: 1 }));
  const id = run.Instances![0].InstanceId!;
  const term = await client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  assert.equal(term.TerminatingInstances?.[0].PreviousState?.Name, 'pending');
  const [i] = await waitForState([id], ['terminated'], 120_000);
  assert.equal(i.StateReason?.Code, 'Client.UserInitiatedShutdown');
  await sleep(1000);
  assert.deepEqual(await leftovers([id]), { ips: [], macs: [], capacity: [], qemu: [], dhcp: [], taps: [] });
});
