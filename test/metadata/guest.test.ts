// Real guest against the real metadata service. Needs root, iproute2, nftables,
// dnsmasq, qemu-system-x86, busybox. Everything lives in a private namespace
// eutm-<pid> standing for a CC: bridge vb77 with 10.251.7.1/24, dnsmasq with a fixed
// host, the metadata service (ensureMetadataService) and its redirect/guard
// (ensureMetadataRedirect). No traffic leaves that namespace.
//
//   node --import tsx --test test/metadata/guest.test.ts
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { destroyVm, launchVm, tapNameFor, waitForConsoleMarker, readConsole, type VmSpec } from '../../activities/hypervisor/qemu';
import {
  ensureMetadataRedirect,
  ensureMetadataService,
  listMetadataRedirects,
  metadataServicePid,
  putInstanceMetadata,
  removeMetadataFirewall,
  removeMetadataRedirect,
  stopMetadataService,
  type InstanceMetadataDoc,
} from '../../activities/network/metadata';

const REPO = path.resolve(__dirname, '..', '..');
const IMAGE_DIR = path.join(process.env.EUCA_HOME ?? path.join(REPO, '.cloud'), 'images', 'test-guest');
const NS = `eutm-${process.pid}`;
const VNI = 77;
const BRIDGE = `vb${VNI}`;
const GW = '10.251.7.1';
const VM_IP = '10.251.7.50';
const OTHER_IP = '10.199.77.2'; // a second address of the "CC" (stands for its underlay address)
const PORT = 8775;
const BOOT_TIMEOUT = 120_000;

function sh(cmd: string, args: string[], timeout = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(String(stdout));
    });
  });
}
const shq = (cmd: string, args: string[]) => sh(cmd, args).catch(() => '');
const kill = (pid: number | undefined, sig: NodeJS.Signals = 'SIGTERM') => {
  if (!pid) return;
  try { process.kill(pid, sig); } catch { /* gone */ }
};

async function killNetns(ns: string): Promise<void> {
  for (const p of (await shq('ip', ['netns', 'pids', ns])).split(/\s+/).filter(Boolean).map(Number)) kill(p, 'SIGKILL');
  await shq('ip', ['netns', 'del', ns]);
}

/** Live processes whose command line names this state dir's metadata service. */
async function serversOf(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const e of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const c = await fs.readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    if (c.includes('metadata/server.ts') && c.includes(`--state-dir=${dir}`)) out.push(Number(e));
  }
  return out;
}

const instanceId = 'i-' + randomBytes(4).toString('hex');
const mac = 'd0:0d:' + [...randomBytes(4)].map((b) => b.toString(16).padStart(2, '0')).join(':');
let tmp = '';
let stateDir = '';
let spec: VmSpec | undefined;
const children: ChildProcess[] = [];

// What the guest runs (busybox 1.35: wget has --header but no --method, so the
// IMDSv2 token PUT is written by hand through nc).
const USER_DATA = `#!/bin/sh
MD=http://169.254.169.254
echo "V1-ID=$(wget -q -O - $MD/latest/meta-data/instance-id)"
echo "V1-IP=$(wget -q -O - $MD/latest/meta-data/local-ipv4)"
echo "V1-AZ=$(wget -q -O - $MD/2009-04-04/meta-data/placement/availability-zone)"
TOKEN=$(printf 'PUT /latest/api/token HTTP/1.0\\r\\nHost: 169.254.169.254\\r\\nX-aws-ec2-metadata-token-ttl-seconds: 60\\r\\n\\r\\n' | timeout 5 nc 169.254.169.254 80 | tr -d '\\r' | sed '1,/^$/d')
echo "TOKEN-LEN=\${#TOKEN}"
echo "V2-ID=$(wget -q -O - --header "X-aws-ec2-metadata-token: $TOKEN" $MD/latest/meta-data/instance-id)"
if wget -q -O - --header "X-aws-ec2-metadata-token: bogus$TOKEN" $MD/latest/meta-data/instance-id >/dev/null 2>&1; then echo "V2-BAD=accepted"; else echo "V2-BAD=refused"; fi
if wget -q -O - $MD/latest/meta-data/no-such-key >/dev/null 2>&1; then echo "NOKEY=200"; else echo "NOKEY=refused"; fi
for t in ${GW}:${PORT} ${GW}:2222 ${OTHER_IP}:2222 ${OTHER_IP}:${PORT} 169.254.169.254:${PORT}; do
  if timeout 6 nc -w 4 \${t%:*} \${t#*:} </dev/null >/dev/null 2>&1; then echo "REACH $t=open"; else echo "REACH $t=closed"; fi
done
if ping -c 1 -W 2 ${GW} >/dev/null 2>&1; then echo "PING-GW=open"; else echo "PING-GW=closed"; fi
`;

