// The RunInstances / launch saga against a real Temporal dev server, the real
// workflows and CLC activities on a real MariaDB, and fake CC/NC hosts:
// the happy path, compensation at every step, ClientToken idempotency and
// admission failures. Host failures that need timeouts are in host-failures.test.ts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowUpdateFailedError, WorkflowExecutionAlreadyStartedError, WorkflowFailedError, WorkflowIdReusePolicy } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Harness, FakeCloud, until } from './harness';

const h = new Harness();
let skip: string | undefined;
before(async () => { skip = await h.setup(); }, { timeout: 120_000 });
after(async () => { await h.teardown(); }, { timeout: 60_000 });

/** Asserts the instance holds nothing anywhere: no address, MAC or capacity rows, no DHCP entry, no VM. */
async function assertNothingHeld(cloud: FakeCloud, id: string, mac?: string) {
  assert.deepEqual(await h.held(id), { ips: [], macs: [], allocations: [], publicIps: [] }, `${id} still holds rows`);
  if (mac) assert.equal(cloud.dhcp.has(mac), false, `DHCP entry for ${mac} left on the CC`);
  assert.equal(cloud.vmOf(id), undefined, `VM ${id} left on a node`);
}

function failureType(err: unknown): string | undefined {
  let e: any = err;
  while (e) { if (e instanceof ApplicationFailure && e.type) return e.type; e = e.cause; }
  return undefined;
}

