// Thin helpers around iproute2 / other commands. Always argument arrays, never a shell.
import { execFile } from 'node:child_process';

export class CommandError extends Error {
  constructor(
    public readonly cmd: string,
    public readonly args: string[],
    public readonly code: number | string | null,
    public readonly stderr: string,
    public readonly stdout: string,
  ) {
    super(`${cmd} ${args.join(' ')} failed (${code}): ${stderr.trim() || stdout.trim()}`);
    this.name = 'CommandError';
  }
}

export interface RunOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  input?: string;
}

/** Run a command with an argument array; resolves to stdout, rejects with CommandError. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024, env: opts.env ?? process.env, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException & { code?: number | string }).code ?? null;
          reject(new CommandError(cmd, args, code, String(stderr ?? ''), String(stdout ?? '')));
        } else {
          resolve(String(stdout));
        }
      },
    );
    if (opts.input !== undefined && child.stdin) {
      // A command that exits before reading its input (it failed, or is missing) makes the
      // write fail with EPIPE; the exit status reports the failure, so the write error is
      // dropped here instead of crashing the worker as an unhandled 'error' event.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
  });
}

/** `ip [-n NS] args...` ; ns null = root namespace. */
export function ip(ns: string | null, args: string[]): Promise<string> {
  return run('ip', ns ? ['-n', ns, ...args] : args);
}

/** `ip -j [-d] [-n NS] args...` parsed as JSON (empty output => []). */
export async function ipJson<T = any>(ns: string | null, args: string[], details = false): Promise<T[]> {
  const pre = ['-j', ...(details ? ['-d'] : [])];
  const out = await run('ip', ns ? [...pre, '-n', ns, ...args] : [...pre, ...args]);
  const t = out.trim();
  if (!t) return [];
  return JSON.parse(t) as T[];
}

/** `bridge [-n NS] args...` */
export function bridgeCmd(ns: string | null, args: string[], json = false): Promise<string> {
  const pre = json ? ['-j'] : [];
  return run('bridge', ns ? [...pre, '-n', ns, ...args] : [...pre, ...args]);
}

/** `ip netns exec NS cmd args...` */
export function nsExec(ns: string, cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

export interface LinkInfo {
  ifname: string;
  ifindex: number;
  mtu?: number;
  operstate?: string;
  flags?: string[];
  master?: string;
  address?: string;
  link?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, any>; info_slave_kind?: string };
  [k: string]: any;
}

/** Link details or null when it does not exist. */
export async function getLink(ns: string | null, name: string): Promise<LinkInfo | null> {
  try {
    const r = await ipJson<LinkInfo>(ns, ['link', 'show', 'dev', name], true);
    return r[0] ?? null;
  } catch (e) {
    if (e instanceof CommandError && /does not exist|Cannot find device/i.test(e.stderr)) return null;
    throw e;
  }
}

export async function listLinks(ns: string | null): Promise<LinkInfo[]> {
  return ipJson<LinkInfo>(ns, ['link', 'show']);
}

/** IPv4 addresses (`a.b.c.d/len`) configured on a device. */
export async function ipv4Addrs(ns: string | null, dev: string): Promise<string[]> {
  const r = await ipJson<{ addr_info?: { family: string; local: string; prefixlen: number }[] }>(ns, [
    '-4', 'addr', 'show', 'dev', dev,
  ]);
  const out: string[] = [];
  for (const l of r) for (const a of l.addr_info ?? []) if (a.family === 'inet') out.push(`${a.local}/${a.prefixlen}`);
  return out;
}

export async function listNetns(): Promise<string[]> {
  const out = await run('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n): n is string => !!n);
}

export async function netnsExists(ns: string): Promise<boolean> {
  return (await listNetns()).includes(ns);
}

// ---- IPv4 arithmetic ----
export function ipToInt(ipStr: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ipStr);
  if (!m) throw new Error(`bad IPv4 address: ${ipStr}`);
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) throw new Error(`bad IPv4 address: ${ipStr}`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Cidr {
  network: string;
  prefixLen: number;
  netmask: string;
  first: number; // network address as int
  size: number;
}

export function parseCidr(cidr: string): Cidr {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  if (!m) throw new Error(`bad CIDR: ${cidr}`);
  const len = Number(m[2]);
  if (len > 32) throw new Error(`bad CIDR: ${cidr}`);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const first = (ipToInt(m[1]!) & mask) >>> 0;
  return { network: intToIp(first), prefixLen: len, netmask: intToIp(mask), first, size: 2 ** (32 - len) };
}

export function isIpv4(s: string): boolean {
  try {
    ipToInt(s);
    return true;
  } catch {
    return false;
  }
}

export const IFNAME_MAX = 15;
export function checkIfname(name: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) throw new Error(`bad interface name: ${name}`);
  return name;
}