describe('metadata service: a real guest in a CC namespace', { timeout: 600_000 }, () => {
  before(async () => {
    for (const line of (await shq('ip', ['netns', 'list'])).split('\n')) {
      const name = line.split(' ')[0] ?? '';
      if (/^eutm-\d+$/.test(name)) await killNetns(name); // stale runs
    }
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'eutm-'));
    stateDir = path.join(tmp, 'cc');
    await sh('ip', ['netns', 'add', NS]);
    await sh('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    await sh('ip', ['-n', NS, 'link', 'add', BRIDGE, 'type', 'bridge']);
    await sh('ip', ['-n', NS, 'addr', 'add', `${GW}/24`, 'dev', BRIDGE]);
    await sh('ip', ['-n', NS, 'link', 'set', BRIDGE, 'up']);
    // stand-in for the CC's underlay interface, with a listener behind it
    await sh('ip', ['-n', NS, 'link', 'add', 'ul0', 'type', 'bridge']);
    await sh('ip', ['-n', NS, 'addr', 'add', `${OTHER_IP}/24`, 'dev', 'ul0']);
    await sh('ip', ['-n', NS, 'link', 'set', 'ul0', 'up']);
    const www = path.join(tmp, 'www');
    await fs.mkdir(www);
    await fs.writeFile(path.join(www, 'index.html'), 'control plane\n');
    const httpd = spawn('ip', ['netns', 'exec', NS, 'busybox', 'httpd', '-f', '-p', '0.0.0.0:2222', '-h', www], { stdio: 'ignore' });
    children.push(httpd);
    const dnsmasq = spawn(
      'ip',
      [
        'netns', 'exec', NS, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null',
        '--no-resolv', '--no-hosts', '--port=0', `--interface=${BRIDGE}`, '--bind-interfaces',
        '--except-interface=lo', '--dhcp-range=10.251.7.0,static,255.255.255.0,1h',
        `--dhcp-host=${mac},${VM_IP},mdtest`, `--dhcp-option=option:router,${GW}`,
        `--pid-file=${path.join(tmp, 'dnsmasq.pid')}`, `--dhcp-leasefile=${path.join(tmp, 'leases')}`,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    children.push(dnsmasq);
    await sh('bash', [path.join(REPO, 'guest-image', 'build.sh'), IMAGE_DIR], 600_000);
    spec = {
      instanceId, netns: NS, runDir: path.join(tmp, 'vms', instanceId), vcpus: 1, memoryMiB: 256,
      kernelPath: path.join(IMAGE_DIR, 'vmlinuz'), initrdPath: path.join(IMAGE_DIR, 'initrd.img'),
      mac, tapName: tapNameFor(instanceId), bridge: BRIDGE, accel: 'auto',
    };
  });

  after(async () => {
    if (spec) await destroyVm(spec, { purge: true }).catch(() => undefined);
    if (stateDir) await stopMetadataService(stateDir).catch(() => undefined);
    for (const c of children) kill(c.pid);
    await killNetns(NS);
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('service, redirect and guard are idempotent', async () => {
    const t0 = Date.now();
    const a = await ensureMetadataService(NS, stateDir, { port: PORT });
    console.log(`# metadata service start took ${Date.now() - t0} ms`);
    const t1 = Date.now();
    const b = await ensureMetadataService(NS, stateDir, { port: PORT });
    console.log(`# ensure on a live service took ${Date.now() - t1} ms`);
    assert.equal(b.pid, a.pid);
    assert.equal(await metadataServicePid(stateDir, NS, PORT), a.pid);
    assert.equal(await metadataServicePid(stateDir, NS, PORT + 1), null);

    await ensureMetadataRedirect(NS, VNI, '10.251.7.254'); // wrong first: corrected below
    await ensureMetadataRedirect(NS, VNI, GW);
    await ensureMetadataRedirect(NS, VNI, GW);
    await ensureMetadataRedirect(NS, 78, '10.251.8.1');
    assert.deepEqual(await listMetadataRedirects(NS), { vb77: GW, vb78: '10.251.8.1' });
    await removeMetadataRedirect(NS, 78);
    await removeMetadataRedirect(NS, 78);
    assert.deepEqual(await listMetadataRedirects(NS), { vb77: GW });
    const rules = await sh('ip', ['netns', 'exec', NS, 'nft', 'list', 'table', 'ip', 'euca_md']);
    assert.equal(rules.match(/dnat (ip )?to/g)?.length, 1, 'one DNAT rule whatever the number of networks');

    // the service answers on loopback inside the namespace (no network known there: 404)
    const r = await sh('ip', ['netns', 'exec', NS, 'busybox', 'wget', '-q', '-S', '-O', '-', `http://127.0.0.1:${PORT}/latest/meta-data/`])
      .catch((e: Error) => e.message);
    assert.match(r, /404/);
    // the listener that the guard must hide is really there
    assert.match(await sh('ip', ['netns', 'exec', NS, 'busybox', 'wget', '-q', '-O', '-', `http://${OTHER_IP}:2222/`]), /control plane/);
  });

  it('the guest reads its metadata (v1 and v2) and reaches nothing else', async () => {
    const doc: InstanceMetadataDoc = {
      instanceId, imageId: 'emi-7e570001', instanceType: 'm1.small', reservationId: 'r-7e570001', launchIndex: 0,
      accountId: '000000000001', region: 'local', zone: 'test-1a', privateIp: VM_IP, mac, hostname: 'ip-10-251-7-50',
      securityGroups: ['default'], userData: Buffer.from(USER_DATA).toString('base64'), launchedAt: new Date().toISOString(),
    };
    await putInstanceMetadata(stateDir, VNI, VM_IP, doc);
    const t0 = Date.now();
    await launchVm(spec!);
    await waitForConsoleMarker(spec!.runDir, /EUCA-BOOT-OK/, BOOT_TIMEOUT);
    const tBoot = Date.now() - t0;
    const m = await waitForConsoleMarker(spec!.runDir, /EUCA-USERDATA-BEGIN\r?\n([^]*?)EUCA-USERDATA-END/, 90_000);
    console.log(`# boot ${tBoot} ms, user-data script done ${Date.now() - t0} ms after launch`);
    const out = m[1]!.replace(/\r/g, '');
    console.log(out.split('\n').map((l) => `#   ${l}`).join('\n'));
    const kv = Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    assert.equal(kv['V1-ID'], instanceId);
    assert.equal(kv['V1-IP'], VM_IP);
    assert.equal(kv['V1-AZ'], 'test-1a');
    assert.ok(Number(kv['TOKEN-LEN']) > 20, `token: ${kv['TOKEN-LEN']}`);
    assert.equal(kv['V2-ID'], instanceId);
    assert.equal(kv['V2-BAD'], 'refused');
    assert.equal(kv['NOKEY'], 'refused');
    assert.equal(kv[`REACH ${GW}:${PORT}`], 'closed', 'service port only through the redirect');
    assert.equal(kv[`REACH ${GW}:2222`], 'closed');
    assert.equal(kv[`REACH ${OTHER_IP}:2222`], 'closed');
    assert.equal(kv[`REACH ${OTHER_IP}:${PORT}`], 'closed');
    assert.equal(kv[`REACH 169.254.169.254:${PORT}`], 'closed');
    assert.equal(kv['PING-GW'], 'closed');
    assert.doesNotMatch(await readConsole(spec!.runDir), /EUCA-NO-LEASE/);
  });

  it('stop and teardown leave nothing of ours behind', async () => {
    const pid = await metadataServicePid(stateDir);
    assert.ok(pid);
    await stopMetadataService(stateDir);
    await stopMetadataService(stateDir); // idempotent
    assert.equal(await metadataServicePid(stateDir), null);
    assert.deepEqual(await serversOf(stateDir), [], 'no service process of this state dir left');
    await removeMetadataFirewall(NS);
    await removeMetadataFirewall(NS);
    assert.deepEqual(await listMetadataRedirects(NS), {});
    // the service can come back (e.g. after a CC reboot) on the same state dir
    const again = await ensureMetadataService(NS, stateDir, { port: PORT });
    assert.ok(again.pid !== pid);
    assert.deepEqual(await serversOf(stateDir), [again.pid]);
    await stopMetadataService(stateDir);
    assert.deepEqual(await serversOf(stateDir), []);
  });
});
