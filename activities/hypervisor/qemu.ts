// QEMU driver: one qemu-system-x86_64 process per instance, run inside the NC
// host's network namespace, daemonized (a crashed agent never takes its VMs
// down), controlled over QMP at <runDir>/qmp.sock.
//
// Every function is idempotent and keeps no in-memory state beyond a cache of
// the accelerator choice: the truth is the pidfile + /proc/<pid>/cmdline
// (which names the instance via `-name <instanceId>`) + QMP.
//
// Accelerator: on these machines /dev/kvm exists but KVM guests hang at boot,
// so 'auto' resolves to 'tcg' unless the environment says EUCA_ACCEL=kvm
// (or EUCA_ACCEL=tcg). No probe is run: a probe boot would cost seconds per
// process and a hang is hard to tell from a slow boot.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { qmpExecute, QmpError } from './qmp';

export type Accel = 'kvm' | 'tcg' | 'auto';

export interface VmSpec {
  instanceId: string; // i-xxxxxxxx
  netns: string; // network namespace of the NC host, e.g. euca-nc1
  runDir: string; // holds qmp.sock, console.log, qemu.pid
  vcpus: number;
  memoryMiB: number;
  kernelPath: string;
  initrdPath: string;
  /** an optional root disk from the image cache; attached read-only-backed (snapshot=on: writes never reach the cached file) */
  diskPath?: string;
  diskFormat?: 'raw' | 'qcow2';
  cmdline?: string;
  mac: string; // d0:0d:xx:xx:xx:xx
  tapName: string; // tap<8hex>, see tapNameFor()
  bridge: string; // bridge in the netns the tap joins, e.g. vb1000
  accel: Accel;
}

export type VmRef = Pick<VmSpec, 'instanceId' | 'runDir'>;
export type VmState = 'running' | 'paused' | 'shutdown' | 'absent';

export const DEFAULT_CMDLINE = 'console=ttyS0 panic=-1 quiet';
export const QEMU_BINARY = process.env.EUCA_QEMU ?? 'qemu-system-x86_64';

const PIDFILE = 'qemu.pid';
const QMP_SOCK = 'qmp.sock';
const CONSOLE = 'console.log';
const CONSOLE_PREV = 'console.log.prev';

export class VmNotRunningError extends Error {
  constructor(instanceId: string) {
    super(`VM ${instanceId} is not running`);
    this.name = 'VmNotRunningError';
  }
}

// ---------------------------------------------------------------- helpers

const INSTANCE_RE = /^i-[0-9a-f]{8}$/;
const TAP_RE = /^tap[0-9a-f]{8}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const NETNS_RE = /^[A-Za-z0-9_.-]{1,64}$/;

function checkInstanceId(id: string): void {
  if (!INSTANCE_RE.test(id)) throw new Error(`bad instance id ${JSON.stringify(id)}`);
}

function checkSpec(spec: VmSpec): void {
  checkInstanceId(spec.instanceId);
  if (!TAP_RE.test(spec.tapName)) throw new Error(`bad tap name ${JSON.stringify(spec.tapName)}`);
  if (!MAC_RE.test(spec.mac.toLowerCase())) throw new Error(`bad mac ${JSON.stringify(spec.mac)}`);
  if (!IFNAME_RE.test(spec.bridge)) throw new Error(`bad bridge name ${JSON.stringify(spec.bridge)}`);
  if (!NETNS_RE.test(spec.netns)) throw new Error(`bad netns ${JSON.stringify(spec.netns)}`);
  if (!(spec.vcpus >= 1 && Number.isInteger(spec.vcpus))) throw new Error(`bad vcpus ${spec.vcpus}`);
  if (!(spec.memoryMiB >= 32 && Number.isInteger(spec.memoryMiB))) throw new Error(`bad memoryMiB ${spec.memoryMiB}`);
  // sun_path is 108 bytes
  if (Buffer.byteLength(path.resolve(spec.runDir, QMP_SOCK)) > 107) {
    throw new Error(`runDir too long for a unix socket path: ${spec.runDir}`);
  }
}

interface ExecResult {
  stdout: string;
  stderr: string;
}

class ExecError extends Error {
  constructor(
    public readonly cmd: string,
    public readonly args: string[],
    public readonly code: number | string | null,
    public readonly stderr: string,
  ) {
    super(`${cmd} ${args.join(' ')} failed (${code}): ${stderr.trim()}`);
    this.name = 'ExecError';
  }
}

