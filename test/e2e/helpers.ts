// Shared helpers for end-to-end tests against the test cloud that `npm test` brings up.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { EC2Client, DescribeInstancesCommand, type Instance } from '@aws-sdk/client-ec2';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import mysql from 'mysql2/promise';

export const run = promisify(execFile);
export const env = process.env;
export const repo = path.resolve(__dirname, '../..');
export const home = env.EUCA_HOME ?? path.join(repo, '.cloud-test');
export const endpoint = env.EC2_URL ?? `http://127.0.0.1:${env.EUCA_API_PORT ?? 8783}/`;
export const region = env.AWS_DEFAULT_REGION ?? 'test-1';
export const imageId = env.EUCA_TEST_IMAGE ?? '';
export const prefix = env.EUCA_PREFIX ?? 'ecit';
export const stackUp = Boolean(env.EC2_URL && env.AWS_ACCESS_KEY_ID && env.EUCA_TEST_IMAGE);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Creds { accessKeyId: string; secretAccessKey: string }
export const adminCreds: Creds = { accessKeyId: env.AWS_ACCESS_KEY_ID ?? '', secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? '' };

export function ec2(creds: Creds = adminCreds) {
  return new EC2Client({ endpoint, region, credentials: creds, maxAttempts: 1 });
}

let pool: mysql.Pool | undefined;
export function db() {
  pool ??= mysql.createPool({ uri: env.MYSQL_URL ?? 'mysql://euca:euca@127.0.0.1:3317/eucacloud', connectionLimit: 2 });
  return pool;
}
export async function closeDb() { if (pool) { await pool.end(); pool = undefined; } }
export async function query<T = any>(sql: string, args: unknown[] = []): Promise<T[]> {
  const [rows] = await db().query(sql, args);
  return rows as T[];
}

/** The AWS CLI (v1 on this machine) against the test cloud; returns parsed JSON. */
export async function aws(args: string[], creds: Creds = adminCreds): Promise<any> {
  const { stdout } = await run('aws', ['--endpoint-url', endpoint, '--region', region, '--output', 'json', ...args], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey, AWS_MAX_ATTEMPTS: '1' },
    maxBuffer: 16 << 20,
  });
  return stdout.trim() ? JSON.parse(stdout) : {};
}
/** The AWS CLI expected to fail: returns its stderr. */
export async function awsFails(args: string[], creds: Creds = adminCreds): Promise<string> {
  try { await aws(args, creds); } catch (e: any) { return String(e.stderr ?? e.message); }
  throw new Error(`aws ${args.join(' ')} succeeded but should have failed`);
}

export async function describe(ids: string[], creds: Creds = adminCreds): Promise<Instance[]> {
  const out = await ec2(creds).send(new DescribeInstancesCommand({ InstanceIds: ids }));
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}

export async function waitForState(ids: string[], states: string[], timeoutMs = 240_000, creds: Creds = adminCreds): Promise<Instance[]> {
  const end = Date.now() + timeoutMs;
  let last: Instance[] = [];
  while (Date.now() < end) {
    last = await describe(ids, creds);
    if (last.length === ids.length && last.every((i) => states.includes(i.State?.Name ?? ''))) return last;
    await sleep(1000);
  }
  throw new Error(`timed out waiting for ${states} : ${last.map((i) => `${i.InstanceId}=${i.State?.Name}`).join(', ')}`);
}

/** A raw signed EC2 Query request (to test what SDKs never send). */
export async function rawEc2(params: Record<string, string>, opts: { creds?: Creds; sign?: boolean; date?: Date; tamper?: (r: HttpRequest) => void } = {}) {
  const url = new URL(endpoint);
  const body = new URLSearchParams(params).toString();
  let req = new HttpRequest({
    method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/',
    headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body,
  });
  if (opts.sign !== false) {
    const signer = new SignatureV4({ service: 'ec2', region, credentials: opts.creds ?? adminCreds, sha256: Sha256 });
    req = (await signer.sign(req, { signingDate: opts.date ?? new Date() })) as HttpRequest;
  }
  opts.tamper?.(req);
  const res = await fetch(`${url.origin}/`, { method: 'POST', headers: req.headers as Record<string, string>, body: req.body });
  const text = await res.text();
  const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
  return { status: res.status, text, code };
}

