// Elastic IP workflows (AssociateAddress, DisassociateAddress, ReleaseAddress) against a
// real Temporal dev server, the real CLC activities on a real MariaDB, and a fake CC that
// keeps its NAT table in memory (with the same sequence-number rule as the real one):
// the database and the CC agree after every operation, a CC failure leaves nothing
// changed, concurrent moves of one address end consistent, and the EC2 errors.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Harness, FakeCloud } from './harness';
import type { NatChange, NatEntry } from '../../activities/network/elasticIps';

process.env.EUCA_ADDRESS_LIMIT = '8';   // read when the harness first imports lib/config
const h = new Harness();
let skip: string | undefined;
before(async () => { skip = await h.setup(); }, { timeout: 120_000 });
after(async () => { await nat?.worker.shutdown(); await nat?.running.catch(() => undefined); await h.teardown(); }, { timeout: 60_000 });

/** In-memory CC NAT: public -> private, last sequence number per public address. */
class FakeNat {
  map = new Map<string, string>();
  seqs = new Map<string, number>();
  floor = -1;
  failing = false;
  applied: NatChange[][] = [];
  activities() {
    return {
      applyNat: async (changes: NatChange[]) => {
        if (this.failing) throw ApplicationFailure.create({ type: 'NatError', message: 'injected CC failure', nonRetryable: true });
        let applied = 0;
        for (const c of [...changes].sort((a, b) => a.seq - b.seq)) {
          if ((this.seqs.get(c.publicIp) ?? this.floor) >= c.seq) continue;
          this.map.delete(c.publicIp);
          if (c.privateIp) {
            for (const [p, v] of this.map) if (v === c.privateIp) this.map.delete(p);
            this.map.set(c.publicIp, c.privateIp);
          }
          this.seqs.set(c.publicIp, c.seq);
          applied++;
        }
        this.applied.push(changes);
        return { applied, skipped: changes.length - applied };
      },
      syncNat: async (entries: NatEntry[], seq: number) => {
        this.map = new Map(entries.map((e) => [e.publicIp, e.privateIp]));
        this.seqs.clear(); this.floor = seq;
        return { changed: entries.length };
      },
    };
  }
  entries(): NatEntry[] {
    return [...this.map].map(([publicIp, privateIp]) => ({ publicIp, privateIp })).sort((a, b) => a.publicIp.localeCompare(b.publicIp, 'en', { numeric: true }));
  }
}

let cloud: FakeCloud;
let fake: FakeNat;
let nat: { worker: Worker; running: Promise<void> } | undefined;
let A: typeof import('../../db/addresses');
let W: typeof import('../../workflows/associateAddress');
const other = '100000000002';
let n = 0;

async function instance(state = 'running', accountId = h.accountId): Promise<{ id: string; ip: string }> {
  const k = ++n;
  const id = `i-${(0xa0000000 + k).toString(16)}`;
  const ip = `10.210.99.${10 + k}`;
  await h.pool.query('INSERT INTO reservations (id, account_id, params_hash, workflow_id) VALUES (?, ?, ?, ?)', [`r-${id.slice(2)}`, accountId, 'h'.repeat(64), 'wf']);
  await h.pool.query(
    `INSERT INTO instances (id, reservation_id, account_id, launch_index, image_id, instance_type, zone, state, private_ip) VALUES (?, ?, ?, 0, ?, 'm1.small', ?, ?, ?)`,
    [id, `r-${id.slice(2)}`, accountId, h.imageId, cloud.zone, state, ip]);
  return { id, ip };
}

async function run<T>(wf: (...a: any[]) => Promise<T>, arg: unknown): Promise<T> {
  return h.client.workflow.execute(wf as any, { workflowId: `eip-test-${Date.now()}-${Math.random()}`, taskQueue: 'clc', args: [arg] }) as Promise<T>;
}
async function code(p: Promise<unknown>): Promise<string | undefined> {
  try { await p; } catch (e) {
    let x: any = e;
    while (x) { if (x instanceof ApplicationFailure && x.type) return x.type; x = x.cause; }
    if (e instanceof WorkflowFailedError) return 'WorkflowFailed';
    throw e;
  }
  return undefined;
}
/** The CC programs exactly what the database says. */
async function consistent() {
  const db = await A.zoneNatState(cloud.zone);
  assert.deepEqual(fake.entries(), db.entries);
}

