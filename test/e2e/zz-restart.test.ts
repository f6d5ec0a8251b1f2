// `npm run down` then `npm run up` brings the same cloud back: instance rows
// kept, and the VMs the database says are running are running again.
// (Named zz- so it runs last: it restarts the whole test cloud.)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { ec2, stackUp, imageId, waitForState, leftovers, closeDb, run, repo, consoleText, sleep, prefix } from './helpers';

const skip = stackUp ? false : 'the test cloud is not up (run through npm test)';
after(closeDb);

test('down and up again: same instances, running VMs back', { skip, timeout: 600_000 }, async () => {
  const r = await ec2().send(new RunInstancesCommand({ ImageId: imageId, InstanceType: 't1.micro', MinCount: 1, MaxCount: 1 }));
  const id = r.Instances![0].InstanceId!;
  const [before] = await waitForState([id], ['running']);

  await run('bash', ['scripts/down.sh'], { cwd: repo, env: process.env, maxBuffer: 16 << 20 });
  await closeDb();
  const { stdout: ns } = await run('ip', ['netns', 'list']);
  assert.ok(!ns.split('\n').some((l) => l.startsWith(`${prefix}-`)), 'down removed the host namespaces');
  assert.equal((await leftovers([id]).catch(() => ({ qemu: [] }))).qemu.length, 0, 'down stopped the VM');

  await run('bash', ['scripts/up.sh'], { cwd: repo, env: process.env, maxBuffer: 16 << 20, timeout: 300_000 });
  const [again] = await waitForState([id], ['running'], 60_000);
  assert.equal(again.PrivateIpAddress, before.PrivateIpAddress, 'same address');
  // The node agent reconciles on start: the VM comes back (a fresh console, then a fresh boot marker).
  for (let i = 0; i < 90 && (await leftovers([id])).qemu.length === 0; i++) await sleep(1000);
  assert.equal((await leftovers([id])).qemu.length, 1, 'exactly one QEMU for it');
  let text = '';
  for (let i = 0; i < 90 && !/EUCA-BOOT-OK/.test(text); i++) { await sleep(1000); text = await consoleText(id); }
  assert.match(text, /EUCA-BOOT-OK/, 'the VM booted again after up');

  await ec2().send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  await waitForState([id], ['terminated'], 120_000);
  assert.deepEqual(await leftovers([id]), { ips: [], macs: [], capacity: [], qemu: [], dhcp: [], taps: [] });
});
