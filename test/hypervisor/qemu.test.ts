// Real-QEMU test of activities/hypervisor/qemu.ts. Needs root, iproute2,
// dnsmasq, qemu-system-x86. Everything runs in a private namespace euth-<pid>.
//
//   node --import tsx --test test/hypervisor/qemu.test.ts
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  consoleOffset,
  destroyVm,
  launchVm,
  listVms,
  powerdownVm,
  readConsole,
  rebootVm,
  resolveAccel,
  tapNameFor,
  vmStatus,
  waitForConsoleMarker,
  type VmSpec,
} from '../../activities/hypervisor/qemu';

const REPO = path.resolve(__dirname, '..', '..');
const IMAGE_DIR = path.join(process.env.EUCA_HOME ?? path.join(REPO, '.cloud'), 'images', 'test-guest');
const NS = `euth-${process.pid}`;
const BRIDGE = 'vb9';
const GW = '10.250.9.1';
const VM_IP = '10.250.9.50';
const BOOT_TIMEOUT = 90_000;

function sh(cmd: string, args: string[], timeout = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(String(stdout));
    });
  });
}
const shq = (cmd: string, args: string[]) => sh(cmd, args).catch(() => '');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function killNetns(ns: string): Promise<void> {
  const pids = (await shq('ip', ['netns', 'pids', ns])).split(/\s+/).filter(Boolean).map(Number);
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await shq('ip', ['netns', 'del', ns]);
}

const instanceId = 'i-' + randomBytes(4).toString('hex');
const mac = 'd0:0d:' + [...randomBytes(4)].map((b) => b.toString(16).padStart(2, '0')).join(':');
let tmp = '';
let spec: VmSpec;
let dnsmasq: ChildProcess | null = null;

