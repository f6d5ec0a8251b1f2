// The instance metadata HTTP handler (IMDSv1 + IMDSv2), AWS-shaped.
//
// Who is asking: the service runs inside the CC's namespace; a guest's request to
// 169.254.169.254:80 is DNATed to <gateway of its bridge>:<port>, so the socket's
// local address is the gateway address of bridge vb<vni> (=> VNI) and its remote
// address is the guest's IP. The document is <stateDir>/metadata/<vni>/<ip>.json.
//
// IMDSv2 tokens: base64url(version | expiry ms | HMAC-SHA256(secret, version|expiry|vni|ip)[0..24]).
// A token is bound to the caller's network and source address and expires; the
// secret lives in the state dir, so tokens survive a service restart.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as os from 'node:os';
import { docPath, validateDoc, type InstanceMetadataDoc } from './doc';

export interface Peer { vni: number; ip: string }

export interface HandlerOptions {
  stateDir: string;
  secret: Buffer; // >= 32 bytes
  now?: () => number; // ms; tests move the clock
  /** Who is asking; default: local address -> vb<vni> interface, remote address -> ip. */
  peerOf?: (req: IncomingMessage) => Peer | null | Promise<Peer | null>;
}

export const TOKEN_PATH = '/latest/api/token';
export const TOKEN_HEADER = 'x-aws-ec2-metadata-token';
export const TOKEN_TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
export const MAX_TOKEN_TTL = 21_600;

/** Versions AWS serves (GET / lists them); cloud-init probes several. */
export const API_VERSIONS = [
  '1.0', '2007-01-19', '2007-03-01', '2007-08-29', '2007-10-10', '2007-12-15', '2008-02-01', '2008-09-01',
  '2009-04-04', '2011-01-01', '2011-05-01', '2012-01-12', '2014-02-25', '2014-11-05', '2015-10-20',
  '2016-04-19', '2016-06-30', '2016-09-02', '2018-03-28', '2018-08-17', '2018-09-24', '2019-10-01',
  '2020-10-27', '2021-01-03', '2021-03-23', '2021-07-15', '2022-09-24', '2023-08-01', 'latest',
];
const VERSION_SET = new Set(API_VERSIONS);

// ---------------------------------------------------------------- tokens

const TOKEN_VERSION = 1;
const MAC_LEN = 24;

function tokenMac(secret: Buffer, head: Buffer, peer: Peer): Buffer {
  return createHmac('sha256', secret).update(head).update(`|${peer.vni}|${peer.ip}`).digest().subarray(0, MAC_LEN);
}

export function issueToken(secret: Buffer, peer: Peer, ttlSeconds: number, now: number): string {
  const head = Buffer.alloc(9);
  head.writeUInt8(TOKEN_VERSION, 0);
  head.writeBigUInt64BE(BigInt(now + ttlSeconds * 1000), 1);
  return Buffer.concat([head, tokenMac(secret, head, peer)]).toString('base64url');
}

/** Remaining lifetime in ms of a valid token for this peer, or null (bad, foreign or expired). */
export function checkToken(secret: Buffer, token: string, peer: Peer, now: number): number | null {
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(token)) return null;
  const raw = Buffer.from(token, 'base64url');
  if (raw.length !== 9 + MAC_LEN || raw.readUInt8(0) !== TOKEN_VERSION) return null;
  const head = raw.subarray(0, 9);
  if (!timingSafeEqual(raw.subarray(9), tokenMac(secret, head, peer))) return null;
  const left = Number(raw.readBigUInt64BE(1)) - now;
  return left > 0 ? left : null;
}

// ---------------------------------------------------------------- tree

/** A directory: its entries, and optionally a listing that differs from the entry names. */
interface Dir { kind: 'dir'; entries: Record<string, Node>; listing?: string[] }
type Node = string | Dir;
const dir = (entries: Record<string, Node | undefined>, listing?: string[]): Dir => {
  const e: Record<string, Node> = {};
  for (const [k, v] of Object.entries(entries)) if (v !== undefined) e[k] = v;
  return { kind: 'dir', entries: e, listing };
};