function run(cmd: string, args: string[], timeoutMs = 30000): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException & { code?: number | string }).code ?? null;
        reject(new ExecError(cmd, args, code, String(stderr || err.message)));
      } else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Escape a value for a QEMU option string (commas are doubled). */
function qopt(v: string): string {
  return v.replace(/,/g, ',,');
}

async function readPidfile(runDir: string): Promise<number | null> {
  try {
    const n = parseInt((await fs.readFile(path.join(runDir, PIDFILE), 'utf8')).trim(), 10);
    return Number.isInteger(n) && n > 1 ? n : null;
  } catch {
    return null;
  }
}

/** argv of a live (non-zombie) process, or null. */
async function procArgv(pid: number): Promise<string[] | null> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return null;
    const raw = await fs.readFile(`/proc/${pid}/cmdline`);
    if (raw.length === 0) return null;
    return raw.toString('utf8').replace(/\0$/, '').split('\0');
  } catch {
    return null;
  }
}

function isOurQemu(argv: string[] | null, instanceId: string): boolean {
  if (!argv || argv.length === 0) return false;
  if (!path.basename(argv[0]).startsWith('qemu-system')) return false;
  const i = argv.indexOf('-name');
  return i >= 0 && argv[i + 1] === instanceId;
}

/**
 * PID of this instance's live qemu, or null. Pidfile first; if that does not
 * point at our qemu, scan /proc (covers a pidfile lost to a crash).
 */
async function findQemuPid(ref: VmRef): Promise<number | null> {
  // Ours = this instance AND this host's run dir: on one machine standing for
  // several hosts, the same instance may have a stray VM on another (dead) node.
  const pidfile = path.join(ref.runDir, PIDFILE);
  const ours = (argv: string[] | null) => isOurQemu(argv, ref.instanceId) && !!argv && argv.includes(pidfile);
  const pid = await readPidfile(ref.runDir);
  if (pid && ours(await procArgv(pid))) return pid;
  let entries: string[];
  try {
    entries = await fs.readdir('/proc');
  } catch {
    return null;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const p = parseInt(e, 10);
    if (ours(await procArgv(p))) return p;
  }
  return null;
}

/**
 * Waits until the process is gone or the guest has powered off (QEMU, run with
 * -no-shutdown, then stays in the 'shutdown' run state). true: one of them within timeoutMs.
 */
async function waitGoneOrOff(ref: VmRef, pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isOurQemu(await procArgv(pid), ref.instanceId)) return true;
    try {
      const r = await qmpExecute<{ status: string }>(qmpPath(ref.runDir), 'query-status', undefined, 1000);
      if (r.status === 'shutdown') return true;
    } catch {
      /* exiting, or QMP busy: look again */
    }
    if (Date.now() >= deadline) return false;
    await sleep(250);
  }
}

async function waitGone(pid: number, instanceId: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isOurQemu(await procArgv(pid), instanceId)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
}

function qmpPath(runDir: string): string {
  return path.join(runDir, QMP_SOCK);
}

async function rmQuiet(p: string): Promise<void> {
  await fs.rm(p, { force: true, recursive: true }).catch(() => undefined);
}

/** Remove per-run files once the process is confirmed gone. */
async function cleanRunFiles(runDir: string): Promise<void> {
  await rmQuiet(path.join(runDir, QMP_SOCK));
  await rmQuiet(path.join(runDir, PIDFILE));
}

async function tapExists(netns: string, tap: string): Promise<boolean> {
  try {
    await run('ip', ['-n', netns, 'link', 'show', 'dev', tap]);
    return true;
  } catch {
    return false;
  }
}

async function ensureTap(spec: VmSpec): Promise<void> {
  if (!(await tapExists(spec.netns, spec.tapName))) {
    try {
      await run('ip', ['-n', spec.netns, 'tuntap', 'add', 'dev', spec.tapName, 'mode', 'tap']);
    } catch (e) {
      if (!(await tapExists(spec.netns, spec.tapName))) throw e; // lost a race otherwise
    }
  }
  await run('ip', ['-n', spec.netns, 'link', 'set', 'dev', spec.tapName, 'master', spec.bridge]);
  // An isolated port: the guest reaches only the uplink (VXLAN to the CC), never another tap directly.
  await run('ip', ['-n', spec.netns, 'link', 'set', 'dev', spec.tapName, 'type', 'bridge_slave', 'isolated', 'on']);
  await run('ip', ['-n', spec.netns, 'link', 'set', 'dev', spec.tapName, 'up']);
}

