// Small helpers the benchmarks share: order statistics, a report line, and a TCP probe
// from the host (root namespace), which stands for the outside world in the default cloud.
import net from 'node:net';
import { DescribeInstancesCommand, GetConsoleOutputCommand, type EC2Client } from '@aws-sdk/client-ec2';

export const sleep = (n: number) => new Promise((r) => setTimeout(r, n));

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

export function report(name: string, xs: number[]) {
  console.log(`${name.padEnd(48)} median ${median(xs).toFixed(0).padStart(5)} ms   p90 ${pct(xs, 0.9).toFixed(0).padStart(5)} ms   min ${Math.min(...xs)}  max ${Math.max(...xs)}  (n=${xs.length})`);
}

/**
 * Probes `ip` every 10 ms with a TCP SYN to `port` from the root namespace. With `listening`
 * (a guest has a server on the port) only an accepted connection is an answer: a reset may be
 * the CC's security-group reject. Without it, a reset (the peer kernel's) is an answer too.
 * Silence is anything else within 100 ms. Resolves with ms since `t0` at the first answer (or
 * the first silence when `until` is 'silent').
 */
export async function probe(ip: string, t0: number, until: 'answer' | 'silent', opts: { port?: number; listening?: boolean; timeoutMs?: number } = {}): Promise<number> {
  const { port = 9, listening = false, timeoutMs = 10_000 } = opts;
  const once = () => new Promise<boolean>((resolve) => {
    const s = net.connect({ host: ip, port });
    const end = (v: boolean) => { clearTimeout(t); s.destroy(); resolve(v); };
    const t = setTimeout(() => end(false), 100);
    s.once('connect', () => end(true));
    s.once('error', (e: NodeJS.ErrnoException) => end(!listening && e.code === 'ECONNREFUSED'));
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await once();
    if (ok === (until === 'answer')) return Date.now() - t0;
    if (!ok) continue; // a timeout already waited 100 ms
    await sleep(10);
  }
  throw new Error(`${ip}: no ${until} within ${timeoutMs} ms`);
}

/** Waits until the instance is running; throws if it ends terminated. */
export async function waitRunning(ec2: EC2Client, instanceId: string): Promise<void> {
  for (;;) {
    const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const s = d.Reservations?.[0]?.Instances?.[0]?.State?.Name;
    if (s === 'running') return;
    if (s === 'terminated' || s === 'shutting-down') throw new Error(`${instanceId} ${s} while launching`);
    await sleep(1000);
  }
}

/** User-data that makes the test guest listen on a TCP port (busybox httpd), for probes that need a real answer. */
export const listenUserData = (port: number) => Buffer.from(`#!/bin/sh\nhttpd -p ${port} -h /tmp && echo BENCH-LISTENING-${port}\n`).toString('base64');

/** Waits until the instance's console shows `marker` (e.g. what listenUserData prints). */
export async function waitConsole(ec2: EC2Client, instanceId: string, marker: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const o = await ec2.send(new GetConsoleOutputCommand({ InstanceId: instanceId }));
    if (Buffer.from(o.Output ?? '', 'base64').toString().includes(marker)) return;
    await sleep(1000);
  }
  throw new Error(`${instanceId}: no "${marker}" on the console within ${timeoutMs} ms`);
}
