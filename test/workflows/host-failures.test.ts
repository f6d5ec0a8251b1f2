// Hosts that vanish during a launch, against a real Temporal dev server (so
// the real schedule-to-start and heartbeat timeouts fire), the real workflows
// and CLC activities on a real MariaDB, and fake CC/NC workers.
// These wait for the production timeouts (15 s schedule-to-start on host
// queues, 10 s heartbeat on boot, 10 s on clean-up queues), so the cases run
// concurrently, each in its own zone with its own nodes and task queues.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, FakeCloud, until } from './harness';

const h = new Harness();
let skip: string | undefined;
before(async () => { skip = await h.setup(); }, { timeout: 120_000 });
after(async () => { await h.teardown(); }, { timeout: 60_000 });

async function assertNothingHeld(cloud: FakeCloud, id: string) {
  assert.deepEqual(await h.held(id), { ips: [], macs: [], allocations: [], publicIps: [] }, `${id} still holds rows`);
  assert.equal(cloud.vmOf(id), undefined, `VM ${id} left on a node`);
}

/** The instance runs on `node`, holds capacity only there, and only that node has its VM. */
async function assertRunningOn(cloud: FakeCloud, id: string, node: string, vmsInZone = 1) {
  const row = await h.instance(id);
  assert.equal(row.state, 'running');
  assert.equal(row.node, node);
  assert.deepEqual((await h.held(id)).allocations, [node], 'capacity held on the new node only');
  assert.deepEqual(await h.zoneAllocations(cloud.zone), [{ instance_id: id, node }], 'nothing left held on the old node');
  assert.ok(cloud.vms.get(node)!.get(id), `VM runs on ${node}`);
  assert.equal(cloud.allVms().length, vmsInZone, 'VMs left in the zone');
  assert.equal(cloud.dhcp.get(row.mac)?.ip, row.private_ip);
  assert.equal(cloud.dhcp.size, 1, 'one DHCP entry in the zone: none left for an address or MAC given up in the move');
  const held = await h.held(id);
  assert.deepEqual([held.ips, held.macs], [[row.private_ip], [row.mac]], 'exactly one address and MAC held');
}