async function removeTap(netns: string, tap: string): Promise<void> {
  if (!(await tapExists(netns, tap))) return;
  try {
    await run('ip', ['-n', netns, 'link', 'del', 'dev', tap]);
  } catch (e) {
    if (await tapExists(netns, tap)) throw e;
  }
}

// Serializes operations on one instance within this process (an instance's
// activities all run on its NC's worker). Across processes, qemu's own
// pidfile lock stops a second qemu of the same instance.
const locks = new Map<string, Promise<unknown>>();
function withLock<T>(instanceId: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(instanceId) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(fn);
  const tail = next.catch(() => undefined);
  locks.set(instanceId, tail);
  void tail.then(() => {
    if (locks.get(instanceId) === tail) locks.delete(instanceId);
  });
  return next;
}

// ---------------------------------------------------------------- API

/** tap<8hex> for instance i-<8hex> (fits IFNAMSIZ). */
export function tapNameFor(instanceId: string): string {
  checkInstanceId(instanceId);
  return 'tap' + instanceId.slice(2);
}

/**
 * 'kvm' and 'tcg' are taken as given. 'auto' is 'tcg' unless EUCA_ACCEL is
 * 'kvm' (or 'tcg'): /dev/kvm exists on these machines but KVM guests hang at
 * boot, so KVM is opt-in only.
 */
export async function resolveAccel(accel: Accel): Promise<'kvm' | 'tcg'> {
  if (accel === 'kvm' || accel === 'tcg') return accel;
  const env = (process.env.EUCA_ACCEL ?? '').toLowerCase();
  if (env === 'kvm') return 'kvm';
  return 'tcg';
}

/** Full qemu argv (without the binary) for a spec. Exported for tests/logging. */
export function qemuArgs(spec: VmSpec, accel: 'kvm' | 'tcg'): string[] {
  const runDir = path.resolve(spec.runDir);
  return [
    '-name', spec.instanceId,
    '-machine', 'q35',
    '-accel', accel,
    '-cpu', accel === 'kvm' ? 'host' : 'max',
    '-smp', String(spec.vcpus),
    '-m', String(spec.memoryMiB),
    '-nodefaults',
    '-no-user-config',
    '-display', 'none',
    '-kernel', path.resolve(spec.kernelPath),
    '-initrd', path.resolve(spec.initrdPath),
    '-append', spec.cmdline ?? DEFAULT_CMDLINE,
    ...(spec.diskPath ? ['-drive', `file=${qopt(path.resolve(spec.diskPath))},format=${spec.diskFormat ?? 'raw'},if=virtio,snapshot=on`] : []),
    '-chardev', `file,id=con0,path=${qopt(path.join(runDir, CONSOLE))}`,
    '-serial', 'chardev:con0',
    '-qmp', `unix:${qopt(qmpPath(runDir))},server=on,wait=off`,
    '-netdev', `tap,id=net0,ifname=${spec.tapName},script=no,downscript=no`,
    '-device', `virtio-net-pci,netdev=net0,mac=${spec.mac.toLowerCase()}`,
    '-pidfile', path.join(runDir, PIDFILE),
    // A guest that powers itself off leaves QEMU running in the 'shutdown' run
    // state (vmStatus 'shutdown') instead of exiting: the node's agent tells that
    // apart from a VM that is merely gone and applies the instance's
    // InstanceInitiatedShutdownBehavior (guestWatch.ts). We quit it ourselves.
    '-no-shutdown',
    '-daemonize',
  ];
}

/**
 * Start the VM unless it already runs. Creates the tap (in spec.netns, joined
 * to spec.bridge) when missing. A fresh start moves the previous console.log
 * to console.log.prev so markers of an earlier run are not mistaken for new.
 */
export async function launchVm(spec: VmSpec): Promise<{ pid: number }> {
  checkSpec(spec);
  return withLock(spec.instanceId, () => launchLocked(spec));
}

