// Elastic IPs with the AWS CLI against the test cloud.
// Part 1 (whenever the test cloud is up): AllocateAddress, DescribeAddresses,
// ReleaseAddress, the errors AWS gives, the per-account limit, other accounts.
// Part 2 (only with EUCA_EIP_E2E=1, set once instance networks reach the public segment
// through the CC: launch/terminate/reconcile wired to workflows/associateAddress.ts):
// associate to a running instance and reach it from the host, re-association moves
// the address, disassociation stops it, release of an associated address, terminate.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { aws, awsFails, run, stackUp, imageId, prefix, waitForState, query, closeDb, sleep, allowPingFromOutside, type Creds, newAccount } from './helpers';

const skip = stackUp ? false : 'the test cloud is not up (run through npm test)';
const netSkip = skip || (process.env.EUCA_EIP_E2E === '1' ? false
  : 'EUCA_EIP_E2E is not 1: instance networks do not reach the public segment yet (set once launch, terminate and reconcile call workflows/associateAddress.ts)');
after(closeDb);

let other: Creds;
let otherAccount: string;
const mine: string[] = []; // allocation ids to release at the end (admin)
const theirs: string[] = [];
const launched: string[] = [];

before(async () => {
  if (skip) return;
  ({ accountId: otherAccount, creds: other } = await newAccount('tenant', 'AKIT'));
});

after(async () => {
  if (skip) return;
  for (const id of launched) await aws(['ec2', 'terminate-instances', '--instance-ids', id]).catch(() => undefined);
  for (const a of mine) await aws(['ec2', 'release-address', '--allocation-id', a]).catch(() => undefined);
  for (const a of theirs) await aws(['ec2', 'release-address', '--allocation-id', a], other).catch(() => undefined);
  for (const id of launched) await waitForState([id], ['terminated'], 120_000).catch(() => undefined);
});

const IP = /^\d+\.\d+\.\d+\.\d+$/;

test('allocate (standard and vpc), describe by ip, by allocation id, with filters; rows persist', { skip }, async () => {
  const a = await aws(['ec2', 'allocate-address']);
  assert.match(a.PublicIp, IP);
  assert.equal(a.Domain, 'standard');
  assert.match(a.AllocationId, /^eipalloc-[0-9a-f]{17}$/);
  mine.push(a.AllocationId);
  const v = await aws(['ec2', 'allocate-address', '--domain', 'vpc']);
  assert.equal(v.Domain, 'vpc');
  mine.push(v.AllocationId);
  assert.notEqual(a.PublicIp, v.PublicIp);

  const all = (await aws(['ec2', 'describe-addresses'])).Addresses;
  for (const x of [a, v]) assert.ok(all.some((y: any) => y.PublicIp === x.PublicIp && y.AllocationId === x.AllocationId && y.Domain === x.Domain), x.PublicIp);
  const byIp = (await aws(['ec2', 'describe-addresses', '--public-ips', a.PublicIp])).Addresses;
  assert.deepEqual(byIp.map((x: any) => x.AllocationId), [a.AllocationId]);
  assert.equal(byIp[0].InstanceId ?? '', '');
  const byAlloc = (await aws(['ec2', 'describe-addresses', '--allocation-ids', v.AllocationId])).Addresses;
  assert.deepEqual(byAlloc.map((x: any) => x.PublicIp), [v.PublicIp]);
  const vpcOnly = (await aws(['ec2', 'describe-addresses', '--filters', 'Name=domain,Values=vpc'])).Addresses;
  assert.ok(vpcOnly.every((x: any) => x.Domain === 'vpc') && vpcOnly.some((x: any) => x.PublicIp === v.PublicIp));
  // committed rows: a restart of the API, the CLC worker or the CC loses none
  const rows = await query('SELECT public_ip, allocation_id, domain FROM addresses WHERE allocation_id IN (?)', [[a.AllocationId, v.AllocationId]]);
  assert.equal(rows.length, 2);
});

