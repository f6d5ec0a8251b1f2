// Instance attributes in the workflows, on a real Temporal dev server and
// MariaDB with fake hosts: a guest that powers itself off becomes what its
// InstanceInitiatedShutdownBehavior says (through the stop / terminate
// workflows, so everything is released), termination protection does not
// stop that, a report from a node that does not run the instance only clears
// the leftover there, and a start after changes made while stopped boots with
// the new type (capacity) and serves the new user data.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowIdConflictPolicy } from '@temporalio/client';
import { Harness, FakeCloud } from './harness';

const h = new Harness();
let skip: string | undefined;
before(async () => { skip = await h.setup(); }, { timeout: 120_000 });
after(async () => { await h.teardown(); }, { timeout: 60_000 });

/** What a node's agent does when it finds the guest powered off (workers/nc.ts). */
async function reportPoweredOff(instanceId: string, node: string): Promise<string> {
  const { instanceInitiatedShutdown } = await import('../../workflows/instanceInitiatedShutdown');
  return h.client.workflow.execute(instanceInitiatedShutdown, {
    taskQueue: 'clc', workflowId: `shutdown-${instanceId}`, args: [{ instanceId, node }],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
  });
}

async function launched(cloud: FakeCloud, o: Parameters<Harness['runInput']>[1] = {}): Promise<any> {
  const adm = await h.runInstances(h.runInput(cloud, o));
  const [id] = adm.instanceIds;
  assert.equal(await h.result(`launch-${id}`), 'running');
  return h.instance(id);
}

describe('instance attributes in the workflows (real Temporal, real DB, fake hosts)', { timeout: 240_000 }, () => {
  it('RunInstances records protection, shutdown behaviour and monitoring', async (t) => {
    if (skip) return t.skip(skip);
    const cloud = await h.cloud();
    const row = await launched(cloud, { disableApiTermination: true, shutdownBehavior: 'terminate', monitoring: true });
    assert.equal(row.disable_api_termination, 1);
    assert.equal(row.shutdown_behavior, 'terminate');
    assert.equal(row.monitoring, 'enabled');
    const plain = await launched(cloud);
    assert.deepEqual([plain.disable_api_termination, plain.shutdown_behavior, plain.monitoring], [0, 'stop', 'disabled']);
  });

  it("a guest's own poweroff with behaviour stop: stopped, capacity released, address kept", async (t) => {
    if (skip) return t.skip(skip);
    const cloud = await h.cloud();
    const row = await launched(cloud);
    cloud.vms.get(row.node)!.get(row.id)!.status = 'stopped';   // the guest powered off
    assert.equal(await reportPoweredOff(row.id, row.node), 'stopped');
    const after = await h.instance(row.id);
    assert.equal(after.state, 'stopped');
    assert.equal(after.state_reason_code, 'Client.InstanceInitiatedShutdown');
    assert.deepEqual(await h.held(row.id), { ips: [row.private_ip], macs: [row.mac], allocations: [], publicIps: [] });
    assert.equal(cloud.vmOf(row.id), undefined, 'the powered-off VM was taken down');
    // Reported again (a late tick): nothing more happens.
    assert.equal(await reportPoweredOff(row.id, row.node), `not running on ${row.node}`);
    assert.equal((await h.instance(row.id)).state, 'stopped');
  });

  it('behaviour terminate: terminated even with termination protection, nothing held', async (t) => {
    if (skip) return t.skip(skip);
    const cloud = await h.cloud();
    const row = await launched(cloud, { disableApiTermination: true, shutdownBehavior: 'terminate' });
    assert.equal(await reportPoweredOff(row.id, row.node), 'terminated');
    const after = await h.instance(row.id);
    assert.equal(after.state, 'terminated');
    assert.equal(after.state_reason_code, 'Client.InstanceInitiatedShutdown');
    assert.deepEqual(await h.held(row.id), { ips: [], macs: [], allocations: [], publicIps: [] });
    assert.equal(cloud.vmOf(row.id), undefined);
    assert.equal(cloud.dhcp.has(row.mac), false);
  });

  it('a report from a node that does not run the instance only removes the leftover there', async (t) => {
    if (skip) return t.skip(skip);
    const cloud = await h.cloud();
    const row = await launched(cloud);
    const otherNode = cloud.nodes.find((n) => n !== row.node)!;
    cloud.vms.get(otherNode)!.set(row.id, { instanceId: row.id, node: otherNode, mac: row.mac, ip: row.private_ip, status: 'stopped' });
    assert.equal(await reportPoweredOff(row.id, otherNode), `not running on ${otherNode}`);
    assert.equal(cloud.vms.get(otherNode)!.has(row.id), false, 'the stray was destroyed');
    assert.ok(cloud.vms.get(row.node)!.has(row.id), 'the real VM runs on');
    assert.equal((await h.instance(row.id)).state, 'running');
  });

  it('changed while stopped (type, user data): the start holds the new capacity and serves the new user data', async (t) => {
    if (skip) return t.skip(skip);
    const cloud = await h.cloud();
    const row = await launched(cloud);
    await h.result((await h.instanceOp('stopInstance', row.id)).workflowId);
    const userData = Buffer.from('#!/bin/sh\necho hello\n').toString('base64');
    await h.pool.query(`UPDATE instances SET instance_type = 'c1.medium', user_data = ? WHERE id = ?`, [userData, row.id]);
    const start = await h.instanceOp('startInstance', row.id);
    assert.equal(await h.result(start.workflowId), 'running');
    const now = await h.instance(row.id);
    const [alloc] = (await h.pool.query<any[]>('SELECT vcpus, memory_mib, disk_gib FROM node_allocations WHERE instance_id = ?', [row.id]))[0];
    assert.deepEqual({ ...alloc }, { vcpus: 1, memory_mib: 256, disk_gib: 5 }, 'c1.medium capacity');
    const [[net]] = await h.pool.query<any[]>('SELECT vni FROM networks WHERE id = ?', [now.network_id]) as any;
    const doc = cloud.metadata.get(`${net.vni}/${now.private_ip}`);
    assert.equal(doc?.userData, userData, 'the metadata service serves the new user data');
    assert.equal(doc?.instanceType, 'c1.medium');
    assert.ok(cloud.vmOf(row.id), 'the VM runs again');
    const plan = cloud.callsOf('startVm').map((c) => c.args[0] as any).filter((p) => p.instanceId === row.id).pop();
    assert.equal(plan.memoryMiB, 256, 'booted with the new type');
  });
});