async function launchLocked(spec: VmSpec): Promise<{ pid: number }> {
  const existing = await findQemuPid(spec);
  if (existing) return { pid: existing };

  await fs.mkdir(spec.runDir, { recursive: true });
  await ensureTap(spec);
  await cleanRunFiles(spec.runDir);
  const con = path.join(spec.runDir, CONSOLE);
  await fs.rename(con, path.join(spec.runDir, CONSOLE_PREV)).catch(() => undefined);

  const accel = await resolveAccel(spec.accel);
  try {
    await run('ip', ['netns', 'exec', spec.netns, QEMU_BINARY, ...qemuArgs(spec, accel)], 60000);
  } catch (e) {
    // Maybe a concurrent launch won (pidfile lock / tap busy): accept it.
    const pid = await findQemuPid(spec);
    if (pid) return { pid };
    throw e;
  }
  const pid = await findQemuPid(spec);
  if (!pid) throw new Error(`qemu for ${spec.instanceId} exited right after start; see ${con}`);
  return { pid };
}

/** 'absent' when no qemu process of this instance is alive. */
export async function vmStatus(spec: VmRef): Promise<VmState> {
  checkInstanceId(spec.instanceId);
  const pid = await findQemuPid(spec);
  if (!pid) return 'absent';
  let status: string;
  try {
    const r = await qmpExecute<{ status: string; running: boolean }>(qmpPath(spec.runDir), 'query-status');
    status = r.status;
  } catch (e) {
    // Process may have exited while we asked.
    if (!(await findQemuPid(spec))) return 'absent';
    throw e;
  }
  switch (status) {
    case 'running':
      return 'running';
    case 'shutdown':
    case 'guest-panicked':
    case 'internal-error':
    case 'io-error':
      return 'shutdown';
    default:
      // paused, prelaunch, suspended, inmigrate, postmigrate, finish-migrate, restore-vm, save-vm, debug, watchdog, colo
      return 'paused';
  }
}

async function quitAndKill(ref: VmRef, pid: number, quitWaitMs: number): Promise<void> {
  try {
    await qmpExecute(qmpPath(ref.runDir), 'quit', undefined, 2000);
  } catch {
    /* connection drops as qemu exits, or qmp is stuck: fall through */
  }
  if (await waitGone(pid, ref.instanceId, quitWaitMs)) return;
  // Re-verify identity right before signalling.
  if (isOurQemu(await procArgv(pid), ref.instanceId)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (!(await waitGone(pid, ref.instanceId, 5000))) {
    throw new Error(`qemu ${pid} of ${ref.instanceId} survived SIGKILL`);
  }
}

/**
 * ACPI power button; waits for the guest to power off. After timeoutMs,
 * QMP quit, then SIGKILL. No-op when absent.
 */
export async function powerdownVm(spec: VmRef, timeoutMs = 15000): Promise<void> {
  checkInstanceId(spec.instanceId);
  return withLock(spec.instanceId, () => powerdownLocked(spec, timeoutMs));
}

async function powerdownLocked(spec: VmRef, timeoutMs: number): Promise<void> {
  const pid = await findQemuPid(spec);
  if (!pid) {
    await cleanRunFiles(spec.runDir);
    return;
  }
  try {
    await qmpExecute(qmpPath(spec.runDir), 'system_powerdown', undefined, 3000);
  } catch (e) {
    if (!(e instanceof QmpError)) throw e;
    /* unreachable QMP: fall through to quit/kill after the wait */
  }
  // The guest powered off (the QEMU process stays, -no-shutdown) or did not in
  // time: either way QMP quit, then SIGKILL.
  await waitGoneOrOff(spec, pid, timeoutMs);
  if (isOurQemu(await procArgv(pid), spec.instanceId)) await quitAndKill(spec, pid, 3000);
  await cleanRunFiles(spec.runDir);
}

/** Hard reset (QMP system_reset); the guest boots again from -kernel. */
export async function rebootVm(spec: VmRef): Promise<void> {
  checkInstanceId(spec.instanceId);
  const pid = await findQemuPid(spec);
  if (!pid) throw new VmNotRunningError(spec.instanceId);
  await qmpExecute(qmpPath(spec.runDir), 'system_reset');
}

/**
 * Kill the VM (QMP quit, then SIGKILL by verified pid), remove its tap and its
 * run files. console.log (and console.log.prev) are kept for
 * GetConsoleOutput unless opts.purge, which removes the whole runDir.
 */
export async function destroyVm(
  spec: Pick<VmSpec, 'instanceId' | 'runDir' | 'netns' | 'tapName'>,
  opts: { purge?: boolean } = {},
): Promise<void> {
  checkInstanceId(spec.instanceId);
  if (!TAP_RE.test(spec.tapName)) throw new Error(`bad tap name ${JSON.stringify(spec.tapName)}`);
  if (!NETNS_RE.test(spec.netns)) throw new Error(`bad netns ${JSON.stringify(spec.netns)}`);
  return withLock(spec.instanceId, () => destroyLocked(spec, opts));
}

async function destroyLocked(spec: Pick<VmSpec, 'instanceId' | 'runDir' | 'netns' | 'tapName'>, opts: { purge?: boolean }): Promise<void> {
  const pid = await findQemuPid(spec);
  if (pid) await quitAndKill(spec, pid, 3000);
  await removeTap(spec.netns, spec.tapName).catch(async (e) => {
    // A vanished namespace means the tap is gone too.
    const list = await run('ip', ['netns', 'list']).catch(() => ({ stdout: '', stderr: '' }));
    if (list.stdout.split('\n').some((l) => l.split(' ')[0] === spec.netns)) throw e;
  });
  if (opts.purge) {
    await rmQuiet(spec.runDir);
    return;
  }
  let entries: string[] = [];
  try {
    entries = await fs.readdir(spec.runDir);
  } catch {
    return;
  }
  for (const e of entries) {
    if (e === CONSOLE || e === CONSOLE_PREV) continue;
    await rmQuiet(path.join(spec.runDir, e));
  }
}

/** Last maxBytes of console.log, '' if none. */
export async function readConsole(runDir: string, maxBytes = 64 * 1024): Promise<string> {
  return (await readConsoleFrom(runDir, 0, maxBytes)).text;
}

/** Current size of console.log in bytes (0 if none): pass as fromOffset to wait for new output only. */
export async function consoleOffset(runDir: string): Promise<number> {
  try {
    return (await fs.stat(path.join(runDir, CONSOLE))).size;
  } catch {
    return 0;
  }
}

async function readConsoleFrom(runDir: string, from: number, maxBytes: number): Promise<{ text: string }> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(path.join(runDir, CONSOLE), 'r');
  } catch {
    return { text: '' };
  }
  try {
    const size = (await fh.stat()).size;
    const start = Math.max(from, size - maxBytes, 0);
    const len = Math.max(0, size - start);
    if (len === 0) return { text: '' };
    const buf = Buffer.alloc(len);
    const { bytesRead } = await fh.read(buf, 0, len, start);
    return { text: buf.subarray(0, bytesRead).toString('utf8') };
  } finally {
    await fh.close();
  }
}

