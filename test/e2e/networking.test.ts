// Security groups as networks, enforced in the data plane, with real guests:
// a probe guest pings other guests every second (its user-data) and prints
// what it saw on its console; rules change while it watches.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { aws, stackUp, imageId, waitForState, consoleText, leftovers, query, closeDb, sleep, run, prefix, type Creds } from './helpers';

const skip = stackUp ? false : 'the test cloud is not up (run through npm test)';
after(closeDb);

let other: Creds;
before(async () => {
  if (skip) return;
  const acct = String(200000000000 + crypto.randomInt(1e9));
  await query('INSERT INTO accounts (id, name) VALUES (?, ?)', [acct, `net-tenant-${acct}`]);
  other = { accessKeyId: 'AKIN' + crypto.randomBytes(8).toString('hex').toUpperCase(), secretAccessKey: crypto.randomBytes(20).toString('hex') };
  await query('INSERT INTO access_keys (access_key_id, secret_key, account_id) VALUES (?, ?, ?)', [other.accessKeyId, other.secretAccessKey, acct]);
});

async function launch(args: string[], creds?: Creds): Promise<string> {
  const out = await aws(['ec2', 'run-instances', '--image-id', imageId, '--instance-type', 't1.micro', '--count', '1', ...args], creds);
  return out.Instances[0].InstanceId;
}

/** The probe's latest verdict per target, from its console. */
async function probeView(id: string): Promise<Record<string, string>> {
  const seen: Record<string, string> = {};
  for (const m of (await consoleText(id)).matchAll(/PROBE (\S+) (up|down)/g)) seen[m[1]] = m[2];
  return seen;
}
async function waitProbe(id: string, target: string, want: 'up' | 'down', timeoutMs = 60_000): Promise<number> {
  const t0 = Date.now();
  // A verdict counts once it holds on two consecutive reads (the probe loops every second).
  let streak = 0;
  while (Date.now() - t0 < timeoutMs) {
    const v = (await probeView(id))[target];
    streak = v === want ? streak + 1 : 0;
    if (streak >= 2) return Date.now() - t0;
    await sleep(1000);
  }
  throw new Error(`probe ${id}: ${target} never ${want}; saw ${JSON.stringify(await probeView(id))}`);
}

test('groups are networks; rules are enforced, follow authorize and revoke; tenants and the control plane stay apart', { skip, timeout: 900_000 }, async () => {
  const web = `web-${crypto.randomBytes(3).toString('hex')}`;
  await aws(['ec2', 'create-security-group', '--group-name', web, '--description', 'web servers']);
  const s1 = await launch([]);                                   // default group
  const s2 = await launch(['--security-groups', web]);           // a group with no ingress yet
  const x = await launch([], other);                              // another tenant's default group
  const [i1, i2] = await waitForState([s1, s2], ['running']);
  const [ix] = await waitForState([x], ['running'], 240_000, other);
  const hostUnderlay = process.env.EUCA_UNDERLAY_CIDR?.replace(/\.0\/\d+$/, '.1') ?? '10.196.0.1';
  const targets = [i1.PrivateIpAddress!, i2.PrivateIpAddress!, ix.PrivateIpAddress!, hostUnderlay];
  const script = `#!/bin/sh\n( while :; do for t in ${targets.join(' ')}; do if ping -c1 -W1 $t >/dev/null 2>&1; then echo "PROBE $t up"; else echo "PROBE $t down"; fi; done; sleep 1; done ) &\n`;
  const probe = await launch(['--user-data', script]);
  await waitForState([probe], ['running']);

  // Each (account, group) is its own network.
  const nets = await query<{ id: string; network_id: string; subnet: string; vni: number }>(
    'SELECT i.id, i.network_id, n.subnet, n.vni FROM instances i JOIN networks n ON n.id = i.network_id WHERE i.id IN (?)', [[s1, s2, x, probe]]);
  const netOf = Object.fromEntries(nets.map((n) => [n.id, n]));
  assert.equal(netOf[probe].network_id, netOf[s1].network_id, 'same group, same network');
  assert.notEqual(netOf[s2].network_id, netOf[s1].network_id, 'another group, another network');
  assert.notEqual(netOf[x].network_id, netOf[s1].network_id, 'another account, another network');
  assert.equal(new Set(nets.map((n) => n.subnet)).size, 3);

  await waitProbe(probe, i1.PrivateIpAddress!, 'up');            // the default group admits its members
  await waitProbe(probe, i2.PrivateIpAddress!, 'down');          // web admits nothing yet
  await waitProbe(probe, ix.PrivateIpAddress!, 'down');          // another tenant
  await waitProbe(probe, hostUnderlay, 'down');                  // the control plane

  // Authorize icmp from members of default into web: the probe gets through.
  const t0 = Date.now();
  await aws(['ec2', 'authorize-security-group-ingress', '--group-name', web, '--ip-permissions',
    'IpProtocol=icmp,FromPort=-1,ToPort=-1,UserIdGroupPairs=[{GroupName=default}]']);
  const callMs = Date.now() - t0;
  const upMs = await waitProbe(probe, i2.PrivateIpAddress!, 'up', 30_000);
  console.log(`authorize answered in ${callMs} ms; the probe saw it ${upMs} ms later (probe period 1 s)`);
  await aws(['ec2', 'revoke-security-group-ingress', '--group-name', web, '--ip-permissions',
    'IpProtocol=icmp,FromPort=-1,ToPort=-1,UserIdGroupPairs=[{GroupName=default}]']);
  await waitProbe(probe, i2.PrivateIpAddress!, 'down', 30_000);

  await aws(['ec2', 'terminate-instances', '--instance-ids', s1, s2, probe]);
  await aws(['ec2', 'terminate-instances', '--instance-ids', x], other);
  await waitForState([s1, s2, probe], ['terminated'], 180_000);
  await waitForState([x], ['terminated'], 180_000, other);
  assert.deepEqual(await leftovers([s1, s2, x, probe]), { ips: [], macs: [], capacity: [], qemu: [], dhcp: [], taps: [] });
  // The networks go with their last instances, in the database and on the CC (the terminate
  // workflow retires a network right after the instance shows terminated: poll a little).
  let left: unknown[] = [];
  for (let i = 0; i < 60; i++) {
    left = await query('SELECT * FROM networks WHERE id IN (?)', [nets.map((n) => n.network_id)]);
    if (!left.length) break;
    await sleep(500);
  }
  assert.deepEqual(left, [], 'no network rows left 30 s after the last instance terminated');
  const { stdout } = await run('ip', ['-n', `${prefix}-cc-${process.env.EUCA_ZONE ?? 'test-1a'}`, '-o', 'link', 'show']);
  for (const n of nets) assert.ok(!stdout.includes(`vb${n.vni}:`), `bridge vb${n.vni} removed from the CC`);
  await aws(['ec2', 'delete-security-group', '--group-name', web]);
});