describe('qemu driver (real VM in a namespace)', { timeout: 600_000 }, () => {
  before(async () => {
    // stale namespaces of earlier runs
    for (const line of (await shq('ip', ['netns', 'list'])).split('\n')) {
      const name = line.split(' ')[0];
      if (/^euth-\d+$/.test(name)) await killNetns(name);
    }
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'euth-'));
    await sh('ip', ['netns', 'add', NS]);
    await sh('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    await sh('ip', ['-n', NS, 'link', 'add', BRIDGE, 'type', 'bridge']);
    await sh('ip', ['-n', NS, 'addr', 'add', `${GW}/24`, 'dev', BRIDGE]);
    await sh('ip', ['-n', NS, 'link', 'set', BRIDGE, 'up']);
    dnsmasq = spawn(
      'ip',
      [
        'netns', 'exec', NS, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null',
        '--no-resolv', '--no-hosts', '--port=0', `--interface=${BRIDGE}`, '--bind-interfaces',
        '--except-interface=lo', `--dhcp-range=10.250.9.100,10.250.9.200,255.255.255.0,1h`,
        `--dhcp-host=${mac},${VM_IP},vmtest`, `--dhcp-option=option:router,${GW}`,
        `--pid-file=${path.join(tmp, 'dnsmasq.pid')}`, `--dhcp-leasefile=${path.join(tmp, 'leases')}`,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    await sh('bash', [path.join(REPO, 'guest-image', 'build.sh'), IMAGE_DIR], 600_000);
    const runRoot = path.join(tmp, 'host');
    spec = {
      instanceId,
      netns: NS,
      runDir: path.join(runRoot, 'vms', instanceId),
      vcpus: 1,
      memoryMiB: 256,
      kernelPath: path.join(IMAGE_DIR, 'vmlinuz'),
      initrdPath: path.join(IMAGE_DIR, 'initrd.img'),
      mac,
      tapName: tapNameFor(instanceId),
      bridge: BRIDGE,
      accel: 'auto',
    };
  });

  after(async () => {
    if (spec) await destroyVm(spec, { purge: true }).catch(() => undefined);
    if (dnsmasq?.pid) {
      try {
        process.kill(dnsmasq.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    await killNetns(NS);
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('auto accel resolves to tcg by default', async () => {
    if (!process.env.EUCA_ACCEL) assert.equal(await resolveAccel('auto'), 'tcg');
    assert.equal(tapNameFor('i-0123abcd'), 'tap0123abcd');
  });

  it('boots, gets its DHCP address and reports it on the console', async () => {
    const t0 = Date.now();
    const { pid } = await launchVm(spec);
    assert.ok(pid > 1);
    const again = await launchVm(spec); // idempotent
    assert.equal(again.pid, pid);
    const m = await waitForConsoleMarker(spec.runDir, /EUCA-BOOT-OK ip=(\S+) hostname=(\S+)/, BOOT_TIMEOUT);
    const ms = Date.now() - t0;
    console.log(`# boot (launch -> EUCA-BOOT-OK) took ${ms} ms under ${await resolveAccel(spec.accel)}`);
    assert.equal(m[1], VM_IP);
    assert.equal(m[2], 'vmtest');
    assert.equal(await vmStatus(spec), 'running');
    assert.deepEqual(await listVms(path.dirname(path.dirname(spec.runDir))), [instanceId]);
    // the tap sits in the bridge inside the namespace
    const link = await sh('ip', ['-n', NS, '-o', 'link', 'show', 'dev', spec.tapName]);
    assert.match(link, new RegExp(`master ${BRIDGE}`));
    // the guest answers ping from the namespace
    // (up to 5 tries: under TCG the guest is busy right after its marker, a single echo can be late)
    let answered = false;
    for (let i = 0; i < 5 && !answered; i++) {
      answered = await sh('ip', ['netns', 'exec', NS, 'busybox', 'ping', '-c', '1', '-W', '3', VM_IP]).then(() => true, () => false);
    }
    assert.ok(answered, `${VM_IP} answered no ping within 5 tries`);
    // no user-data server: boot did not wait for it forever, and printed no block
    assert.doesNotMatch(await readConsole(spec.runDir), /EUCA-USERDATA-BEGIN/);
  });

  it('reboots (marker appears a second time)', async () => {
    const off = await consoleOffset(spec.runDir);
    const t0 = Date.now();
    await rebootVm(spec);
    await waitForConsoleMarker(spec.runDir, /EUCA-BOOT-OK ip=10\.250\.9\.50/, BOOT_TIMEOUT, undefined, {
      fromOffset: off,
    });
    console.log(`# reboot took ${Date.now() - t0} ms`);
    const all = await readConsole(spec.runDir);
    assert.equal(all.match(/EUCA-BOOT-OK/g)?.length, 2);
  });

  it('powers down via ACPI', async () => {
    const t0 = Date.now();
    await powerdownVm(spec, 15_000);
    const ms = Date.now() - t0;
    console.log(`# powerdown took ${ms} ms`);
    assert.equal(await vmStatus(spec), 'absent');
    assert.match(await readConsole(spec.runDir), /EUCA-POWERDOWN/, 'guest handled the ACPI button');
    await powerdownVm(spec); // idempotent
  });

  it('launches again (now with a user-data server), then destroy leaves no process and no tap', async () => {
    // a stand-in metadata server on 169.254.169.254:80 inside the namespace
    const www = path.join(tmp, 'www');
    await fs.mkdir(path.join(www, 'latest'), { recursive: true });
    await fs.writeFile(path.join(www, 'latest', 'user-data'), '#!/bin/sh\necho "hello from $(hostname)"\n');
    await sh('ip', ['-n', NS, 'addr', 'add', '169.254.169.254/32', 'dev', BRIDGE]);
    await sh('ip', ['netns', 'exec', NS, 'busybox', 'httpd', '-p', '169.254.169.254:80', '-h', www]);
    await launchVm(spec);
    await waitForConsoleMarker(spec.runDir, /EUCA-BOOT-OK/, BOOT_TIMEOUT);
    const ud = await waitForConsoleMarker(spec.runDir, /EUCA-USERDATA-BEGIN\r?\n([^]*?)EUCA-USERDATA-END/, 20_000);
    assert.match(ud[1], /hello from vmtest/);
    assert.equal(await vmStatus(spec), 'running');
    await destroyVm(spec);
    assert.equal(await vmStatus(spec), 'absent');
    assert.deepEqual(await listVms(path.dirname(path.dirname(spec.runDir))), []);
    await assert.rejects(sh('ip', ['-n', NS, 'link', 'show', 'dev', spec.tapName]));
    // console.log kept for GetConsoleOutput, the rest removed
    const left = (await fs.readdir(spec.runDir)).sort();
    assert.ok(left.includes('console.log'));
    assert.ok(!left.includes('qmp.sock') && !left.includes('qemu.pid'));
    assert.match(await readConsole(spec.runDir), /EUCA-BOOT-OK/);
    await destroyVm(spec); // idempotent
    await sleep(10);
  });
});