/** What the cloud still holds for these instances: DB rows, QEMU processes, DHCP entries, taps. */
export async function leftovers(ids: string[]) {
  const held = {
    ips: await query('SELECT * FROM private_ips WHERE instance_id IN (?)', [ids]),
    macs: await query('SELECT * FROM macs WHERE instance_id IN (?)', [ids]),
    capacity: await query('SELECT * FROM node_allocations WHERE instance_id IN (?)', [ids]),
    qemu: [] as string[], dhcp: [] as string[], taps: [] as string[],
  };
  const { stdout } = await run('ps', ['-eo', 'pid,stat,args']);
  held.qemu = stdout.split('\n').filter((l) => /qemu-system/.test(l) && !/ Z/.test(l) && ids.some((id) => l.includes(`-name ${id}`)));
  const hostsDir = path.join(home, 'hosts');
  for (const h of fs.existsSync(hostsDir) ? fs.readdirSync(hostsDir) : []) {
    const netDir = path.join(hostsDir, h, 'net');
    for (const vb of fs.existsSync(netDir) ? fs.readdirSync(netDir) : []) {
      const f = path.join(netDir, vb, 'hosts');
      if (fs.existsSync(f)) held.dhcp.push(...fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()));
    }
  }
  const { stdout: ns } = await run('ip', ['netns', 'list']);
  for (const n of ns.split('\n').map((l) => l.split(' ')[0]).filter((n) => n.startsWith(`${prefix}-`))) {
    const { stdout: links } = await run('ip', ['-n', n, '-o', 'link', 'show']);
    held.taps.push(...links.split('\n').filter((l) => ids.some((id) => l.includes(`tap${id.slice(2, 10)}`))));
  }
  return held;
}

/** Console text of an instance as a client sees it. */
export async function consoleText(id: string, creds: Creds = adminCreds): Promise<string> {
  const out = await aws(['ec2', 'get-console-output', '--instance-id', id], creds);
  return out.Output ?? '';
}

export function pidOf(name: string): number | undefined {
  const f = path.join(home, 'pids', `${name}.pid`);
  return fs.existsSync(f) ? Number(fs.readFileSync(f, 'utf8')) : undefined;
}

/** Starts a cloud process again the way scripts/lib.sh start_bg does (own session, pid file, log). */
export function restartProcess(name: string, args: string[]): number {
  const log = fs.openSync(path.join(home, 'logs', `${name}.log`), 'a');
  const child = spawn('node', ['--import', 'tsx', ...args], { cwd: repo, detached: true, stdio: ['ignore', log, log], env: process.env });
  child.unref();
  fs.writeFileSync(path.join(home, 'pids', `${name}.pid`), String(child.pid));
  return child.pid!;
}

/**
 * Lets the host (the outside world, on the public segment) ping instances of
 * the admin's default group, as a user would open ICMP in a security group.
 * Returns the undo.
 */
export async function allowPingFromOutside(): Promise<() => Promise<void>> {
  const cidr = env.EUCA_PUBLIC_CIDR ?? '100.64.251.0/24';
  const args = ['--group-name', 'default', '--protocol', 'icmp', '--port', '-1', '--cidr', cidr];
  try { await aws(['ec2', 'authorize-security-group-ingress', ...args]); } catch (e: any) {
    if (!/InvalidPermission\.Duplicate/.test(String(e.stderr ?? e.message))) throw e;
    return async () => undefined;          // someone else opened it: leave it to them
  }
  return async () => { await aws(['ec2', 'revoke-security-group-ingress', ...args]).catch(() => undefined); };
}

/**
 * A second tenant for isolation tests, made the way the bootstrap makes accounts
 * (straight into the tables): a fresh 12-digit account id and one access key.
 */
export async function newAccount(label: string, keyPrefix = 'AKIT'): Promise<{ accountId: string; creds: Creds }> {
  const accountId = String(100000000000 + crypto.randomInt(1e9));
  await query('INSERT INTO accounts (id, name) VALUES (?, ?)', [accountId, `${label}-${accountId}`]);
  const creds = { accessKeyId: keyPrefix + crypto.randomBytes(8).toString('hex').toUpperCase(), secretAccessKey: crypto.randomBytes(20).toString('hex') };
  await query('INSERT INTO access_keys (access_key_id, secret_key, account_id) VALUES (?, ?, ?)', [creds.accessKeyId, creds.secretAccessKey, accountId]);
  return { accountId, creds };
}