test('bad input gets the errors AWS gives', { skip }, async () => {
  const [a] = (await aws(['ec2', 'describe-addresses', '--filters', 'Name=domain,Values=standard'])).Addresses;
  assert.match(await awsFails(['ec2', 'describe-addresses', '--public-ips', '999.1.1.1']), /InvalidParameterValue/);
  assert.match(await awsFails(['ec2', 'describe-addresses', '--allocation-ids', 'eipalloc-xyz']), /InvalidAllocationID\.Malformed/);
  assert.match(await awsFails(['ec2', 'describe-addresses', '--allocation-ids', 'eipalloc-0123456789abcdef0']), /InvalidAllocationID\.NotFound/);
  assert.match(await awsFails(['ec2', 'describe-addresses', '--public-ips', '192.0.2.77']), /InvalidAddress\.NotFound/);
  assert.match(await awsFails(['ec2', 'release-address', '--public-ip', '192.0.2.77']), /InvalidAddress\.NotFound/);
  assert.match(await awsFails(['ec2', 'release-address', '--public-ip', 'not-an-ip']), /InvalidParameterValue/);
  assert.match(await awsFails(['ec2', 'release-address', '--public-ip', a.PublicIp, '--allocation-id', a.AllocationId]), /InvalidParameterCombination/);
  assert.match(await awsFails(['ec2', 'associate-address', '--public-ip', a.PublicIp]), /MissingParameter/);
  assert.match(await awsFails(['ec2', 'associate-address', '--public-ip', a.PublicIp, '--instance-id', 'i-zz']), /InvalidInstanceID\.Malformed/);
  assert.match(await awsFails(['ec2', 'associate-address', '--public-ip', a.PublicIp, '--instance-id', 'i-00000000']), /InvalidInstanceID\.NotFound/);
  assert.match(await awsFails(['ec2', 'associate-address', '--public-ip', a.PublicIp, '--network-interface-id', 'eni-12345678']), /InvalidParameterCombination|MissingParameter/);
  assert.match(await awsFails(['ec2', 'disassociate-address', '--association-id', 'eipassoc-0123456789abcdef0']), /InvalidAssociationID\.NotFound/);
  assert.match(await awsFails(['ec2', 'disassociate-address', '--association-id', 'nope']), /InvalidAssociationID\.Malformed/);
  assert.match(await awsFails(['ec2', 'allocate-address', '--dry-run']), /DryRunOperation/);
  assert.match(await awsFails(['ec2', 'release-address', '--allocation-id', a.AllocationId, '--dry-run']), /DryRunOperation/);
  // an unassociated address: disassociate is no error (EC2 answers true)
  await aws(['ec2', 'disassociate-address', '--public-ip', a.PublicIp]);
});

test('other accounts: they never see our addresses; using them fails as on AWS', { skip }, async () => {
  const [a] = (await aws(['ec2', 'describe-addresses', '--filters', 'Name=domain,Values=standard'])).Addresses;
  const seen = (await aws(['ec2', 'describe-addresses'], other)).Addresses;
  assert.ok(!seen.some((x: any) => x.PublicIp === a.PublicIp));
  assert.match(await awsFails(['ec2', 'describe-addresses', '--public-ips', a.PublicIp], other), /InvalidAddress\.NotFound/);
  assert.match(await awsFails(['ec2', 'describe-addresses', '--allocation-ids', a.AllocationId], other), /InvalidAllocationID\.NotFound/);
  assert.match(await awsFails(['ec2', 'release-address', '--allocation-id', a.AllocationId], other), /InvalidAllocationID\.NotFound/);
  assert.match(await awsFails(['ec2', 'release-address', '--public-ip', a.PublicIp], other), /AuthFailure.*does not belong to you/s);
  assert.match(await awsFails(['ec2', 'disassociate-address', '--public-ip', a.PublicIp], other), /AuthFailure/);
  assert.match(await awsFails(['ec2', 'associate-address', '--allocation-id', a.AllocationId, '--instance-id', 'i-00000000'], other), /InvalidAllocationID\.NotFound/);
  // still ours, untouched
  assert.equal((await aws(['ec2', 'describe-addresses', '--public-ips', a.PublicIp])).Addresses.length, 1);
});

test('per-account limit (AddressLimitExceeded); release returns the address to the pool', { skip }, async () => {
  const limit = Number(process.env.EUCA_ADDRESS_LIMIT ?? 5);
  const got: any[] = [];
  for (let i = 0; i < limit; i++) { const x = await aws(['ec2', 'allocate-address'], other); theirs.push(x.AllocationId); got.push(x); }
  assert.match(await awsFails(['ec2', 'allocate-address'], other), /AddressLimitExceeded/);
  for (const x of got) await aws(['ec2', 'release-address', '--public-ip', x.PublicIp], other);
  theirs.length = 0;
  assert.deepEqual((await aws(['ec2', 'describe-addresses'], other)).Addresses, []);
  assert.match(await awsFails(['ec2', 'release-address', '--public-ip', got[0].PublicIp], other), /InvalidAddress\.NotFound/);
  const rows = await query('SELECT * FROM addresses WHERE account_id = ?', [otherAccount]);
  assert.equal(rows.length, 0);
});

// ---------------------------------------------------------------- part 2: the data plane

/** Does `ip` answer ping from the host (the root namespace stands for the internet)? */
async function answers(ip: string, withinMs: number): Promise<boolean> {
  const end = Date.now() + withinMs;
  do {
    try { await run('/usr/bin/busybox', ['ping', '-c', '1', '-W', '1', ip]); return true; } catch { await sleep(200); }
  } while (Date.now() < end);
  return false;
}
async function launch(): Promise<string> {
  const out = await aws(['ec2', 'run-instances', '--image-id', imageId, '--instance-type', 't1.micro', '--count', '1']);
  const id = out.Instances[0].InstanceId as string;
  launched.push(id);
  return id;
}
const natMap = async () => {
  const { stdout } = await run('ip', ['netns', 'exec', `${prefix}-cc-${process.env.EUCA_ZONE ?? 'test-1a'}`, 'nft', '-j', 'list', 'map', 'ip', 'euca_nat', 'pub2priv']);
  const m = new Map<string, string>();
  for (const o of JSON.parse(stdout).nftables) for (const e of o.map?.elem ?? []) m.set(String(e[0]), String(e[1]));
  return m;
};

