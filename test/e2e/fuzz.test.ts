// A fuzzing run over every EC2 action the cloud answers: thousands of signed
// requests with random, oversized, unicode and prototype-named parameters.
// Every answer must be a 4xx (or a 200) with an XML body, never a 5xx, and the
// API must answer as fast afterwards as before. The run is reproducible:
// FUZZ_SEED=<n> repeats one (the seed is printed), FUZZ_REQUESTS sets the count.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { XMLValidator } from 'fast-xml-parser';
import { loadService, type Shape, type ShapeRef } from '../../api/model/service';
import { serializedName } from '../../api/model/queryInput';
import { ec2Actions } from '../../api/ec2/actions';
import { stackUp, query, closeDb, endpoint, region, aws, type Creds, newAccount } from './helpers';

const skip = stackUp ? false : 'the test cloud is not up (run through npm test)';
after(closeDb);

const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 3000);
const SEED = Number(process.env.FUZZ_SEED ?? crypto.randomInt(2 ** 31));
const CONCURRENCY = 8;

// mulberry32: a small seeded PRNG, so a failing run can be repeated
let state = SEED >>> 0;
function rand(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const int = (n: number) => Math.floor(rand() * n);

const NASTY_NAMES = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'valueOf', 'toString', '__defineGetter__', 'Filter.1.__proto__', 'InstanceId.0', 'InstanceId.-1', 'InstanceId.99999999999', 'A..B', '.', '', 'Tag.1.Key.1.x'];
const SCRIPTS = ['café', 'naïve', 'Ελληνικά', 'русский', '日本語の名前', '한국어', 'עברית', 'العربية', '🙂🚀', 'e\u0301', '\u200b', 'Z̤͔ͧ̑̓'];
const WILD = ['*', '?', '*a*a*a*a*a*a*b', '*?*?*?*?*?*?*?*?*?*?*?*?z', '\\*', 'a\\', '**********************************x'];

function randomString(): string {
  switch (int(9)) {
    case 0: return '';
    case 1: return 'x'.repeat(int(5000));
    case 2: return pick(SCRIPTS) + pick(SCRIPTS);
    case 3: return String.fromCharCode(...Array.from({ length: 1 + int(20) }, () => int(0x20)));
    case 4: return pick(WILD) + 'a'.repeat(int(200));
    case 5: return pick(['i-00000000', 'sg-00000000', 'emi-00000000', 'eipalloc-00000000', 'key-00000000', 'sgr-00000000', 'r-00000000']);
    case 6: return String(int(2 ** 31) - 2 ** 30);
    case 7: return pick(['true', 'false', 'TRUE', '-1', '1e309', 'NaN', '0x10', '2026-13-45T25:61:00Z']);
    default: return crypto.randomBytes(1 + int(16)).toString(pick(['hex', 'base64'] as const));
  }
}

const ec2Model = loadService('ec2');

/** Random parameters shaped like the operation's input: real member names, random (often wrong) values. */
function shaped(ref: ShapeRef, prefix: string, out: Array<[string, string]>, depth: number): void {
  const shape: Shape = ec2Model.shape(ref.shape);
  if (depth > 4 || out.length > 200) return;
  if (shape.type === 'structure') {
    for (const [m, r] of Object.entries(shape.members ?? {})) {
      if (rand() < 0.6) continue;
      const name = serializedName('ec2', m, r);
      shaped(r, prefix ? `${prefix}.${name}` : name, out, depth + 1);
    }
  } else if (shape.type === 'list') {
    const n = rand() < 0.05 ? 60 + int(300) : 1 + int(3);
    for (let i = 1; i <= n; i++) shaped(shape.member!, `${prefix}.${rand() < 0.05 ? int(1e6) : i}`, out, depth + 1);
  } else if (shape.enum && rand() < 0.5) {
    out.push([prefix, pick(shape.enum)]);
  } else {
    out.push([prefix, randomString()]);
  }
}