/**
 * Poll console.log every 250 ms until pattern matches; calls onTick on each
 * poll (callers heartbeat there). opts.fromOffset (see consoleOffset) limits
 * the search to output written after that byte. Throws on timeout.
 */
export async function waitForConsoleMarker(
  runDir: string,
  pattern: RegExp,
  timeoutMs: number,
  onTick?: () => void,
  opts: { fromOffset?: number } = {},
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  const re = new RegExp(pattern.source, pattern.flags.replace('g', ''));
  for (;;) {
    onTick?.();
    const { text } = await readConsoleFrom(runDir, opts.fromOffset ?? 0, 1024 * 1024);
    const m = text.match(re);
    if (m) return m;
    if (Date.now() >= deadline) {
      throw new Error(`console marker ${pattern} not seen in ${runDir} within ${timeoutMs} ms`);
    }
    await sleep(250);
  }
}

/**
 * Instance ids with a live qemu under <hostRunRoot>/vms/*: one scan of /proc
 * for qemu processes whose -name is an instance id and whose -pidfile lies in
 * <hostRunRoot>/vms/<that id>/ (so it also finds a VM whose pidfile was lost).
 */
export async function listVms(hostRunRoot: string): Promise<string[]> {
  const vmsDir = path.resolve(hostRunRoot, 'vms');
  let entries: string[];
  try {
    entries = await fs.readdir('/proc');
  } catch {
    return [];
  }
  const out = new Set<string>();
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const argv = await procArgv(parseInt(e, 10));
    if (!argv || !path.basename(argv[0]).startsWith('qemu-system')) continue;
    const n = argv.indexOf('-name');
    const id = n >= 0 ? argv[n + 1] : undefined;
    if (!id || !INSTANCE_RE.test(id)) continue;
    const pf = argv.indexOf('-pidfile');
    if (pf >= 0 && argv[pf + 1] === path.join(vmsDir, id, PIDFILE)) out.add(id);
  }
  return [...out].sort();
}
