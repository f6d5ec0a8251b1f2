// The limits both listeners put on clients (api/http/hardening.ts), in-process
// on port 0 with small limits, driven with raw sockets: headers and bodies
// dribbled a byte at a time, silent connections, too many connections from one
// address, a 20 KiB header or URL; and what must not be cut: an upload at
// normal speed, a server that is slow to read or slow to answer.
// The EC2 listener is api/server.ts createApiServer (what api/main.ts runs) with
// a stub EC2 router; the S3 listener is api/s3/main.ts startS3 itself.
import { dataDir } from './hardening-env';   // first: sets the environment lib/config reads
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import pino from 'pino';
import { createApiServer } from '../../api/server';
import { createHardenedServer, ec2Limits, s3Limits, type HardeningOptions, type RejectInfo } from '../../api/http/hardening';
import { startS3 } from '../../api/s3/main';
import { allowBody, deferContinue } from '../../api/s3/continue';
import { closePool } from '../../db/pool';
import { config } from '../../lib/config';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const silent = pino({ level: 'silent' });

// ---------------------------------------------------------------- raw clients

interface Raw { socket: net.Socket; text(): string; closed: Promise<number>; t0: number }

/** A raw connection: everything received, and when (ms after opening) it was closed. */
function open(port: number): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => undefined);            // a reset after the answer is fine
    const closed = new Promise<number>((r) => socket.on('close', () => r(Date.now() - t0)));
    socket.once('connect', () => resolve({ socket, t0, closed, text: () => Buffer.concat(chunks).toString('utf8') }));
    socket.once('error', reject);
  });
}

/** Writes s one byte every `everyMs` until the socket closes or s is out; resolves with the bytes written. */
async function dribble(c: Raw, s: string, everyMs: number): Promise<number> {
  let n = 0;
  for (const ch of s) {
    if (c.socket.destroyed || !c.socket.writable) break;
    c.socket.write(ch);
    n++;
    await sleep(everyMs);
  }
  return n;
}

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
const codeOf = (text: string) => /<Code>([^<]+)<\/Code>/.exec(text)?.[1];

function assertEc2Xml(text: string, status: number, code: string) {
  assert.equal(statusOf(text), status, text);
  assert.match(text, /content-type: text\/xml/i);
  assert.match(text, /\r\n\r\n<\?xml version="1.0" encoding="UTF-8"\?>\n<Response><Errors><Error><Code>[^<]+<\/Code><Message>[^<]+<\/Message><\/Error><\/Errors><RequestID>[0-9a-f-]{36}<\/RequestID><\/Response>$/, text);
  assert.equal(codeOf(text), code);
}
function assertS3Xml(text: string, status: number, code: string) {
  assert.equal(statusOf(text), status, text);
  assert.match(text, /content-type: application\/xml/i);
  assert.match(text, /\r\n\r\n<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>[^<]+<\/Code><Message>[^<]+<\/Message><RequestId>[0-9A-F]{16}<\/RequestId><HostId>[0-9A-F]{16}<\/HostId><\/Error>$/, text);
  assert.equal(codeOf(text), code);
}

const portOf = (s: http.Server) => (s.address() as AddressInfo).port;
const listening = (s: http.Server) => new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
const closeServer = (s: http.Server) => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); });

/** A request whose body arrives in full at once; resolves with what came back. */
async function request(port: number, head: string, body = ''): Promise<{ text: string; closedAfterMs?: number }> {
  const c = await open(port);
  c.socket.write(head + body);
  const end = Date.now() + 3000;
  while (Date.now() < end && !/\r\n\r\n/.test(c.text())) await sleep(10);
  await sleep(30);
  const text = c.text();
  c.socket.destroy();
  return { text };
}

// ---------------------------------------------------------------- the EC2 API listener

/** A stand-in EC2 router: reads the whole body, answers after X-Delay ms. */
function stubEc2Router(): express.Router {
  const r = express.Router();
  r.use((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; });
    req.on('end', () => setTimeout(() => { res.type('text/xml').send(`<ok>${n}</ok>`); }, Number(req.headers['x-delay'] ?? 0)));
  });
  return r;
}