/** AWS's pretty JSON ("key" : value, two-space indent). */
function awsJson(o: Record<string, unknown>): string {
  return JSON.stringify(o, null, 2).replace(/^(\s*"[^"]*"):/gm, '$1 :');
}

export function identityDocument(d: InstanceMetadataDoc): string {
  return awsJson({
    accountId: d.accountId,
    architecture: 'x86_64',
    availabilityZone: d.zone,
    billingProducts: null,
    devpayProductCodes: null,
    marketplaceProductCodes: null,
    imageId: d.imageId,
    instanceId: d.instanceId,
    instanceType: d.instanceType,
    kernelId: d.kernelId ?? null,
    pendingTime: new Date(d.launchedAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    privateIp: d.privateIp,
    ramdiskId: d.ramdiskId ?? null,
    region: d.region,
    version: '2017-09-30',
  });
}

function metaDataTree(d: InstanceMetadataDoc): Dir {
  const groups = d.securityGroups.join('\n');
  const iface = dir({
    'device-number': '0',
    'local-hostname': d.hostname,
    'local-ipv4s': d.privateIp,
    mac: d.mac,
    'owner-id': d.accountId,
    'public-ipv4s': d.publicIp,
    'security-groups': groups,
    'subnet-ipv4-cidr-block': d.subnetCidr,
  });
  return dir({
    'ami-id': d.imageId,
    'ami-launch-index': String(d.launchIndex),
    'ami-manifest-path': '(unknown)',
    'block-device-mapping': dir({ ami: '/dev/vda', root: '/dev/vda' }),
    hostname: d.hostname,
    'instance-action': 'none',
    'instance-id': d.instanceId,
    'instance-life-cycle': 'on-demand',
    'instance-type': d.instanceType,
    'kernel-id': d.kernelId,
    'local-hostname': d.hostname,
    'local-ipv4': d.privateIp,
    mac: d.mac,
    network: dir({ interfaces: dir({ macs: dir({ [d.mac]: iface }) }) }),
    placement: dir({ 'availability-zone': d.zone, region: d.region }),
    'public-hostname': d.publicIp ? d.hostname : undefined,
    'public-ipv4': d.publicIp,
    'public-keys': d.openSshKey
      ? dir({ '0': dir({ 'openssh-key': d.openSshKey }) }, [`0=${d.keyName ?? 'key'}`])
      : undefined,
    'ramdisk-id': d.ramdiskId,
    'reservation-id': d.reservationId,
    'security-groups': groups,
    services: dir({ domain: 'amazonaws.com', partition: 'aws' }),
  });
}

function versionTree(d: InstanceMetadataDoc): Dir {
  return dir(
    {
      dynamic: dir({ 'instance-identity': dir({ document: identityDocument(d) }) }),
      'meta-data': metaDataTree(d),
      'user-data': d.userData !== undefined ? Buffer.from(d.userData, 'base64').toString('latin1') : undefined,
    },
    // AWS lists these three without trailing slashes
    ['dynamic', 'meta-data', ...(d.userData !== undefined ? ['user-data'] : [])],
  );
}

function listing(n: Dir): string {
  return (n.listing ?? Object.entries(n.entries).map(([k, v]) => (typeof v === 'string' ? k : `${k}/`))).join('\n');
}

export type Resolved = { kind: 'value'; body: Buffer; contentType: string } | { kind: 'listing'; body: Buffer } | null;

/** Resolve a URL path (already without query) against an instance's document. null = 404. */
export function resolvePath(d: InstanceMetadataDoc, urlPath: string): Resolved {
  const segs = urlPath.split('/').filter((s) => s.length);
  if (!segs.length) return { kind: 'listing', body: Buffer.from(API_VERSIONS.join('\n')) };
  if (!VERSION_SET.has(segs[0]!)) return null;
  let n: Node = versionTree(d);
  for (const s of segs.slice(1)) {
    if (typeof n === 'string') return null;
    const next: Node | undefined = Object.prototype.hasOwnProperty.call(n.entries, s) ? n.entries[s] : undefined;
    if (next === undefined) return null;
    n = next;
  }
  if (typeof n === 'string') {
    const userData = segs.length === 2 && segs[1] === 'user-data';
    return {
      kind: 'value',
      body: Buffer.from(n, userData ? 'latin1' : 'utf8'),
      contentType: userData ? 'application/octet-stream' : 'text/plain',
    };
  }
  return { kind: 'listing', body: Buffer.from(listing(n)) };
}

// ---------------------------------------------------------------- HTTP

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 500: 'Internal Server Error',
};

/** The body AWS's metadata service answers errors with. */
export function errorBody(status: number): string {
  const t = `${status} - ${STATUS_TEXT[status] ?? 'Error'}`;
  return `<?xml version="1.0" encoding="iso-8859-1"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
	"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>${t}</title>
 </head>
 <body>
  <h1>${t}</h1>
 </body>
</html>
`;
}

const stripV4Mapped = (a: string | undefined) => (a ?? '').replace(/^::ffff:/, '');

/** Local address -> VNI from this namespace's interfaces (vb<vni> holds the gateway address). Cached briefly. */
export function interfaceVniResolver(ttlMs = 2000): (localAddr: string) => number | null {
  let map = new Map<string, number>();
  let at = 0;
  const load = () => {
    map = new Map();
    for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
      const m = /^vb(\d+)$/.exec(name);
      if (!m) continue;
      for (const a of addrs ?? []) if (a.family === 'IPv4' && !map.has(a.address)) map.set(a.address, Number(m[1]));
    }
    at = Date.now();
  };
  return (addr) => {
    if (Date.now() - at > ttlMs || !map.has(addr)) load();
    return map.get(addr) ?? null;
  };
}

