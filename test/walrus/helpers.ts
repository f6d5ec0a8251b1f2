// Shared set-up for the Walrus tests: MySQL schema, two accounts, an in-process S3 server on 127.0.0.1:0.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { migrate } from '../../db/migrate';
import { createAccount, lookupCredential } from '../../db/accounts';
import { createS3App } from '../../api/s3/index';
import { createHardenedServer, s3Limits } from '../../api/http/hardening';
import { deferContinue } from '../../api/s3/continue';

export interface Acct { accountId: string; accessKeyId: string; secretAccessKey: string }
export interface TestS3 { url: string; port: number; dataDir: string; a: Acct; b: Acct; region: string; close(): Promise<void> }

export async function startTestS3(opts: { maxObjectSize?: number } = {}): Promise<TestS3> {
  await migrate();
  const tag = Date.now().toString(36) + Math.random().toString(36).slice(2, 6);
  const a = await createAccount(`walrus-a-${tag}`), b = await createAccount(`walrus-b-${tag}`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'walrus-test-'));
  const region = 'test-1';
  const app = createS3App({ log: pino({ level: 'warn' }), dataDir, lookupCredential, region, ...opts });
  await app.ready;
  // the listener's limits as api/s3/main.ts sets them (timeouts, body rate, connections per address)
  const server = createHardenedServer(app, s3Limits());
  deferContinue(server);   // as api/s3/main.ts: 100-continue only once the request may send its body
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`, port, dataDir, a, b, region,
    close: async () => { server.closeAllConnections(); await new Promise((r) => server.close(r)); fs.rmSync(dataDir, { recursive: true, force: true }); },
  };
}

export function signer(acct: Acct, region: string) {
  return new SignatureV4({ service: 's3', region, credentials: { accessKeyId: acct.accessKeyId, secretAccessKey: acct.secretAccessKey }, sha256: Sha256, uriEscapePath: false, applyChecksum: false });
}

export interface RawResponse { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

export function raw(url: string, method: string, pathAndQuery: string, headers: Record<string, string>, body?: Buffer | string | Iterable<Buffer>): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url + pathAndQuery, { method, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else { for (const b of body) req.write(b); req.end(); }
  });
}

/** Signs and sends a request with SigV4 (header). */
export async function signed(t: TestS3, acct: Acct, method: string, p: string, headers: Record<string, string> = {}, body?: Buffer | string, opts: { date?: Date; query?: Record<string, string> } = {}): Promise<RawResponse> {
  const host = `127.0.0.1:${t.port}`;
  // S3 wants x-amz-content-sha256 with SigV4; '' in headers means: leave it out
  headers = { 'x-amz-content-sha256': createHash('sha256').update(body ?? '').digest('hex'), ...headers };
  if (headers['x-amz-content-sha256'] === '') delete headers['x-amz-content-sha256'];
  const req = await signer(acct, t.region).sign({
    method, protocol: 'http:', hostname: '127.0.0.1', port: t.port, path: p, query: opts.query ?? {},
    headers: { host, ...headers },
    body,
  }, { signingDate: opts.date });
  const qs = new URLSearchParams(opts.query ?? {}).toString().replace(/\+/g, '%20');
  return raw(t.url, method, p + (qs ? '?' + qs : ''), req.headers as Record<string, string>, body);
}

export const errCode = (r: RawResponse) => /<Code>([^<]+)<\/Code>/.exec(r.body.toString())?.[1];

/** An @aws-sdk/client-s3 client for one account of the test server (path style, no retries). */
export function s3Client(t: TestS3, acct: Acct = t.a): S3Client {
  return new S3Client({ endpoint: t.url, region: t.region, forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: acct.accessKeyId, secretAccessKey: acct.secretAccessKey } });
}

/** A short unique suffix for bucket and key names. */
export const tag = () => Date.now().toString(36) + randomBytes(2).toString('hex');

/** The SDK error a promise fails with (name, HTTP status, message), or undefined when it succeeds. */
export const fail = async (p: Promise<unknown>) => {
  try { await p; } catch (e: any) { return { name: e.name as string, status: e.$metadata?.httpStatusCode as number, message: e.message as string }; }
  return undefined;
};
