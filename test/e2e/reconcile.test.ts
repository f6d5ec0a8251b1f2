// The CC keeps no state of its own: kill -9 its worker, wipe its namespace's
// networking (bridges, VXLAN, DHCP, metadata, NAT, rules), restart it, and
// the zone's data plane comes back from the database.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { aws, stackUp, imageId, waitForState, closeDb, sleep, run, prefix, pidOf, restartProcess, leftovers, allowPingFromOutside } from './helpers';

const skip = stackUp ? false : 'the test cloud is not up (run through npm test)';
after(closeDb);

const zone = process.env.EUCA_ZONE ?? 'test-1a';
const ccNs = `${prefix}-cc-${zone}`;
const pingOk = async (ip: string) => run('busybox', ['ping', '-c1', '-W1', ip]).then(() => true, () => false);

test('kill -9 the CC worker and wipe its networking: connectivity and the public address come back', { skip, timeout: 400_000 }, async (t) => {
  t.after(await allowPingFromOutside());
  const out = await aws(['ec2', 'run-instances', '--image-id', imageId, '--instance-type', 't1.micro', '--count', '1']);
  const id: string = out.Instances[0].InstanceId;
  const [inst] = await waitForState([id], ['running']);
  const pub = inst.PublicIpAddress;
  assert.ok(pub, 'a public address at launch');
  let ok = false;
  for (let i = 0; i < 30 && !ok; i++) { ok = await pingOk(pub!); if (!ok) await sleep(1000); }
  assert.ok(ok, `the host reaches ${pub} before the fault`);

  const pid = pidOf(`cc-${zone}`);
  process.kill(-pid!, 'SIGKILL');
  // Wipe: every process in the CC namespace (dnsmasq, metadata), every rule, every network device, every public address.
  const { stdout: pids } = await run('ip', ['netns', 'pids', ccNs]);
  for (const p of pids.split('\n').filter(Boolean)) { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }
  await run('ip', ['netns', 'exec', ccNs, 'nft', 'flush', 'ruleset']);
  const { stdout: links } = await run('ip', ['-n', ccNs, '-o', 'link', 'show']);
  for (const dev of links.split('\n').map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1]).filter((d): d is string => !!d && /^v[bx]\d+$/.test(d))) {
    await run('ip', ['-n', ccNs, 'link', 'del', dev]).catch(() => undefined);
  }
  await run('ip', ['-n', ccNs, 'addr', 'del', `${pub}/32`, 'dev', 'pub0']).catch(() => undefined);
  assert.equal(await pingOk(pub!), false, 'the wipe broke it');

  const t0 = Date.now();
  restartProcess(`cc-${zone}`, ['workers/cc.ts', '--zone', zone]);
  let back = false;
  while (!back && Date.now() - t0 < 60_000) { back = await pingOk(pub!); if (!back) await sleep(250); }
  const ms = Date.now() - t0;
  console.log(`public address answering again ${ms} ms after the CC worker was restarted`);
  assert.ok(back, 'the public address answers again');
  assert.ok(ms < 10_000 + 5_000, `back within 10 s of the worker being up (${ms} ms including ~3-5 s of process start)`);

  await aws(['ec2', 'terminate-instances', '--instance-ids', id]);
  await waitForState([id], ['terminated'], 120_000);
  assert.deepEqual(await leftovers([id]), { ips: [], macs: [], capacity: [], qemu: [], dhcp: [], taps: [] });
});
