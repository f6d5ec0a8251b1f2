// Process helpers: read /proc safely, stop processes we own.
import { promises as fs } from 'node:fs';
import { run } from './ip';

export async function readCmdline(pid: number): Promise<string[] | null> {
  try {
    const raw = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
    if (!raw) return null; // zombie / kernel thread
    return raw.split('\0').filter((s, i, a) => !(i === a.length - 1 && s === ''));
  } catch {
    return null;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when the process is gone or a zombie. */
async function isGone(pid: number): Promise<boolean> {
  try {
    const st = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    const state = st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

export async function readPidFile(path: string): Promise<number | null> {
  try {
    const n = Number((await fs.readFile(path, 'utf8')).trim());
    return Number.isInteger(n) && n > 1 ? n : null;
  } catch {
    return null;
  }
}

/** Inode identity of a process's network namespace ("dev:ino"), or null. */
export async function procNetnsId(pid: number): Promise<string | null> {
  try {
    const st = await fs.stat(`/proc/${pid}/ns/net`);
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}

export async function namedNetnsId(ns: string): Promise<string | null> {
  try {
    const st = await fs.stat(`/var/run/netns/${ns}`);
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}

/** SIGTERM, wait up to graceMs, then SIGKILL; resolves when gone. */
export async function stopPid(pid: number, graceMs = 2000): Promise<void> {
  const send = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  };
  if (await isGone(pid)) return;
  send('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (await isGone(pid)) return;
    await sleep(25);
  }
  send('SIGKILL');
  const d2 = Date.now() + 2000;
  while (Date.now() < d2) {
    if (await isGone(pid)) return;
    await sleep(25);
  }
}

/** Pids of processes running inside a named network namespace (`ip netns pids`). */
export async function netnsPids(ns: string): Promise<number[]> {
  try {
    const out = await run('ip', ['netns', 'pids', ns]);
    return out
      .split(/\s+/)
      .map(Number)
      .filter((n) => Number.isInteger(n) && n > 1 && n !== process.pid);
  } catch {
    return [];
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
