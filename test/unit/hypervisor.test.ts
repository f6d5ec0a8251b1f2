// Unit tests of the hypervisor driver pieces that need no QEMU.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { QmpClient, QmpError, qmpExecute } from '../../activities/hypervisor/qmp';
import {
  consoleOffset,
  listVms,
  qemuArgs,
  readConsole,
  resolveAccel,
  tapNameFor,
  vmStatus,
  waitForConsoleMarker,
  type VmSpec,
} from '../../activities/hypervisor/qemu';

const dirs: string[] = [];
async function tmpdir(): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'euhv-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

/** A fake QMP server: greeting, then answers per handler; sends an event before each reply. */
async function fakeQmp(
  sock: string,
  handler: (cmd: string, args: unknown) => { return?: unknown; error?: { class: string; desc: string } } | null,
  greet = true,
): Promise<net.Server> {
  const srv = net.createServer((c) => {
    if (greet) c.write(JSON.stringify({ QMP: { version: {}, capabilities: [] } }) + '\r\n');
    let buf = '';
    c.on('data', (d) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        const r = handler(msg.execute, msg.arguments);
        if (r === null) continue; // never answer
        c.write(JSON.stringify({ event: 'SOMETHING', timestamp: { seconds: 0, microseconds: 0 } }) + '\r\n');
        c.write(JSON.stringify({ ...r, id: msg.id }) + '\r\n');
      }
    });
  });
  await new Promise<void>((r) => srv.listen(sock, r));
  return srv;
}

describe('qmp client', () => {
  it('negotiates, executes, ignores events, maps errors', async () => {
    const sock = path.join(await tmpdir(), 'q.sock');
    const seen: string[] = [];
    const srv = await fakeQmp(sock, (cmd, args) => {
      seen.push(cmd);
      if (cmd === 'query-status') return { return: { status: 'running', running: true } };
      if (cmd === 'echo') return { return: args };
      if (cmd === 'bad') return { error: { class: 'GenericError', desc: 'nope' } };
      return { return: {} };
    });
    try {
      const c = await QmpClient.connect(sock);
      assert.deepEqual(await c.execute('query-status'), { status: 'running', running: true });
      assert.deepEqual(await c.execute('echo', { a: 1 }), { a: 1 });
      await assert.rejects(c.execute('bad'), (e: unknown) => e instanceof QmpError && e.errorClass === 'GenericError');
      c.close();
      assert.deepEqual(await qmpExecute(sock, 'echo', { b: 2 }), { b: 2 });
      assert.equal(seen[0], 'qmp_capabilities');
    } finally {
      srv.close();
    }
  });

  it('times out on a silent server and on a missing greeting', async () => {
    const d = await tmpdir();
    const s1 = await fakeQmp(path.join(d, 'a.sock'), (cmd) => (cmd === 'qmp_capabilities' ? { return: {} } : null));
    const s2 = await fakeQmp(path.join(d, 'b.sock'), () => ({ return: {} }), false);
    try {
      await assert.rejects(qmpExecute(path.join(d, 'a.sock'), 'hang', undefined, 300), /timed out/);
      await assert.rejects(QmpClient.connect(path.join(d, 'b.sock'), 300), /greeting timeout/);
      await assert.rejects(QmpClient.connect(path.join(d, 'none.sock'), 300));
    } finally {
      s1.close();
      s2.close();
    }
  });
});

describe('qemu driver helpers', () => {
  const spec: VmSpec = {
    instanceId: 'i-0123abcd',
    netns: 'euca-nc1',
    runDir: '/tmp/x/vms/i-0123abcd',
    vcpus: 2,
    memoryMiB: 512,
    kernelPath: '/img/vmlinuz',
    initrdPath: '/img/initrd.img',
    mac: 'd0:0d:01:02:03:04',
    tapName: 'tap0123abcd',
    bridge: 'vb1000',
    accel: 'auto',
  };

  it('names taps and resolves the accelerator', async () => {
    assert.equal(tapNameFor('i-0123abcd'), 'tap0123abcd');
    assert.throws(() => tapNameFor('i-xyz'));
    assert.equal(await resolveAccel('kvm'), 'kvm');
    assert.equal(await resolveAccel('tcg'), 'tcg');
    const old = process.env.EUCA_ACCEL;
    try {
      delete process.env.EUCA_ACCEL;
      assert.equal(await resolveAccel('auto'), 'tcg');
      process.env.EUCA_ACCEL = 'kvm';
      assert.equal(await resolveAccel('auto'), 'kvm');
    } finally {
      if (old === undefined) delete process.env.EUCA_ACCEL;
      else process.env.EUCA_ACCEL = old;
    }
  });

  it('builds a qemu command line naming the instance', () => {
    const a = qemuArgs(spec, 'tcg');
    const opt = (k: string) => a[a.indexOf(k) + 1];
    assert.equal(opt('-name'), 'i-0123abcd');
    assert.equal(opt('-cpu'), 'max');
    assert.equal(opt('-smp'), '2');
    assert.equal(opt('-m'), '512');
    assert.equal(opt('-append'), 'console=ttyS0 panic=-1 quiet');
    assert.equal(opt('-pidfile'), '/tmp/x/vms/i-0123abcd/qemu.pid');
    assert.match(opt('-qmp'), /^unix:\/tmp\/x\/vms\/i-0123abcd\/qmp\.sock,server=on,wait=off$/);
    assert.match(opt('-netdev'), /ifname=tap0123abcd,script=no,downscript=no/);
    assert.match(opt('-device'), /mac=d0:0d:01:02:03:04/);
    assert.ok(!a.includes('-no-reboot'));
    assert.ok(a.includes('-no-shutdown'), "a guest's own poweroff leaves QEMU in the 'shutdown' state (guestWatch.ts)");
    assert.equal(qemuArgs(spec, 'kvm')[qemuArgs(spec, 'kvm').indexOf('-cpu') + 1], 'host');
  });

  it('reads the console tail and waits for markers', async () => {
    const d = await tmpdir();
    assert.equal(await readConsole(d), '');
    assert.equal(await consoleOffset(d), 0);
    const f = path.join(d, 'console.log');
    await fs.writeFile(f, 'x'.repeat(100) + 'EUCA-BOOT-OK ip=1.2.3.4 hostname=a\r\n');
    assert.equal((await readConsole(d, 10)).length, 10);
    const m = await waitForConsoleMarker(d, /EUCA-BOOT-OK ip=(\S+)/, 1000);
    assert.equal(m[1], '1.2.3.4');
    const off = await consoleOffset(d);
    let ticks = 0;
    setTimeout(() => void fs.appendFile(f, 'EUCA-BOOT-OK ip=5.6.7.8 hostname=b\r\n'), 400);
    const m2 = await waitForConsoleMarker(d, /EUCA-BOOT-OK ip=(\S+)/, 3000, () => ticks++, { fromOffset: off });
    assert.equal(m2[1], '5.6.7.8');
    assert.ok(ticks >= 2);
    await assert.rejects(waitForConsoleMarker(d, /NEVER/, 300), /not seen/);
  });

  it('reports absent VMs', async () => {
    const d = await tmpdir();
    assert.deepEqual(await listVms(d), []);
    await fs.mkdir(path.join(d, 'vms', 'i-0123abcd'), { recursive: true });
    await fs.writeFile(path.join(d, 'vms', 'i-0123abcd', 'qemu.pid'), String(process.pid));
    assert.deepEqual(await listVms(d), []);
    assert.equal(await vmStatus({ instanceId: 'i-0123abcd', runDir: path.join(d, 'vms', 'i-0123abcd') }), 'absent');
  });
});