function randomRequest(actions: string[]): string {
  const action = rand() < 0.03 ? pick(['LaunchRockets', '__proto__', 'constructor', '', 'describeinstances']) : pick(actions);
  const params: Array<[string, string]> = [['Action', action], ['Version', rand() < 0.03 ? pick(['2009-01-01', '1999-01-01', 'x']) : '2016-11-15']];
  const op = ec2Model.operations.get(action);
  if (op?.input && rand() < 0.85) shaped(op.input, '', params, 0);
  if (rand() < 0.3) params.push([pick(NASTY_NAMES), randomString()]);
  if (rand() < 0.3) {
    const n = 1 + int(rand() < 0.1 ? 80 : 3);
    for (let i = 1; i <= n; i++) {
      params.push([`Filter.${i}.Name`, rand() < 0.5 ? pick(['tag:Name', 'tag-key', 'instance-id', 'group-name', 'description', 'key-name', 'name']) : pick([...NASTY_NAMES, randomString()])]);
      const values = rand() < 0.1 ? 250 : 1 + int(3);
      for (let j = 1; j <= values; j++) params.push([`Filter.${i}.Value.${j}`, rand() < 0.5 ? pick(WILD) + 'a'.repeat(int(300)) : randomString()]);
    }
  }
  if (rand() < 0.2) params.push(['DryRun', pick(['true', 'false', 'yes'])]);
  let body = params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  if (rand() < 0.02) body += '&Bad=%C3%28%zz';           // invalid UTF-8 and percent-encoding
  if (rand() < 0.01) body += '&Big=' + 'y'.repeat(1024 * 1024 + 10);   // over the body limit
  return body;
}

async function send(body: string, creds: Creds): Promise<{ status: number; text: string; ms: number }> {
  const url = new URL(endpoint);
  const signer = new SignatureV4({ service: 'ec2', region, credentials: creds, sha256: Sha256 });
  const req = (await signer.sign(new HttpRequest({
    method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/',
    headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body,
  }))) as HttpRequest;
  const t0 = performance.now();
  const res = await fetch(`${url.origin}/`, { method: 'POST', headers: req.headers as Record<string, string>, body });
  const text = await res.text();
  return { status: res.status, text, ms: performance.now() - t0 };
}

async function latency(creds: Creds, n = 20): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) ms.push((await send('Action=DescribeAvailabilityZones&Version=2016-11-15', creds)).ms);
  ms.sort((a, b) => a - b);
  return ms[Math.floor(n / 2)];
}

let creds: Creds;
before(async () => {
  if (skip) return;
  creds = (await newAccount('fuzz', 'AKIF')).creds;
});

after(async () => {
  if (skip || !creds) return;
  // Leave nothing of the fuzz account behind that holds shared capacity.
  const addrs = await aws(['ec2', 'describe-addresses'], creds).catch(() => ({ Addresses: [] }));
  for (const a of addrs.Addresses ?? []) await aws(['ec2', 'release-address', '--allocation-id', a.AllocationId], creds).catch(() => undefined);
  const inst = await aws(['ec2', 'describe-instances'], creds).catch(() => ({ Reservations: [] }));
  const ids = (inst.Reservations ?? []).flatMap((r: any) => r.Instances.map((i: any) => i.InstanceId));
  if (ids.length) await aws(['ec2', 'terminate-instances', '--instance-ids', ...ids], creds).catch(() => undefined);
});

test(`fuzz: ${REQUESTS} signed requests over every EC2 action: no 5xx, always an XML error, latency unchanged`, { skip, timeout: 15 * 60_000 }, async () => {
  console.log(`fuzz seed ${SEED} (FUZZ_SEED=${SEED} repeats this run)`);
  const actions = Object.keys(ec2Actions).sort();
  const before = await latency(creds);
  const failures: string[] = [];
  const codes = new Map<string, number>();
  let slowest = 0;
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < REQUESTS) {
      next++;
      const body = randomRequest(actions);
      const r = await send(body, creds);
      slowest = Math.max(slowest, r.ms);
      const code = /<Code>([^<]*)<\/Code>/.exec(r.text)?.[1] ?? (r.status === 200 ? 'OK' : 'none');
      codes.set(code, (codes.get(code) ?? 0) + 1);
      const xmlOk = XMLValidator.validate(r.text) === true;
      const errorShaped = r.status === 200 ? /^<\?xml[^>]*>\s*<\w+Response xmlns=/.test(r.text) : /<Response><Errors><Error><Code>/.test(r.text);
      if (r.status >= 500 || !xmlOk || !errorShaped || r.ms > 10_000) {
        failures.push(`${r.status} ${Math.round(r.ms)}ms ${body.slice(0, 300)} -> ${r.text.slice(0, 300)}`);
      }
    }
  }));
  const afterMs = await latency(creds);
  console.log(`fuzz: ${REQUESTS} requests, slowest ${Math.round(slowest)} ms, DescribeAvailabilityZones median ${before.toFixed(1)} ms before, ${afterMs.toFixed(1)} ms after`);
  console.log('fuzz answers by code:', JSON.stringify(Object.fromEntries([...codes.entries()].sort((a, b) => b[1] - a[1]))));
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} bad answers (seed ${SEED})`);
  assert.ok(afterMs < Math.max(before * 3, before + 100), `latency after fuzzing ${afterMs} ms vs ${before} ms before`);
});