test('associate to a running instance: reachable from the host; moves; disassociates; releases', { skip: netSkip, timeout: 600_000 }, async (t) => {
  // The default group admits only its own members: open ICMP from the outside, as a user would.
  const undo = await allowPingFromOutside();
  t.after(undo);
  const [i1, i2] = [await launch(), await launch()];
  const [r1, r2] = await waitForState([i1, i2], ['running']);
  const priv1 = r1!.PrivateIpAddress!; const priv2 = r2!.PrivateIpAddress!;
  // a launch address, if the cloud gives them (EUCA_LAUNCH_PUBLIC_IP, default on)
  const launchIp = r1!.PublicIpAddress;
  if (launchIp) assert.ok(await answers(launchIp, 20_000), `launch address ${launchIp} answers`);

  const a = await aws(['ec2', 'allocate-address']);
  mine.push(a.AllocationId);
  const t0 = Date.now();
  const assoc = await aws(['ec2', 'associate-address', '--public-ip', a.PublicIp, '--instance-id', i1]);
  assert.match(assoc.AssociationId, /^eipassoc-/);
  assert.ok(await answers(a.PublicIp, 10_000), 'the elastic IP answers');
  console.log(`# associate -> answering: ${Date.now() - t0} ms`);
  let d = (await aws(['ec2', 'describe-addresses', '--public-ips', a.PublicIp])).Addresses[0];
  assert.equal(d.InstanceId, i1);
  assert.equal(d.PrivateIpAddress, priv1);
  assert.equal((await natMap()).get(a.PublicIp), priv1);
  if (launchIp) {
    assert.equal((await natMap()).has(launchIp), false, 'the launch address went back to the pool');
    assert.equal((await query('SELECT * FROM addresses WHERE public_ip = ?', [launchIp])).length, 0);
  }
  // re-association moves it (standard address: no flag needed)
  await aws(['ec2', 'associate-address', '--public-ip', a.PublicIp, '--instance-id', i2]);
  d = (await aws(['ec2', 'describe-addresses', '--public-ips', a.PublicIp])).Addresses[0];
  assert.equal(d.InstanceId, i2);
  assert.equal((await natMap()).get(a.PublicIp), priv2);
  assert.ok(await answers(a.PublicIp, 10_000));
  // a vpc address in use is not taken away without AllowReassociation
  const v = await aws(['ec2', 'allocate-address', '--domain', 'vpc']);
  mine.push(v.AllocationId);
  await aws(['ec2', 'associate-address', '--allocation-id', v.AllocationId, '--instance-id', i1]);
  assert.match(await awsFails(['ec2', 'associate-address', '--allocation-id', v.AllocationId, '--instance-id', i2, '--no-allow-reassociation']), /Resource\.AlreadyAssociated/);
  assert.match(await awsFails(['ec2', 'release-address', '--allocation-id', v.AllocationId]), /InvalidIPAddress\.InUse/);
  // disassociation stops it
  await aws(['ec2', 'disassociate-address', '--public-ip', a.PublicIp]);
  assert.equal((await natMap()).has(a.PublicIp), false);
  assert.equal(await answers(a.PublicIp, 2_000), false, 'no answer after disassociation');
  // releasing an associated standard address disassociates it
  await aws(['ec2', 'associate-address', '--public-ip', a.PublicIp, '--instance-id', i2]);
  await aws(['ec2', 'release-address', '--public-ip', a.PublicIp]);
  mine.splice(mine.indexOf(a.AllocationId), 1);
  assert.match(await awsFails(['ec2', 'describe-addresses', '--public-ips', a.PublicIp]), /InvalidAddress\.NotFound/);
  // back in the pool (i2, left without an address, may get it again as its launch address)
  const rows = await query('SELECT is_launch_address, instance_id FROM addresses WHERE public_ip = ?', [a.PublicIp]);
  assert.ok(rows.length === 0 || (rows[0].is_launch_address && rows[0].instance_id === i2));
  // terminate: the vpc address stays allocated, disassociated
  await aws(['ec2', 'terminate-instances', '--instance-ids', i1]);
  await waitForState([i1], ['terminated']);
  d = (await aws(['ec2', 'describe-addresses', '--allocation-ids', v.AllocationId])).Addresses[0];
  assert.equal(d.InstanceId ?? '', '');
  assert.equal((await natMap()).has(v.PublicIp), false);
  assert.equal((await query('SELECT * FROM addresses WHERE instance_id = ?', [i1])).length, 0);
});