describe('hosts that vanish mid-launch (real timeouts)', { concurrency: true, timeout: 180_000 }, () => {
  it('a node that never picks up (no worker) -> the launch moves to another node and runs', async (t) => {
    if (skip) return t.skip(skip);
    const cloud = await h.cloud({ withoutWorkers: ['nc1'] });   // ROUNDROBIN from an empty cursor: nc1 first
    const [nc1, nc2] = cloud.nodes;
    const started = Date.now();
    const adm = await h.runInstances(h.runInput(cloud));
    const [id] = adm.instanceIds;
    assert.equal((await h.instance(id)).node, nc1, 'admission placed it on nc1');
    assert.deepEqual((await h.held(id)).allocations, [nc1]);
    assert.equal(await h.result(`launch-${id}`), 'running', (await h.instance(id)).state_reason_message ?? '');
    const took = Date.now() - started;
    assert.ok(took >= 15_000, `the move waited for the schedule-to-start timeout (${took} ms)`);
    await assertRunningOn(cloud, id, nc2);
    assert.equal(cloud.calls.filter((c) => c.host === nc1).length, 0, 'nc1 never ran anything');
    assert.equal(cloud.callsOf('startVm', nc2).length, 1);
    const [zone] = (await h.pool.query<any[]>('SELECT rr_cursor FROM zones WHERE name = ?', [cloud.zone]))[0];
    assert.equal(zone.rr_cursor, nc2);
    await h.result(adm.workflowId);
  });

  it('a node that dies mid-boot (stops heartbeating) -> heartbeat timeout -> moved, its VM destroyed', async (t) => {
    if (skip) return t.skip(skip);
    const cloud = await h.cloud();
    const [nc1, nc2] = cloud.nodes;
    cloud.fault(nc1, 'waitForBoot', 'hang');
    const started = Date.now();
    const adm = await h.runInstances(h.runInput(cloud));
    const [id] = adm.instanceIds;
    assert.equal(await h.result(`launch-${id}`), 'running', (await h.instance(id)).state_reason_message ?? '');
    const took = Date.now() - started;
    assert.ok(took >= 10_000, `the move waited for the heartbeat timeout (${took} ms)`);
    await assertRunningOn(cloud, id, nc2);
    assert.equal(cloud.callsOf('startVm', nc1).length, 1, 'it was started on nc1 first');
    assert.equal(cloud.callsOf('destroyVm', nc1).length, 1, 'the half-booted VM on nc1 was destroyed');
    assert.equal(cloud.vms.get(nc1)!.size, 0);
    await h.result(adm.workflowId);
  });

  it('a node whose worker is shut down mid-boot -> moved to another node', async (t) => {
    if (skip) return t.skip(skip);
    const cloud = await h.cloud();
    const [nc1, nc2] = cloud.nodes;
    cloud.fault(nc1, 'waitForBoot', 'hang');
    const adm = await h.runInstances(h.runInput(cloud));
    const [id] = adm.instanceIds;
    await until('waitForBoot on nc1', () => cloud.callsOf('waitForBoot', nc1).length > 0, 20_000);
    await cloud.stopWorker(nc1);     // the agent goes away (graceful shutdown) while the guest boots
    assert.equal(await h.result(`launch-${id}`), 'running', (await h.instance(id)).state_reason_message ?? '');
    // nc1's agent is gone, so its half-booted VM stays there (QEMU outlives the agent) ...
    await assertRunningOn(cloud, id, nc2, 2);
    assert.ok(cloud.vms.get(nc1)!.get(id), 'the stray VM is still on nc1');
    await h.result(adm.workflowId);

    // ... until nc1 comes back and reconciles with the database, which places the instance on nc2.
    cloud.fault(nc1, 'waitForBoot', undefined);
    await cloud.startWorker(nc1);
    const { reconcileNode } = await import('../../workflows/reconcile');
    const r = await h.client.workflow.execute(reconcileNode, { taskQueue: 'clc', workflowId: `reconcile-node-${nc1}`, args: [nc1] });
    assert.deepEqual(r, { stray: [id], restarted: [] });
    assert.equal(cloud.vms.get(nc1)!.size, 0, 'the stray VM was destroyed');
    await assertRunningOn(cloud, id, nc2);
  });

  it('the CC worker gone at the start of a launch -> terminated cleanly, nothing held', async (t) => {
    if (skip) return t.skip(skip);
    const cloud = await h.cloud({ withoutWorkers: ['cc'] });
    const started = Date.now();
    const adm = await h.runInstances(h.runInput(cloud, { minCount: 2, maxCount: 2 }));
    for (const id of adm.instanceIds) assert.equal(await h.result(`launch-${id}`), 'terminated');
    const took = Date.now() - started;
    assert.ok(took >= 15_000, `it ended after the schedule-to-start timeout (${took} ms)`);
    for (const id of adm.instanceIds) {
      const row = await h.instance(id);
      assert.equal(row.state, 'terminated');
      assert.match(row.state_reason_code, /^Server\./);
      assert.ok(row.state_reason_message, 'a StateReason message is recorded');
      await assertNothingHeld(cloud, id);
    }
    assert.deepEqual(await h.zoneAllocations(cloud.zone), []);
    const [ips] = await h.pool.query<any[]>('SELECT p.* FROM private_ips p JOIN instances i ON i.id = p.instance_id WHERE i.zone = ?', [cloud.zone]);
    assert.equal(ips.length, 0);
    assert.equal(cloud.calls.length, 0, 'no host ran anything');
    await h.result(adm.workflowId);
  });

  it('the CC worker gone mid-launch (after the zone network, before DHCP) -> terminated cleanly, nothing held', async (t) => {
    if (skip) return t.skip(skip);
    const cloud = await h.cloud();
    cloud.afterStep('cc', 'ensureZoneNetwork', () => cloud.stopWorker('cc'));
    const adm = await h.runInstances(h.runInput(cloud));
    const [id] = adm.instanceIds;
    assert.equal(await h.result(`launch-${id}`), 'terminated');
    const row = await h.instance(id);
    assert.equal(row.state, 'terminated');
    assert.match(row.state_reason_code, /^Server\./);
    await assertNothingHeld(cloud, id);
    assert.deepEqual(await h.zoneAllocations(cloud.zone), []);
    assert.equal(cloud.callsOf('ensureZoneNetwork').length, 1);
    assert.equal(cloud.callsOf('addDhcpHost').length, 0, 'the CC was gone before DHCP');
    assert.equal(cloud.calls.filter((c) => c.host !== cloud.ccHost).length, 0, 'no node was asked to boot');
    await h.result(adm.workflowId);
  });
});