export function defaultPeerOf(): (req: IncomingMessage) => Peer | null {
  const vniOf = interfaceVniResolver();
  return (req) => {
    const local = stripV4Mapped(req.socket.localAddress);
    const ip = stripV4Mapped(req.socket.remoteAddress);
    const vni = vniOf(local);
    return vni === null || !ip ? null : { vni, ip };
  };
}

async function readDoc(stateDir: string, peer: Peer): Promise<InstanceMetadataDoc | null> {
  let text: string;
  try {
    text = await fs.readFile(docPath(stateDir, peer.vni, peer.ip), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return validateDoc(JSON.parse(text));
}

export function createMetadataHandler(opts: HandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  if (opts.secret.length < 32) throw new Error('metadata token secret must be >= 32 bytes');
  const now = opts.now ?? Date.now;
  const peerOf = opts.peerOf ?? defaultPeerOf();

  const send = (req: IncomingMessage, res: ServerResponse, status: number, body: Buffer | string, headers: Record<string, string> = {}) => {
    const b = typeof body === 'string' ? Buffer.from(body) : body;
    res.writeHead(status, {
      'Content-Type': status >= 400 ? 'text/html' : 'text/plain',
      'Content-Length': String(b.length),
      Server: 'EC2ws',
      ...headers,
    });
    res.end(req.method === 'HEAD' ? undefined : b);
  };
  const fail = (req: IncomingMessage, res: ServerResponse, status: number, headers?: Record<string, string>) =>
    send(req, res, status, errorBody(status), headers);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume(); // bodies are ignored
    const urlPath = (req.url ?? '/').split('?')[0]!.replace(/\/{2,}/g, '/');
    const method = req.method ?? 'GET';
    const peer = await peerOf(req);
    const norm = urlPath.replace(/\/+$/, '');

    if (norm === TOKEN_PATH) {
      if (method !== 'PUT') return fail(req, res, 405, { Allow: 'PUT' });
      if (req.headers['x-forwarded-for'] !== undefined) return fail(req, res, 403);
      const ttlRaw = req.headers[TOKEN_TTL_HEADER];
      const ttl = typeof ttlRaw === 'string' && /^\d{1,6}$/.test(ttlRaw.trim()) ? Number(ttlRaw.trim()) : NaN;
      if (!(ttl >= 1 && ttl <= MAX_TOKEN_TTL)) return fail(req, res, 400);
      if (!peer || !(await readDoc(opts.stateDir, peer))) return fail(req, res, 404);
      return send(req, res, 200, issueToken(opts.secret, peer, ttl, now()), { 'X-Aws-Ec2-Metadata-Token-Ttl-Seconds': String(ttl) });
    }
    if (method !== 'GET' && method !== 'HEAD') return fail(req, res, 405, { Allow: 'GET, HEAD' });

    // IMDSv2 when a token is presented (httpTokens = optional: no token is IMDSv1).
    const extra: Record<string, string> = {};
    const tok = req.headers[TOKEN_HEADER];
    if (tok !== undefined) {
      const left = peer && typeof tok === 'string' ? checkToken(opts.secret, tok.trim(), peer, now()) : null;
      if (left === null) return fail(req, res, 401);
      extra['X-Aws-Ec2-Metadata-Token-Ttl-Seconds'] = String(Math.ceil(left / 1000));
    }
    if (!peer) return fail(req, res, 404);
    const doc = await readDoc(opts.stateDir, peer);
    if (!doc) return fail(req, res, 404);
    const r = resolvePath(doc, urlPath);
    if (!r) return fail(req, res, 404);
    if (r.kind === 'value') extra['Content-Type'] = r.contentType;
    return send(req, res, 200, r.body, extra);
  }

  return (req, res) => {
    handle(req, res).catch((e) => {
      console.error(`metadata: ${req.method} ${req.url}: ${(e as Error).stack ?? e}`);
      if (!res.headersSent) fail(req, res, 500);
      else res.destroy();
    });
  };
}

/**
 * An http.Server around the handler, hardened for guests: short timeouts, few headers, and
 * half-closed requests answered (a client that sends its request and shuts down its write
 * side, as `printf ... | nc` does, still gets the response; Node's default drops it).
 */
export function createMetadataServer(opts: HandlerOptions): http.Server {
  const server = http.createServer(createMetadataHandler(opts));
  (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 50;
  return server;
}
