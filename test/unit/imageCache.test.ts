// The node image cache without a cloud: one fetch for many concurrent launches,
// checksum verification, LRU eviction under the size limit sparing files in use,
// and presigned Walrus URLs that the S3 verifier accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import crypto from 'node:crypto';
import { ImageCache, CacheError } from '../../activities/hypervisor/imageCache';
import { presignUrl } from '../../walrus/presign';
import { authenticate } from '../../api/s3/auth';

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const KiB = 1024;

async function tmpdir() { return fsp.mkdtemp(path.join(os.tmpdir(), 'imgcache-')); }

/** A little HTTP server handing out blobs by name, counting requests. */
async function blobServer(blobs: Record<string, Buffer>) {
  const hits: Record<string, number> = {};
  const server = http.createServer((req, res) => {
    const name = req.url!.slice(1).split('?')[0];
    hits[name] = (hits[name] ?? 0) + 1;
    const b = blobs[name];
    if (!b) { res.statusCode = 404; res.end('<Error><Code>NoSuchKey</Code></Error>'); return; }
    // dribble it out so concurrent requests overlap
    res.setHeader('content-length', b.length);
    let off = 0;
    const step = () => { if (off >= b.length) { res.end(); return; } res.write(b.subarray(off, off + 16 * KiB)); off += 16 * KiB; setTimeout(step, 2); };
    step();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as any).port;
  return { url: (n: string) => `http://127.0.0.1:${port}/${n}`, hits, close: () => new Promise((r) => server.close(r)) };
}

test('one download per file however many launches ask at once; checksum verified', async () => {
  const dir = await tmpdir();
  const a = crypto.randomBytes(200 * KiB);
  const srv = await blobServer({ a, bad: a });
  try {
    const cache = new ImageCache({ dir, maxBytes: 10 * 1024 * KiB });
    const got = await Promise.all(Array.from({ length: 8 }, () => cache.get({ url: srv.url('a'), sha256: sha(a) })));
    assert.equal(new Set(got).size, 1);
    assert.equal(srv.hits.a, 1, 'fetched once');
    assert.deepEqual(fs.readFileSync(got[0]), a);
    await cache.get({ url: srv.url('a'), sha256: sha(a) });
    assert.equal(srv.hits.a, 1, 'then served from the cache');
    await assert.rejects(cache.get({ url: srv.url('bad'), sha256: sha(Buffer.from('other')) }), (e: any) => e instanceof CacheError && e.type === 'ImageChecksumMismatch');
    await assert.rejects(cache.get({ url: srv.url('missing'), sha256: sha(Buffer.from('m')) }), (e: any) => e instanceof CacheError && e.type === 'ImageFetchFailed' && !e.retryable);
    assert.deepEqual(fs.readdirSync(dir).sort(), [sha(a)], 'no temp files or bad copies left');
  } finally { await srv.close(); await fsp.rm(dir, { recursive: true, force: true }); }
});

test('Walrus not up yet: the fetch retries until it answers', async () => {
  const dir = await tmpdir();
  const b = crypto.randomBytes(50 * KiB);
  // a port nobody listens on yet
  const probe = http.createServer(); await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as any).port; await new Promise((r) => probe.close(r));
  const cache = new ImageCache({ dir, maxBytes: 1024 * KiB, retryDelaysMs: [100, 200, 400, 800] });
  const p = cache.get({ url: `http://127.0.0.1:${port}/late`, sha256: sha(b) });
  await sleep(150);
  const late = http.createServer((_req, res) => res.end(b));
  await new Promise<void>((r) => late.listen(port, '127.0.0.1', r));
  try {
    assert.deepEqual(fs.readFileSync(await p), b);
  } finally { await new Promise((r) => late.close(r)); await fsp.rm(dir, { recursive: true, force: true }); }
});

test('local files (images registered from disk) still work', async () => {
  const dir = await tmpdir();
  const src = path.join(dir, '..', `src-${process.pid}`);
  const b = crypto.randomBytes(10 * KiB);
  fs.writeFileSync(src, b);
  try {
    const cache = new ImageCache({ dir, maxBytes: 1024 * KiB });
    const f = await cache.get({ path: src, sha256: sha(b) });
    assert.deepEqual(fs.readFileSync(f), b);
    await assert.rejects(cache.get({ path: src + '.nope', sha256: sha(Buffer.from('x')) }), (e: any) => e.type === 'ImageSourceMissing');
  } finally { fs.rmSync(src, { force: true }); await fsp.rm(dir, { recursive: true, force: true }); }
});