describe('elastic IP workflows (real Temporal, real DB, fake CC)', { timeout: 240_000 }, () => {
  before(async () => {
    if (skip) return;
    cloud = await h.cloud({ withoutWorkers: ['cc', 'nc1', 'nc2'] });
    fake = new FakeNat();
    const worker = await Worker.create({
      connection: h.env.nativeConnection, namespace: h.env.namespace ?? 'default', taskQueue: `cc.${cloud.zone}`,
      activities: fake.activities(), shutdownGraceTime: '1 second',
    });
    nat = { worker, running: worker.run() };
    A = await import('../../db/addresses');
    W = await import('../../workflows/associateAddress');
    await h.pool.query('INSERT INTO accounts (id, name) VALUES (?, ?)', [other, 'wf-other']);
  });

  it('associate, move (the old holder gets a launch address), one address per instance', async (t) => {
    if (skip) return t.skip(skip);
    const [i1, i2] = [await instance(), await instance()];
    const a = await A.allocateAddress(h.accountId, { zone: cloud.zone });
    const b = await A.allocateAddress(h.accountId, { zone: cloud.zone });
    const r = await run(W.associateAddress, { accountId: h.accountId, ref: { publicIp: a.publicIp }, instanceId: i1.id });
    assert.match(r.associationId, /^eipassoc-[0-9a-f]{17}$/);
    assert.equal(fake.map.get(a.publicIp), i1.ip);
    await consistent();
    // again: same association, nothing changes
    const again = await run(W.associateAddress, { accountId: h.accountId, ref: { allocationId: a.allocationId }, instanceId: i1.id });
    assert.equal(again.associationId, r.associationId);
    // move to i2: i1 is left without one and gets a launch address (EC2-Classic)
    await run(W.associateAddress, { accountId: h.accountId, ref: { publicIp: a.publicIp }, instanceId: i2.id });
    assert.equal(fake.map.get(a.publicIp), i2.ip);
    const launch1 = [...fake.map].find(([, v]) => v === i1.ip)?.[0];
    assert.ok(launch1 && launch1 !== a.publicIp, 'i1 got a launch address');
    assert.deepEqual((await h.pool.query<any[]>('SELECT is_launch_address FROM addresses WHERE public_ip = ?', [launch1]))[0][0], { is_launch_address: 1 });
    await consistent();
    // b to i2: a leaves i2 (stays allocated, unassociated)
    await run(W.associateAddress, { accountId: h.accountId, ref: { publicIp: b.publicIp }, instanceId: i2.id });
    assert.equal(fake.map.get(b.publicIp), i2.ip);
    assert.equal(fake.map.has(a.publicIp), false);
    assert.equal((await A.getAddress(h.accountId, { publicIp: a.publicIp })).instanceId, null);
    // an elastic IP replaces i1's launch address, which goes back to the pool
    await run(W.associateAddress, { accountId: h.accountId, ref: { publicIp: a.publicIp }, instanceId: i1.id });
    assert.equal(fake.map.has(launch1!), false);
    assert.equal((await h.pool.query<any[]>('SELECT * FROM addresses WHERE public_ip = ?', [launch1]))[0].length, 0);
    await consistent();
  });

  it('a CC that fails leaves the database and the NAT as they were (compensation)', async (t) => {
    if (skip) return t.skip(skip);
    const [i1, i2] = [await instance(), await instance()];
    const a = await A.allocateAddress(h.accountId, { zone: cloud.zone });
    await run(W.associateAddress, { accountId: h.accountId, ref: { publicIp: a.publicIp }, instanceId: i1.id });
    const before = await A.getAddress(h.accountId, { publicIp: a.publicIp });
    fake.failing = true;
    try {
      assert.equal(await code(run(W.associateAddress, { accountId: h.accountId, ref: { publicIp: a.publicIp }, instanceId: i2.id })), 'Unavailable');
      assert.equal(await code(run(W.disassociateAddress, { accountId: h.accountId, ref: { publicIp: a.publicIp } })), 'Unavailable');
      assert.equal(await code(run(W.releaseAddress, { accountId: h.accountId, ref: { publicIp: a.publicIp } })), 'Unavailable');
    } finally { fake.failing = false; }
    const after = await A.getAddress(h.accountId, { publicIp: a.publicIp });
    assert.equal(after.instanceId, i1.id);
    assert.equal(after.associationId, before.associationId);
    assert.equal(fake.map.get(a.publicIp), i1.ip);
    await consistent();
  });

  it('disassociate and release (a standard address in use is disassociated; a vpc one is refused)', async (t) => {
    if (skip) return t.skip(skip);
    const [i1, i2] = [await instance(), await instance()];
    const a = await A.allocateAddress(h.accountId, { zone: cloud.zone });
    const v = await A.allocateAddress(h.accountId, { zone: cloud.zone, domain: 'vpc' });
    const r = await run(W.associateAddress, { accountId: h.accountId, ref: { allocationId: a.allocationId }, instanceId: i1.id });
    await run(W.disassociateAddress, { accountId: h.accountId, ref: { associationId: r.associationId } });
    assert.equal(fake.map.has(a.publicIp), false);
    assert.ok([...fake.map.values()].includes(i1.ip), 'i1 got a launch address back');
    assert.equal(await code(run(W.disassociateAddress, { accountId: h.accountId, ref: { associationId: r.associationId } })), 'InvalidAssociationID.NotFound');
    await run(W.disassociateAddress, { accountId: h.accountId, ref: { publicIp: a.publicIp } });   // unassociated: true
    await run(W.associateAddress, { accountId: h.accountId, ref: { publicIp: a.publicIp }, instanceId: i2.id });
    await run(W.releaseAddress, { accountId: h.accountId, ref: { publicIp: a.publicIp } });
    // back in the pool: i2, left without an address, may get it again as its launch address
    assert.notEqual(fake.map.get(a.publicIp) ?? i2.ip, i1.ip);
    assert.equal(await code(A.getAddress(h.accountId, { publicIp: a.publicIp })), 'InvalidAddress.NotFound');
    await run(W.associateAddress, { accountId: h.accountId, ref: { allocationId: v.allocationId }, instanceId: i1.id });
    assert.equal(await code(run(W.associateAddress, { accountId: h.accountId, ref: { allocationId: v.allocationId }, instanceId: i2.id })), 'Resource.AlreadyAssociated');
    await run(W.associateAddress, { accountId: h.accountId, ref: { allocationId: v.allocationId }, instanceId: i2.id, allowReassociation: true });
    assert.equal(fake.map.get(v.publicIp), i2.ip);
    assert.equal(await code(run(W.releaseAddress, { accountId: h.accountId, ref: { allocationId: v.allocationId } })), 'InvalidIPAddress.InUse');
    await consistent();
  });

  it('errors: other accounts, instance state, limit', async (t) => {
    if (skip) return t.skip(skip);
    const mine = await A.allocateAddress(h.accountId, { zone: cloud.zone });
    const theirs = await instance('running', other);
    const stopped = await instance('stopped');
    const inst = await instance();
    assert.equal(await code(run(W.associateAddress, { accountId: other, ref: { publicIp: mine.publicIp }, instanceId: theirs.id })), 'AuthFailure');
    assert.equal(await code(run(W.associateAddress, { accountId: other, ref: { allocationId: mine.allocationId }, instanceId: theirs.id })), 'InvalidAllocationID.NotFound');
    assert.equal(await code(run(W.releaseAddress, { accountId: other, ref: { publicIp: mine.publicIp } })), 'AuthFailure');
    assert.equal(await code(run(W.associateAddress, { accountId: h.accountId, ref: { publicIp: mine.publicIp }, instanceId: theirs.id })), 'InvalidInstanceID.NotFound');
    assert.equal(await code(run(W.associateAddress, { accountId: h.accountId, ref: { publicIp: mine.publicIp }, instanceId: stopped.id })), 'IncorrectInstanceState');
    assert.equal(await code(run(W.associateAddress, { accountId: h.accountId, ref: { publicIp: mine.publicIp }, instanceId: inst.id, privateIp: '10.9.9.9' })), 'InvalidParameterValue');
    assert.equal(await code(run(W.associateAddress, { accountId: h.accountId, ref: { publicIp: '100.64.250.251' }, instanceId: inst.id })), 'InvalidAddress.NotFound');
    const got = [];
    for (;;) {
      const c = await code(A.allocateAddress(other, { zone: cloud.zone }).then((x) => { got.push(x); }));
      if (c) { assert.equal(c, 'AddressLimitExceeded'); break; }
      assert.ok(got.length <= 8);
    }
    assert.equal(got.length, 8);
  });

  it('concurrent moves of one address end with the CC and the database agreeing', async (t) => {
    if (skip) return t.skip(skip);
    const insts = [await instance(), await instance(), await instance()];
    const a = await A.allocateAddress(h.accountId, { zone: cloud.zone });
    await Promise.all(Array.from({ length: 12 }, (_, k) =>
      run(W.associateAddress, { accountId: h.accountId, ref: { publicIp: a.publicIp }, instanceId: insts[k % 3]!.id })));
    await consistent();
    const owner = (await A.getAddress(h.accountId, { publicIp: a.publicIp })).instanceId;
    assert.equal(fake.map.get(a.publicIp), insts.find((i) => i.id === owner)!.ip);
  });

  it('terminate/stop step: launch address back to the pool, elastic IP disassociated but kept', async (t) => {
    if (skip) return t.skip(skip);
    const [i1, i2] = [await instance(), await instance()];
    const a = await A.allocateAddress(h.accountId, { zone: cloud.zone });
    const l = await A.assignLaunchAddress(i1.id);
    assert.ok(l);
    await fake.activities().applyNat([l!.change]);
    await run(W.associateAddress, { accountId: h.accountId, ref: { publicIp: a.publicIp }, instanceId: i2.id });
    for (const id of [i1.id, i2.id]) {
      const r = await A.releaseInstanceAddresses(id);
      await fake.activities().applyNat(r.changes);
      assert.deepEqual(await A.releaseInstanceAddresses(id), { zone: null, changes: [] }, 'idempotent');
    }
    assert.equal((await h.pool.query<any[]>('SELECT * FROM addresses WHERE instance_id IN (?)', [[i1.id, i2.id]]))[0].length, 0);
    assert.equal((await A.getAddress(h.accountId, { publicIp: a.publicIp })).associationId, null);
    await consistent();
  });
});
