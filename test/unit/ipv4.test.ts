import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, gatewayOf, instanceAddresses, inCidr, ipToInt, intToIp } from '../../lib/ipv4';
import { idFromUuid, instanceIdPattern } from '../../lib/ids';

test('CIDR arithmetic', () => {
  assert.deepEqual(parseCidr('10.200.0.77/24'), { network: ipToInt('10.200.0.0'), prefix: 24, size: 256 });
  assert.equal(gatewayOf('10.200.0.0/24'), '10.200.0.1');
  assert.equal(intToIp(ipToInt('255.1.2.3')), '255.1.2.3');
  assert.ok(inCidr('10.200.0.255', '10.200.0.0/24'));
  assert.ok(!inCidr('10.200.1.0', '10.200.0.0/24'));
  assert.throws(() => parseCidr('10.0.0.0'), /bad CIDR/);
  assert.throws(() => ipToInt('10.0.0.256'), /bad IPv4/);
});

test('instance address pool: .10 up to the last before broadcast, sizes are configuration', () => {
  const a = [...instanceAddresses('10.200.0.0/24')];
  assert.equal(a[0], '10.200.0.10'); assert.equal(a.at(-1), '10.200.0.254'); assert.equal(a.length, 245);
  assert.equal([...instanceAddresses('10.0.0.0/16')].length, 65536 - 11);
  assert.equal([...instanceAddresses('10.9.9.0/28')].length, 5);
});

test('ids', () => {
  const id = idFromUuid('i', '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0');
  assert.equal(id, 'i-0f1e2d3c');
  assert.match(id, instanceIdPattern);
});

test('4,000 networks fit the default range; allocation is lowest-free', async () => {
  const { lowestFree, subnetAt, subnetCount, subnetIndex } = await import('../../lib/networkPool');
  assert.ok(subnetCount('10.128.0.0/12', 24) >= 4000);
  const used: number[] = [];
  for (let i = 0; i < 4000; i++) { const x = lowestFree(used, 0, subnetCount('10.128.0.0/12', 24) - 1)!; used.push(x); }
  assert.equal(new Set(used).size, 4000);
  assert.equal(subnetAt('10.128.0.0/12', 24, used.at(-1)!), '10.143.159.0/24');
  assert.equal(subnetIndex('10.128.0.0/12', 24, '10.143.159.0/24'), 3999);
  assert.equal(lowestFree([0, 1, 3], 0, 10), 2, 'a freed network is reused first');
  assert.equal(subnetAt('10.128.0.0/12', 24, 4096), undefined, 'the range ends');
});