test('LRU eviction under the size limit spares files in use and pinned ones', async () => {
  const dir = await tmpdir();
  const blobs: Record<string, Buffer> = {};
  for (const n of ['a', 'b', 'c', 'd', 'e']) blobs[n] = crypto.randomBytes(100 * KiB);
  const srv = await blobServer(blobs);
  const inUse = new Set<string>();
  try {
    const cache = new ImageCache({ dir, maxBytes: 300 * KiB, inUse: () => inUse });
    const get = (n: string) => cache.get({ url: srv.url(n), sha256: sha(blobs[n]), size: blobs[n].length });
    const fa = await get('a'); await sleep(20);
    const fb = await get('b'); await sleep(20);
    const fc = await get('c'); await sleep(20);
    await get('a'); await sleep(20);          // a is now more recent than b and c
    inUse.add(fb);                            // b runs a VM
    const fd = await get('d');                // needs room: c goes (least recent not in use)
    const left = new Set(fs.readdirSync(dir).map((f) => path.join(dir, f)));
    assert.ok(left.has(fa) && left.has(fb) && left.has(fd), 'recent, in-use and new files stay');
    assert.ok(!left.has(fc), 'the least recently used idle file was evicted');
    cache.pin([fd]);
    inUse.clear();
    await sleep(20);
    await get('e');                           // b is now the oldest idle one; d is pinned
    const left2 = new Set(fs.readdirSync(dir).map((f) => path.join(dir, f)));
    assert.ok(!left2.has(fb), 'b evicted once no VM uses it');
    assert.ok(left2.has(fd), 'pinned file kept');
    const total = [...left2].reduce((s, f) => s + fs.statSync(f).size, 0);
    assert.ok(total <= 300 * KiB, `cache within its limit (${total})`);
    // a file bigger than the whole cache is still served (nothing else evictable beyond idle files)
    assert.equal(srv.hits.a, 1);
  } finally { await srv.close(); await fsp.rm(dir, { recursive: true, force: true }); }
});

test('init removes temp files an interrupted fetch left', async () => {
  const dir = await tmpdir();
  fs.writeFileSync(path.join(dir, 'abc.tmp-1-2'), 'x');
  fs.writeFileSync(path.join(dir, 'keep'), 'y');
  await new ImageCache({ dir, maxBytes: 1 }).init();
  assert.deepEqual(fs.readdirSync(dir), ['keep']);
  await fsp.rm(dir, { recursive: true, force: true });
});

test('presigned Walrus URLs pass the S3 SigV4 verifier, and only unaltered and unexpired', async () => {
  const cred = { accessKeyId: 'AKIDPRESIGN', secretAccessKey: 'sekrit/+abc', accountId: '123456789012', userName: 'admin' };
  const lookup = async (k: string) => (k === cred.accessKeyId ? cred : undefined);
  const now = new Date();
  const url = new URL(presignUrl({ endpoint: 'http://127.0.0.1:8774', bucket: 'images-1', key: 'test guest/vmlinuz+1', accessKeyId: cred.accessKeyId,
    secretAccessKey: cred.secretAccessKey, region: 'test-1', expiresSeconds: 60, now }));
  const inp = (u: URL) => ({ method: 'GET', rawPath: u.pathname, rawQuery: u.search.slice(1), headers: { host: u.host }, hasBody: false });
  const ok = await authenticate(inp(url), lookup, now);
  assert.equal(ok.cred?.accountId, cred.accountId);
  const other = new URL(url); other.pathname = url.pathname.replace('vmlinuz', 'initrd');
  await assert.rejects(authenticate(inp(other), lookup, now), (e: any) => e.code === 'SignatureDoesNotMatch');
  await assert.rejects(authenticate(inp(url), lookup, new Date(now.getTime() + 120_000)), (e: any) => e.code === 'AccessDenied');
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
