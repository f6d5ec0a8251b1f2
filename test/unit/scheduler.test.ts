import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pickNode, take, fits, type NodeCapacity } from '../../lib/scheduler';

const need = { vcpus: 1, memoryMiB: 256, diskGiB: 5 };
function nodes(): NodeCapacity[] {
  return [
    { name: 'nc1', freeVcpus: 4, freeMemoryMiB: 1024, freeDiskGiB: 40, instances: 0 },
    { name: 'nc2', freeVcpus: 4, freeMemoryMiB: 1024, freeDiskGiB: 40, instances: 0 },
    { name: 'nc3', freeVcpus: 1, freeMemoryMiB: 128, freeDiskGiB: 40, instances: 3 },
  ];
}
function place(policy: 'GREEDY' | 'ROUNDROBIN' | 'POWERSAVE', n: number, caps = nodes()) {
  const out: string[] = []; let cursor: string | null = null;
  for (let i = 0; i < n; i++) {
    const node = pickNode(caps, need, policy, cursor);
    if (!node) break;
    take(node, need); out.push(node.name); cursor = node.name;
  }
  return out;
}

test('fits checks every dimension', () => {
  assert.equal(fits(nodes()[2], need), false, 'nc3 lacks memory');
  assert.equal(fits(nodes()[0], need), true);
});

test('GREEDY fills the first node before the next', () => {
  assert.deepEqual(place('GREEDY', 6), ['nc1', 'nc1', 'nc1', 'nc1', 'nc2', 'nc2']);
});

test('ROUNDROBIN alternates over nodes that fit, skipping full ones', () => {
  assert.deepEqual(place('ROUNDROBIN', 5), ['nc1', 'nc2', 'nc1', 'nc2', 'nc1']);
  assert.equal(pickNode(nodes(), need, 'ROUNDROBIN', 'nc2')!.name, 'nc1', 'wraps around after the last');
});

test('POWERSAVE packs onto busy nodes and leaves idle ones idle', () => {
  const caps = nodes();
  caps[1].instances = 2;                       // nc2 already busy
  assert.deepEqual(place('POWERSAVE', 5, caps), ['nc2', 'nc2', 'nc2', 'nc2', 'nc1']);
});

test('no node fits: undefined, for every policy', () => {
  for (const p of ['GREEDY', 'ROUNDROBIN', 'POWERSAVE'] as const) {
    assert.equal(pickNode(nodes(), { vcpus: 8, memoryMiB: 1, diskGiB: 1 }, p), undefined);
  }
  assert.equal(place('ROUNDROBIN', 100).length, 8, 'capacity bounds the count');
});
