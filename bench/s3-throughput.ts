// Walrus benchmark: PUT/GET MiB/s for 1 MiB and 64 MiB objects, 4 KiB ops/s at
// concurrency 1 and 16, beside raw disk throughput (dd with fsync) in the same run.
// Starts its own in-process S3 server against MYSQL_URL.  `--big` adds a 2 GiB
// PUT+GET and reports the peak RSS of the process (server and client share it).
//   node --import tsx bench/s3-throughput.ts [--big] [--quick]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { startTestS3, signer } from '../test/walrus/helpers';
import { closePool } from '../db/pool';

const quick = process.argv.includes('--quick');
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
let peakRss = 0;
setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss); }, 50).unref();

async function main() {
  const t = await startTestS3();
  const s = signer(t.a, t.region);
  const b = `bench-${Date.now().toString(36)}`;
  const req = async (method: string, key: string, body?: { size: number; block: Buffer }): Promise<number> => {
    const p = `/${b}${key ? '/' + key : ''}`;
    const headers: Record<string, string> = { host: `127.0.0.1:${t.port}`, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };
    if (body) headers['content-length'] = String(body.size);
    const signedReq = await s.sign({ method, protocol: 'http:', hostname: '127.0.0.1', port: t.port, path: p, query: {}, headers });
    return new Promise((resolve, reject) => {
      const r = http.request(`${t.url}${p}`, { method, headers: signedReq.headers as Record<string, string>, agent }, (res) => {
        let n = 0; res.on('data', (c) => { n += c.length; }); res.on('end', () => (res.statusCode! < 300 ? resolve(n) : reject(new Error(`${method} ${p} ${res.statusCode}`))));
      });
      r.on('error', reject);
      if (!body) { r.end(); return; }
      let left = body.size;
      const pump = () => { while (left > 0) { const n = Math.min(left, body.block.length); left -= n; if (!r.write(n === body.block.length ? body.block : body.block.subarray(0, n))) { r.once('drain', pump); return; } } r.end(); };
      pump();
    });
  };
  await req('PUT', '');
  const results: Record<string, string> = {};
  const block = Buffer.alloc(1 << 20, 0x5a);

  // raw disk: dd with fsync in the same directory
  const ddFile = path.join(t.dataDir, 'dd.bin');
  const ddRun = (() => { const st = Date.now(); execFileSync('dd', ['if=/dev/zero', `of=${ddFile}`, 'bs=1M', `count=${quick ? 64 : 256}`, 'conv=fsync'], { stdio: 'ignore' }); return ((quick ? 64 : 256) / ((Date.now() - st) / 1000)); })();
  fs.rmSync(ddFile);
  results['disk dd (fsync) MiB/s'] = ddRun.toFixed(0);

  for (const [label, size, count] of [['1 MiB', 1 << 20, quick ? 16 : 64], ['64 MiB', 64 << 20, quick ? 2 : 6]] as Array<[string, number, number]>) {
    let st = Date.now();
    for (let i = 0; i < count; i++) await req('PUT', `obj-${size}-${i}`, { size, block });
    const putMiBs = (count * size) / (1 << 20) / ((Date.now() - st) / 1000);
    st = Date.now();
    for (let i = 0; i < count; i++) await req('GET', `obj-${size}-${i}`);
    const getMiBs = (count * size) / (1 << 20) / ((Date.now() - st) / 1000);
    results[`${label} PUT MiB/s`] = putMiBs.toFixed(1);
    results[`${label} GET MiB/s`] = getMiBs.toFixed(1);
  }
  const small = Buffer.alloc(4096, 1);
  for (const conc of [1, 16]) {
    const n = quick ? 100 : 400;
    let next = 0;
    let st = Date.now();
    await Promise.all(Array.from({ length: conc }, async () => { while (next < n) { const i = next++; await req('PUT', `small-${conc}-${i}`, { size: 4096, block: small }); } }));
    results[`4 KiB PUT ops/s c=${conc}`] = (n / ((Date.now() - st) / 1000)).toFixed(0);
    next = 0; st = Date.now();
    await Promise.all(Array.from({ length: conc }, async () => { while (next < n) { const i = next++; await req('GET', `small-${conc}-${i}`); } }));
    results[`4 KiB GET ops/s c=${conc}`] = (n / ((Date.now() - st) / 1000)).toFixed(0);
  }
  if (process.argv.includes('--big')) {
    peakRss = process.memoryUsage().rss;
    const size = 2 * 1024 ** 3;
    let st = Date.now();
    await req('PUT', 'big-2g', { size, block });
    results['2 GiB PUT MiB/s'] = (2048 / ((Date.now() - st) / 1000)).toFixed(1);
    st = Date.now();
    const got = await req('GET', 'big-2g');
    if (got !== size) throw new Error(`GET returned ${got}`);
    results['2 GiB GET MiB/s'] = (2048 / ((Date.now() - st) / 1000)).toFixed(1);
    results['peak RSS during 2 GiB PUT+GET (MiB)'] = (peakRss / 1048576).toFixed(0);
  }
  console.log(JSON.stringify({ host: os.hostname(), cpus: os.cpus().length, ...results }, null, 2));
  agent.destroy();
  await t.close(); await closePool();
}
main().catch((e) => { console.error(e); process.exit(1); });