const EC2_LIMITS: Partial<HardeningOptions> = {
  headersTimeoutMs: 400, requestTimeoutMs: 800, keepAliveTimeoutMs: 300, idleTimeoutMs: 10_000,
  maxConnectionsPerIp: 64, checkIntervalMs: 50,
};

describe('EC2 API listener (createApiServer)', () => {
  let server: http.Server;
  let port: number;
  const rejects: RejectInfo[] = [];
  before(async () => {
    server = createApiServer({ ec2: stubEc2Router(), log: silent }, { ...EC2_LIMITS, onReject: (r) => rejects.push(r) });
    await listening(server);
    port = portOf(server);
  });
  after(() => closeServer(server));

  test('a normal request is answered (and a slow answer is not a timeout)', async () => {
    const r = await request(port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 14\r\nX-Delay: 1200\r\n\r\n', 'Action=Nothing');
    assert.equal(statusOf(r.text), 200, r.text);
    assert.match(r.text, /<ok>14<\/ok>$/);
  });

  test('a 20 KiB header gets 431 with an EC2 XML error, not an empty body', async () => {
    const r = await request(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`);
    assertEc2Xml(r.text, 431, 'RequestHeaderSectionTooLarge');
    assert.match(r.text, /16384 bytes/);
  });

  test('a 20 KiB URL gets the same', async () => {
    const r = await request(port, `GET /?Action=DescribeInstances&x=${'b'.repeat(20 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assertEc2Xml(r.text, 431, 'RequestHeaderSectionTooLarge');
  });

  test('headers sent a byte at a time are cut off after the headers timeout (408, EC2 XML)', async () => {
    const c = await open(port);
    const sent = dribble(c, `POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ${'s'.repeat(200)}\r\n\r\n`, 50);
    const ms = await c.closed;
    assert.ok(ms < 1500, `closed after ${ms} ms`);
    assert.ok(await sent < 100, 'the dribbler did not get to finish');
    assertEc2Xml(c.text(), 408, 'RequestTimeout');
  });

  test('a connection that never sends a byte is closed after the headers timeout', async () => {
    const c = await open(port);
    const ms = await c.closed;
    assert.ok(ms >= 300 && ms < 1500, `closed after ${ms} ms`);
  });

  test('a signed-looking request whose body comes a byte at a time is cut off at the request timeout', async () => {
    const c = await open(port);
    c.socket.write('POST / HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/r/ec2/aws4_request, SignedHeaders=host, Signature=00\r\n'
      + 'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n');
    const sent = dribble(c, 'Action=DescribeInstances&'.padEnd(200, 'x'), 50);
    const ms = await c.closed;
    assert.ok(ms >= 700 && ms < 2000, `closed after ${ms} ms`);
    assert.ok(await sent < 60);
    assertEc2Xml(c.text(), 408, 'RequestTimeout');
  });

  test('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const c = await open(port);
    c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const ms = await c.closed;
    assert.equal(statusOf(c.text()), 200);
    assert.ok(ms >= 250 && ms < 1500, `closed after ${ms} ms`);
  });

  test('the rejections were told to the log', () => {
    const reasons = new Set(rejects.map((r) => r.reason));
    for (const r of ['headers-too-large', 'headers-timeout', 'request-timeout'] as const) assert.ok(reasons.has(r), `${r} in ${[...reasons]}`);
  });
});

describe('connections per client address (EC2 listener)', () => {
  let server: http.Server;
  let port: number;
  before(async () => {
    server = createApiServer({ ec2: stubEc2Router(), log: silent }, { ...EC2_LIMITS, headersTimeoutMs: 10_000, requestTimeoutMs: 20_000, maxConnectionsPerIp: 4 });
    await listening(server);
    port = portOf(server);
  });
  after(() => closeServer(server));

  test('one connection over the cap gets 503 RequestLimitExceeded and is closed; a freed slot serves again', async () => {
    const held = await Promise.all([1, 2, 3, 4].map(() => open(port)));
    await sleep(50);
    const extra = await open(port);
    extra.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const ms = await extra.closed;
    assert.ok(ms < 1500);
    assertEc2Xml(extra.text(), 503, 'RequestLimitExceeded');
    // the held ones are still usable
    held[0].socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    for (let i = 0; i < 100 && !/<ok>/.test(held[0].text()); i++) await sleep(10);
    assert.equal(statusOf(held[0].text()), 200, held[0].text());
    // free one slot: a new connection is served
    held[1].socket.destroy();
    await held[1].closed;
    await sleep(50);
    const r = await request(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(statusOf(r.text), 200, r.text);
    for (const c of held) c.socket.destroy();
  });
});

// ---------------------------------------------------------------- the body-rate rule (S3's)

describe('body progress rule (S3 style, a handler that streams the body like a PUT)', () => {
  let server: http.Server;
  let port: number;
  before(async () => {
    // Reads the body as it comes (X-Stall: ms to wait before reading, as a busy disk would make it;
    // X-Continue-After: ms before it lets a client that expects 100-continue send), answers with its size.
    const handler: http.RequestListener = (req, res) => {
      const later = Number(req.headers['x-continue-after'] ?? 0);
      if (later) { setTimeout(() => allowBody(req), later); }
      const stall = Number(req.headers['x-stall'] ?? 0);
      let n = 0;
      const go = () => {
        req.on('data', (c: Buffer) => { n += c.length; });
        req.on('end', () => { res.setHeader('Content-Type', 'application/xml'); res.end(`<Size>${n}</Size>`); });
        req.resume();
      };
      if (stall) { req.pause(); setTimeout(go, stall); } else go();
    };
    server = createHardenedServer(handler, {
      style: 's3', headersTimeoutMs: 2000, requestTimeoutMs: 0, minBodyRate: 4096, bodyRateWindowMs: 400, checkIntervalMs: 50,
      keepAliveTimeoutMs: 1000, maxConnectionsPerIp: 64,
    });
    deferContinue(server);    // as api/s3/main.ts: "100 Continue" only when the handler lets the body come
    await listening(server);
    port = portOf(server);
  });
  after(() => closeServer(server));

  test('a client waiting for a "100 Continue" the server sends late is not cut meanwhile', async () => {
    const c = await open(port);
    const size = 64 * 1024;
    c.socket.write(`PUT /b/k HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nX-Continue-After: 1000\r\nContent-Length: ${size}\r\n\r\n`);
    for (let i = 0; i < 200 && !/100 Continue/.test(c.text()); i++) await sleep(10);
    assert.match(c.text(), /^HTTP\/1\.1 100 Continue/, 'the 100 came, after more than two windows');
    c.socket.write(Buffer.alloc(size, 5));
    for (let i = 0; i < 200 && !/<Size>/.test(c.text()); i++) await sleep(10);
    assert.match(c.text(), new RegExp(`HTTP/1.1 200 OK[\\s\\S]*<Size>${size}</Size>`));
    c.socket.destroy();
  });

  test('a body dribbled a byte at a time is cut off within about one window (400 RequestTimeout, S3 XML)', async () => {
    const c = await open(port);
    c.socket.write(`PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n`);
    const sent = dribble(c, 'z'.repeat(1000), 20);
    const ms = await c.closed;
    assert.ok(ms >= 350 && ms < 1500, `closed after ${ms} ms`);
    assert.ok(await sent < 100);
    assertS3Xml(c.text(), 400, 'RequestTimeout');
  });

  test('an upload at normal speed that lasts many windows is not cut', async () => {
    const c = await open(port);
    const size = 6 * 1024 * 1024;
    c.socket.write(`PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 7);
    const t0 = Date.now();
    for (let sent = 0; sent < size; sent += chunk.length) {
      if (!c.socket.write(chunk)) await new Promise((r) => c.socket.once('drain', r));
      await sleep(10);                                   // ~4-6 MiB/s: the upload takes longer than 2 windows
    }
    for (let i = 0; i < 300 && !/<Size>/.test(c.text()); i++) await sleep(10);
    assert.ok(Date.now() - t0 > 800, 'the upload spanned several windows');
    assert.equal(statusOf(c.text()), 200, c.text().slice(0, 300));
    assert.match(c.text(), new RegExp(`<Size>${size}</Size>`));
    c.socket.destroy();
  });

  test('a slow but steady body above the minimum rate is not cut', async () => {
    const c = await open(port);
    const size = 12 * 1024;
    c.socket.write(`PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
    for (let sent = 0; sent < size; sent += 1024) { c.socket.write(Buffer.alloc(1024, 1)); await sleep(100); }   // 10 KiB/s for 1.2 s
    for (let i = 0; i < 200 && !/<Size>/.test(c.text()); i++) await sleep(10);
    assert.equal(statusOf(c.text()), 200, c.text());
    c.socket.destroy();
  });

  test('time the server spends not reading (backpressure) does not count against the client', async () => {
    const c = await open(port);
    const size = 4 * 1024 * 1024;
    c.socket.write(`PUT /b/k HTTP/1.1\r\nHost: x\r\nX-Stall: 1200\r\nContent-Length: ${size}\r\n\r\n`);
    c.socket.write(Buffer.alloc(size, 3));
    for (let i = 0; i < 400 && !/<Size>/.test(c.text()); i++) await sleep(10);
    assert.equal(statusOf(c.text()), 200, c.text());
    assert.match(c.text(), new RegExp(`<Size>${size}</Size>`));
    c.socket.destroy();
  });
});

// ---------------------------------------------------------------- the real S3 listener

describe('Walrus S3 listener (startS3)', () => {
  let server: http.Server;
  let port: number;
  before(async () => {
    server = await startS3(silent, 0, '127.0.0.1', {
      headersTimeoutMs: 500, minBodyRate: 4096, bodyRateWindowMs: 400, checkIntervalMs: 50, maxConnectionsPerIp: 3,
    });
    port = portOf(server);
  });
  after(async () => {
    await closeServer(server);
    await closePool().catch(() => undefined);      // its one attempt (the orphan sweep) found no database
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('the configured S3 limits have no whole-request timeout but a body rate', () => {
    assert.equal(config.walrusDir, dataDir, 'the test keeps off any cloud\'s data');
    const l = s3Limits();
    assert.equal(l.requestTimeoutMs, 0);
    assert.ok(l.minBodyRate > 0 && l.bodyRateWindowMs > 0);
    assert.equal(l.maxConnectionsPerIp, 512);
    const e = ec2Limits();
    assert.ok(e.requestTimeoutMs > 0 && e.requestTimeoutMs <= 120_000);
    assert.ok(e.headersTimeoutMs <= e.requestTimeoutMs);
  });

  test('a 20 KiB header gets 431 RequestHeaderSectionTooLarge as S3 XML', async () => {
    const r = await request(port, `GET /bucket/key HTTP/1.1\r\nHost: x\r\nX-Amz-Meta-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`);
    assertS3Xml(r.text, 431, 'RequestHeaderSectionTooLarge');
  });

  test('headers a byte at a time: 400 RequestTimeout as S3 XML', async () => {
    const c = await open(port);
    void dribble(c, `GET /bucket/key HTTP/1.1\r\nHost: x\r\nX-Slow: ${'s'.repeat(200)}\r\n\r\n`, 50);
    const ms = await c.closed;
    assert.ok(ms < 1500, `closed after ${ms} ms`);
    assertS3Xml(c.text(), 400, 'RequestTimeout');
  });

  test('a POST form upload whose body comes a byte at a time is cut off (it used to be held for as long as the client liked)', async () => {
    const c = await open(port);
    const boundary = 'XyZ';
    const form = `--${boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\nk\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n${'d'.repeat(500)}\r\n--${boundary}--\r\n`;
    c.socket.write(`POST /bucket HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${Buffer.byteLength(form)}\r\n\r\n`);
    const sent = dribble(c, form, 20);
    const ms = await c.closed;
    assert.ok(ms < 2000, `closed after ${ms} ms`);
    assert.ok(await sent < 150);
    assertS3Xml(c.text(), 400, 'RequestTimeout');
  });

  test('one connection over the cap gets 503 SlowDown', async () => {
    const held = await Promise.all([1, 2, 3].map(() => open(port)));
    await sleep(30);
    const extra = await open(port);
    extra.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await extra.closed;
    assertS3Xml(extra.text(), 503, 'SlowDown');
    for (const c of held) c.socket.destroy();
  });
});