describe('launch saga (real Temporal, real DB, fake hosts)', { timeout: 240_000 }, () => {
  it('happy path: MinCount=MaxCount=2 -> both running, one per node, addresses, DHCP and VMs in place', async (t) => {
    if (skip) return t.skip(skip);
    const cloud = await h.cloud();
    const input = h.runInput(cloud, { minCount: 2, maxCount: 2 });
    const adm = await h.runInstances(input);
    assert.match(adm.reservationId, /^r-[0-9a-f]{8}$/);
    assert.equal(adm.instanceIds.length, 2);
    assert.equal(adm.zone, cloud.zone);
    // The API answers while the instances are pending (rows exist already).
    for (const id of adm.instanceIds) assert.ok(await h.instance(id), `row for ${id} exists when the update returns`);

    await h.result(adm.workflowId);
    const nodes: string[] = [];
    let netVni = 0;
    for (const id of adm.instanceIds) {
      assert.equal(await h.result(`launch-${id}`), 'running');
      const row = await h.instance(id);
      assert.equal(row.state, 'running');
      assert.equal(row.reservation_id, adm.reservationId);
      const held = await h.held(id);
      assert.deepEqual(held.ips, [row.private_ip]);
      assert.deepEqual(held.macs, [row.mac]);
      assert.match(row.mac, /^d0:0d(:[0-9a-f]{2}){4}$/);
      assert.deepEqual(held.allocations, [row.node]);
      // a launch address from the zone's pool, NATed on the CC to the private one
      assert.equal(held.publicIps.length, 1);
      assert.equal(cloud.nat.get(held.publicIps[0]!), row.private_ip);
      const [[net]] = await h.pool.query<any[]>('SELECT vni FROM networks WHERE id = ?', [row.network_id]) as any;
      netVni = net.vni;   // the network of the account's default group
      assert.deepEqual(cloud.dhcp.get(row.mac), { vni: net.vni, ip: row.private_ip, hostname: 'ip-' + row.private_ip.replace(/\./g, '-') });
      const vm = cloud.vms.get(row.node)!.get(id);
      assert.ok(vm, `VM ${id} runs on ${row.node}`);
      assert.equal(vm.mac, row.mac);
      nodes.push(row.node);
    }
    assert.deepEqual(nodes.sort(), [cloud.node(1), cloud.node(2)], 'ROUNDROBIN puts one instance on each node');
    assert.equal(cloud.dhcp.size, 2);
    assert.equal(cloud.allVms().length, 2);
    assert.notEqual((await h.instance(adm.instanceIds[0])).private_ip, (await h.instance(adm.instanceIds[1])).private_ip);
    assert.ok(cloud.zoneNetworks.has(netVni));
    for (const n of cloud.nodes) assert.ok(cloud.nodeNetworks.get(n)!.has(netVni), `${n} has the group's network`);
    const [ops] = await h.pool.query<any[]>('SELECT state FROM operations WHERE workflow_id = ?', [adm.workflowId]);
    assert.equal(ops[0]?.state, 'completed');
  });

  describe('compensation at every step', () => {
    const steps: { host: 'cc' | 'nc'; step: string }[] = [
      { host: 'cc', step: 'ensureZoneNetwork' }, { host: 'cc', step: 'addDhcpHost' },
      { host: 'nc', step: 'prepareNodeNetwork' }, { host: 'nc', step: 'cacheImage' },
      { host: 'nc', step: 'startVm' }, { host: 'nc', step: 'waitForBoot' },
    ];
    for (const s of steps) {
      it(`${s.step} fails -> terminated with a reason, nothing held`, async (t) => {
        if (skip) return t.skip(skip);
        const cloud = await h.cloud();
        cloud.fault(s.host === 'cc' ? 'cc' : '*', s.step, 'fail');
        const adm = await h.runInstances(h.runInput(cloud));
        const [id] = adm.instanceIds;
        const { mac } = await h.instance(id);
        assert.equal(await h.result(`launch-${id}`), 'terminated');
        const row = await h.instance(id);
        assert.equal(row.state, 'terminated');
        assert.equal(row.state_reason_code, 'Server.InjectedFault');
        assert.match(row.state_reason_message, new RegExp(`injected failure in .* ${s.step}`));
        assert.equal(row.state_transition_reason, 'Server error');
        await assertNothingHeld(cloud, id, mac);
        assert.equal(cloud.callsOf(s.step).length, 1, 'a non-retryable failure is not retried');
        // A non-retryable failure is not a gone host: the launch is not moved to the other node.
        assert.equal(cloud.callsOf('startVm').filter((c) => c.outcome === 'ok').length <= 1, true);
        assert.equal(cloud.callsOf('prepareNodeNetwork').length <= 1, true, 'no move to another node');
        await h.result(adm.workflowId);   // the reservation workflow completes
      });
    }

    it('a step applied on the host but reported failed (addDhcpHost) is still undone', async (t) => {
      if (skip) return t.skip(skip);
      const cloud = await h.cloud();
      cloud.fault('cc', 'addDhcpHost', 'failAfterApply');
      const adm = await h.runInstances(h.runInput(cloud));
      const [id] = adm.instanceIds;
      const { mac } = await h.instance(id);
      assert.equal(await h.result(`launch-${id}`), 'terminated');
      await assertNothingHeld(cloud, id, mac);
    });

    it('startVm applied but reported failed -> the VM is destroyed', async (t) => {
      if (skip) return t.skip(skip);
      const cloud = await h.cloud();
      cloud.fault('*', 'startVm', 'failAfterApply');
      const adm = await h.runInstances(h.runInput(cloud));
      const [id] = adm.instanceIds;
      const { mac } = await h.instance(id);
      assert.equal(await h.result(`launch-${id}`), 'terminated');
      await assertNothingHeld(cloud, id, mac);
    });
  });

  describe('ClientToken idempotency', () => {
    it('same token + same params -> the same reservation; different params -> IdempotentParameterMismatch', async (t) => {
      if (skip) return t.skip(skip);
      const cloud = await h.cloud();
      cloud.fault('*', 'waitForBoot', { slowMs: 3000 });   // keep the first request's workflow running
      const token = `tok-${Date.now()}`;
      const input = h.runInput(cloud, { clientToken: token, minCount: 1, maxCount: 2 });
      const first = await h.runInstances(input);
      const again = await h.runInstances({ ...input, requestId: 'a-retry' });
      assert.equal(again.reservationId, first.reservationId);
      assert.deepEqual(again.instanceIds, first.instanceIds);

      const mismatch = await h.runInstances({ ...input, paramsHash: 'x'.repeat(64) }).then(() => undefined, (e) => e);
      assert.ok(mismatch instanceof WorkflowUpdateFailedError, `expected an update failure, got ${mismatch}`);
      assert.equal(failureType(mismatch), 'IdempotentParameterMismatch');

      // The workflow ran to the end; a retry now may not start a second launch.
      await h.result(first.workflowId);
      for (const id of first.instanceIds) assert.equal((await h.instance(id)).state, 'running');
      const late = await h.runInstances(input).then(() => undefined, (e) => e);
      assert.ok(late instanceof WorkflowExecutionAlreadyStartedError, `a completed RunInstances is not started again (got ${late})`);
      assert.equal((await h.reservationsWithToken(token)).length, 1, 'one reservation row for the token');
      assert.equal(cloud.callsOf('startVm').length, 2, 'two VMs started in all');
    });

    it('two identical requests at the same moment -> one reservation', async (t) => {
      if (skip) return t.skip(skip);
      const cloud = await h.cloud();
      const token = `race-${Date.now()}`;
      const input = h.runInput(cloud, { clientToken: token, minCount: 2, maxCount: 2 });
      const [a, b] = await Promise.all([h.runInstances(input), h.runInstances({ ...input, requestId: 'other' })]);
      assert.equal(a.reservationId, b.reservationId);
      assert.deepEqual(a.instanceIds, b.instanceIds);
      await h.result(a.workflowId);
      assert.equal((await h.reservationsWithToken(token)).length, 1);
      assert.equal((await h.zoneAllocations(cloud.zone)).length, 2);
      assert.equal(cloud.callsOf('startVm').length, 2);
    });

    it('MinCount above capacity -> InsufficientInstanceCapacity, nothing held, the token can be retried', async (t) => {
      if (skip) return t.skip(skip);
      const cloud = await h.cloud();              // 2 nodes x 2 vCPUs: four m1.small fit
      const token = `cap-${Date.now()}`;
      const input = h.runInput(cloud, { clientToken: token, minCount: 5, maxCount: 6 });
      const err = await h.runInstances(input).then(() => undefined, (e) => e);
      assert.ok(err instanceof WorkflowUpdateFailedError, `expected an update failure, got ${err}`);
      assert.equal(failureType(err), 'InsufficientInstanceCapacity');
      const wfErr = await h.result(input.clientToken ? `run-${h.accountId}-${token}` : '').then(() => undefined, (e) => e);
      assert.ok(wfErr instanceof WorkflowFailedError, 'the RunInstances workflow failed');
      assert.equal(failureType(wfErr), 'InsufficientInstanceCapacity');
      assert.deepEqual(await h.zoneAllocations(cloud.zone), []);
      assert.equal((await h.reservationsWithToken(token)).length, 0);
      const [ips] = await h.pool.query<any[]>('SELECT p.* FROM private_ips p JOIN instances i ON i.id = p.instance_id WHERE i.zone = ?', [cloud.zone]);
      assert.equal(ips.length, 0);
      assert.equal(cloud.calls.length, 0, 'no host was asked to do anything');

      // The same ClientToken (same workflow id) with MinCount that fits: a new run, admitted.
      const retry = await h.runInstances({ ...input, minCount: 4, maxCount: 6 });
      assert.equal(retry.instanceIds.length, 4, 'as many as fit (MaxCount 6, capacity 4)');
      await h.result(retry.workflowId);
      assert.equal((await h.zoneAllocations(cloud.zone)).length, 4);
      assert.equal((await h.reservationsWithToken(token)).length, 1);
    });

    it('unknown image -> InvalidAMIID.NotFound from the update', async (t) => {
      if (skip) return t.skip(skip);
      const cloud = await h.cloud();
      const err = await h.runInstances(h.runInput(cloud, { imageId: 'emi-deadbeef' })).then(() => undefined, (e) => e);
      assert.equal(failureType(err), 'InvalidAMIID.NotFound');
      assert.deepEqual(await h.zoneAllocations(cloud.zone), []);
    });
  });

  describe('terminate, stop, start', () => {
    it('terminating a pending instance cancels its launch and releases everything', async (t) => {
      if (skip) return t.skip(skip);
      const cloud = await h.cloud();
      cloud.fault('*', 'waitForBoot', { slowMs: 60_000 });   // boots slowly but the node is alive (heartbeats)
      const adm = await h.runInstances(h.runInput(cloud));
      const [id] = adm.instanceIds;
      const { mac } = await h.instance(id);
      await until('waitForBoot in flight', () => cloud.callsOf('waitForBoot').length > 0);
      assert.ok(cloud.vmOf(id), 'the VM exists while booting');
      assert.equal((await h.instance(id)).state, 'pending');

      const started = Date.now();
      const { change, workflowId } = await h.instanceOp('terminateInstance', id);
      assert.deepEqual(change, { instanceId: id, previous: 'pending', current: 'shutting-down' });
      await h.result(workflowId);
      assert.ok(Date.now() - started < 20_000, 'the slow boot was cancelled, not waited out');
      assert.equal(await h.result(`launch-${id}`), 'terminated');
      const row = await h.instance(id);
      assert.equal(row.state, 'terminated');
      assert.equal(row.state_reason_code, 'Client.UserInitiatedShutdown');
      assert.equal(cloud.callsOf('waitForBoot')[0].outcome, 'cancelled', 'the boot activity saw the cancellation');
      await assertNothingHeld(cloud, id, mac);
      await h.result(adm.workflowId);

      // Terminating again is a no-op answered with the current state.
      const again = await h.instanceOp('terminateInstance', id);
      assert.deepEqual(again.change, { instanceId: id, previous: 'terminated', current: 'terminated' });
    });

    it('stop then start: running -> stopped (capacity released, address and MAC kept) -> running', async (t) => {
      if (skip) return t.skip(skip);
      const cloud = await h.cloud();
      const adm = await h.runInstances(h.runInput(cloud));
      const [id] = adm.instanceIds;
      assert.equal(await h.result(`launch-${id}`), 'running');
      const before = await h.instance(id);
      const heldBefore = await h.held(id);

      const stop = await h.instanceOp('stopInstance', id);
      assert.deepEqual(stop.change, { instanceId: id, previous: 'running', current: 'stopping' });
      await h.result(stop.workflowId);
      let row = await h.instance(id);
      assert.equal(row.state, 'stopped');
      assert.equal(row.state_reason_code, 'Client.UserInitiatedShutdown');
      assert.deepEqual(await h.held(id), { ips: heldBefore.ips, macs: heldBefore.macs, allocations: [], publicIps: [] });
      assert.equal(cloud.vmOf(id), undefined, 'the VM is gone from its node');
      assert.equal(cloud.callsOf('powerdownVm').length, 1, 'an ACPI power-down was tried first');

      // Stopping a stopped instance is answered with its state.
      const stop2 = await h.instanceOp('stopInstance', id);
      assert.deepEqual(stop2.change, { instanceId: id, previous: 'stopped', current: 'stopped' });

      const start = await h.instanceOp('startInstance', id);
      assert.deepEqual(start.change, { instanceId: id, previous: 'stopped', current: 'pending' });
      assert.equal(await h.result(start.workflowId), 'running');
      row = await h.instance(id);
      assert.equal(row.state, 'running');
      assert.equal(row.private_ip, before.private_ip, 'the address survives stop/start');
      assert.equal(row.mac, before.mac, 'the MAC survives stop/start');
      const heldAfter = await h.held(id);
      assert.deepEqual(heldAfter.allocations, [row.node]);
      assert.ok(cloud.vms.get(row.node)!.get(id), 'the VM runs again');
      assert.deepEqual(cloud.dhcp.get(row.mac)?.ip, row.private_ip);

      // Terminating a running instance: VM, DHCP entry, capacity, address and MAC all go.
      const term = await h.instanceOp('terminateInstance', id);
      assert.deepEqual(term.change, { instanceId: id, previous: 'running', current: 'shutting-down' });
      await h.result(term.workflowId);
      assert.equal((await h.instance(id)).state, 'terminated');
      await assertNothingHeld(cloud, id, row.mac);
    });

    it('a start that fails to boot -> back to stopped, capacity released, address and MAC kept', async (t) => {
      if (skip) return t.skip(skip);
      const cloud = await h.cloud();
      const adm = await h.runInstances(h.runInput(cloud));
      const [id] = adm.instanceIds;
      assert.equal(await h.result(`launch-${id}`), 'running');
      const heldBefore = await h.held(id);
      await h.result((await h.instanceOp('stopInstance', id)).workflowId);
      cloud.fault('*', 'startVm', 'failAfterApply');
      const start = await h.instanceOp('startInstance', id);
      assert.equal(start.change.current, 'pending');
      assert.equal(await h.result(start.workflowId), 'stopped');
      const row = await h.instance(id);
      assert.equal(row.state, 'stopped');
      assert.equal(row.state_reason_code, 'Server.InjectedFault');
      assert.deepEqual(await h.held(id), { ips: heldBefore.ips, macs: heldBefore.macs, allocations: [], publicIps: [] });
      assert.equal(cloud.vmOf(id), undefined, 'the half-started VM was destroyed');
      assert.deepEqual(await h.zoneAllocations(cloud.zone), []);
    });

    it('starting a running instance is answered with its state', async (t) => {
      if (skip) return t.skip(skip);
      const cloud = await h.cloud();
      const adm = await h.runInstances(h.runInput(cloud));
      const [id] = adm.instanceIds;
      assert.equal(await h.result(`launch-${id}`), 'running');
      const start2 = await h.instanceOp('startInstance', id);
      assert.deepEqual(start2.change, { instanceId: id, previous: 'running', current: 'running' });
    });
  });
});
