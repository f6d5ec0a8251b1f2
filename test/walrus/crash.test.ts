// Crash test: kill -9 the S3 server (api/s3/main.ts, a separate process) in the middle of a large PUT,
// restart it: the old version is intact, no partial object is visible, no temp files are left.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { migrate } from '../../db/migrate';
import { createAccount } from '../../db/accounts';
import { closePool } from '../../db/pool';
import { signer, raw, type TestS3 } from './helpers';

const repo = path.resolve(__dirname, '../..');
after(() => closePool());

async function freePort(): Promise<number> {
  return new Promise((r) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => r(p)); }); });
}

function startServer(port: number, dir: string): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'api/s3/main.ts')], {
    cwd: repo, stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, EUCA_S3_PORT: String(port), EUCA_S3_HOST: '127.0.0.1', EUCA_WALRUS_DIR: dir, EUCA_REGION: 'test-1', LOG_LEVEL: 'warn' },
  });
}

async function waitUp(url: string) {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => http.get(url, (res) => { res.resume(); r(true); }).on('error', () => r(false)));
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('S3 server did not come up');
}

test('kill -9 during a large PUT: old version intact, no partial object, temp files cleaned on start', async () => {
  await migrate();
  const acct = await createAccount(`walrus-crash-${Date.now().toString(36)}`);
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'walrus-crash-'));
  const t = { url: `http://127.0.0.1:${port}`, port, region: 'test-1' } as TestS3;
  const { signed } = await import('./helpers');
  let child = startServer(port, dir);
  try {
    await waitUp(t.url);
    const b = `crash-${Date.now().toString(36)}`;
    assert.equal((await signed(t, acct, 'PUT', `/${b}`)).status, 200);
    assert.equal((await signed(t, acct, 'PUT', `/${b}/k`, {}, 'the old version')).status, 200);

    // a 1 GiB PUT that we feed slowly, then kill the server once part of it is on disk
    const total = 1024 * 1024 * 1024;
    const req = await signer(acct, 'test-1').sign({ method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port, path: `/${b}/k`, query: {},
      headers: { host: `127.0.0.1:${port}`, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(total) } });
    const put = http.request(`${t.url}/${b}/k`, { method: 'PUT', headers: req.headers as Record<string, string> });
    put.on('error', () => undefined);
    const block = Buffer.alloc(1 << 20, 7);
    let sent = 0; let stop = false;
    const feed = async () => { while (!stop && sent < total) { if (!put.write(block)) await new Promise((r) => { put.once('drain', r); put.once('close', r); }); sent += block.length; } };
    const feeding = feed();
    const tmpDir = path.join(dir, 'tmp');
    let partial = 0;
    for (let i = 0; i < 200 && partial < 32 * 1024 * 1024; i++) {
      await new Promise((r) => setTimeout(r, 100));
      partial = fs.readdirSync(tmpDir).reduce((n, f) => n + fs.statSync(path.join(tmpDir, f)).size, 0);
    }
    assert.ok(partial >= 32 * 1024 * 1024, `temp file grew to ${partial}`);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    stop = true; put.destroy(); void feeding.catch(() => undefined);
    assert.ok(fs.readdirSync(tmpDir).length > 0, 'the killed PUT left a temp file behind');

    child = startServer(port, dir);
    await waitUp(t.url);
    assert.deepEqual(fs.readdirSync(tmpDir), [], 'temp files removed on start');
    const g = await signed(t, acct, 'GET', `/${b}/k`);
    assert.equal(g.status, 200);
    assert.equal(g.body.toString(), 'the old version');
    const l = await signed(t, acct, 'GET', `/${b}`, {}, undefined, { query: { 'list-type': '2' } });
    assert.equal((l.body.toString().match(/<Key>/g) ?? []).length, 1);
    assert.match(l.body.toString(), /<Size>15<\/Size>/);
    void raw;
  } finally {
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
