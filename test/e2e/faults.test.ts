// Faults: a node agent killed mid-launch, the API restarted. Nothing is lost,
// nothing leaks, every request ends in a clear state.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { RunInstancesCommand, TerminateInstancesCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { ec2, stackUp, imageId, waitForState, leftovers, query, closeDb, sleep, pidOf, restartProcess, endpoint, run, prefix } from './helpers';

const skip = stackUp ? false : 'the test cloud is not up (run through npm test)';
after(closeDb);

function alive(pid: number | undefined) { try { return !!pid && (process.kill(pid, 0), true); } catch { return false; } }

test('kill -9 an NC worker during a launch: the launch still ends, nothing leaks', { skip, timeout: 400_000 }, async () => {
  const client = ec2();
  const launched = await client.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: 'm1.small', MinCount: 1, MaxCount: 1 }));
  const id = launched.Instances![0].InstanceId!;
  const [{ node }] = await query<{ node: string }>('SELECT node FROM instances WHERE id = ?', [id]);
  const pid = pidOf(`nc-${node}`);
  assert.ok(alive(pid), `the worker of ${node} runs`);
  // Let the node start working on it, then kill its agent without warning.
  for (let i = 0; i < 40; i++) {
    const ops = await query('SELECT 1 FROM instances WHERE id = ? AND state = ?', [id, 'pending']);
    if (!ops.length) break;
    await sleep(250);
    if (i === 4) break;
  }
  process.kill(-pid!, 'SIGKILL');
  const [final] = await waitForState([id], ['running', 'terminated'], 240_000);
  const [{ node: finalNode }] = await query<{ node: string }>('SELECT node FROM instances WHERE id = ?', [id]);
  if (final.State?.Name === 'running') assert.notEqual(finalNode, node, 'the launch moved to the other node');

  // The node comes back (as a supervisor would restart it) and destroys the stray VM it had started.
  restartProcess(`nc-${node}`, ['workers/nc.ts', '--node', node, '--zone', process.env.EUCA_ZONE ?? 'test-1a']);
  const onDeadNode = async () => {
    const l = await leftovers([id]);
    const { stdout } = await run('ip', ['-n', `${prefix}-${node}`, '-o', 'link', 'show']);
    const taps = finalNode === node ? [] : stdout.split('\n').filter((t) => t.includes(`tap${id.slice(2)}`));
    return [...l.qemu.filter((q) => q.includes(`/hosts/${node}/`)), ...taps];
  };
  for (let i = 0; i < 60 && (await onDeadNode()).length; i++) await sleep(1000);
  assert.deepEqual(await onDeadNode(), [], 'no QEMU or tap left on the node that died');

  await client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  await waitForState([id], ['terminated'], 120_000);
  assert.deepEqual(await leftovers([id]), { ips: [], macs: [], capacity: [], qemu: [], dhcp: [], taps: [] });
  // The restarted node is back in service.
  for (let i = 0; i < 20; i++) {
    const up = await query('SELECT 1 FROM nodes WHERE name = ? AND last_heartbeat > UTC_TIMESTAMP(3) - INTERVAL 5 SECOND', [node]);
    if (up.length) return;
    await sleep(500);
  }
  assert.fail(`${node} did not come back`);
});

test('restarting the API loses nothing', { skip, timeout: 120_000 }, async () => {
  const client = ec2();
  const before = await client.send(new DescribeInstancesCommand({}));
  const pid = pidOf('api');
  assert.ok(alive(pid));
  process.kill(-pid!, 'SIGKILL');
  await sleep(300);
  restartProcess('api', ['api/main.ts']);
  for (let i = 0; i < 60; i++) {
    try { const r = await fetch(new URL('/healthz', endpoint)); if (r.ok) break; } catch { /* not yet */ }
    await sleep(500);
  }
  const afterRestart = await client.send(new DescribeInstancesCommand({}));
  const ids = (r: typeof before) => (r.Reservations ?? []).flatMap((x) => x.Instances ?? []).map((i) => `${i.InstanceId}:${i.State?.Name}`).sort();
  assert.deepEqual(ids(afterRestart), ids(before));
});
