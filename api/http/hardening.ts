/**
 * The limits both listeners (the EC2 API, api/main.ts, and Walrus S3,
 * api/s3/main.ts) put on what a client may hold, so a client that sends
 * slowly, or not at all, or opens connection after connection, can not keep
 * the server's sockets and memory for as long as it likes:
 *
 * - headers timeout: the request line and headers must be in within
 *   headersTimeoutMs of the request's first byte; a new connection that sends
 *   nothing is closed after the same time (Node's headersTimeout does both).
 * - whole-request timeout (requestTimeoutMs; the EC2 API, whose bodies are at
 *   most 1 MiB): headers and body within that time. The time the server takes
 *   to answer does not count.
 * - body progress (minBodyRate; S3, whose uploads may be many GiB): while a
 *   request's body is arriving, every window of bodyRateWindowMs must bring at
 *   least minBodyRate x window bytes, so a body dribbled a byte at a time is
 *   cut off while an upload at any usable speed never is. A window in which the
 *   server itself is not reading (backpressure: the socket is paused) does not
 *   count against the client.
 * - idle keep-alive (keepAliveTimeoutMs): a connection with no request in
 *   flight is closed after that long.
 * - idle socket (idleTimeoutMs): no byte in either direction for that long
 *   (a client that never reads its answer), the socket is closed.
 * - connections per client address (maxConnectionsPerIp): one more is answered
 *   503 (SlowDown / RequestLimitExceeded) and closed.
 *
 * What Node would answer with an empty body (431 for a request line and headers
 * over maxHeaderBytes, 408 for a timeout, 400 for bytes that are not HTTP) is
 * answered with the protocol's XML error document instead (the server's
 * 'clientError' event): EC2's `<Response><Errors>...` or S3's `<Error>...`.
 */
import http from 'node:http';
import type net from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { config } from '../../lib/config';

export type ErrorStyle = 'ec2' | 's3';

export interface HardeningOptions {
  /** which XML error document clients get */
  style: ErrorStyle;
  /** request line + headers must arrive within this (and a new connection must start sending) */
  headersTimeoutMs: number;
  /** the whole request (headers and body) must arrive within this; 0 = no limit (S3) */
  requestTimeoutMs: number;
  /** bytes per second a body must at least arrive at, averaged over bodyRateWindowMs; 0 = no rule */
  minBodyRate: number;
  bodyRateWindowMs: number;
  /** an idle keep-alive connection is closed after this */
  keepAliveTimeoutMs: number;
  /** a socket with no traffic either way for this long is closed; 0 = never */
  idleTimeoutMs: number;
  /** concurrent connections one client address may hold on this listener */
  maxConnectionsPerIp: number;
  /** request line + headers, bytes */
  maxHeaderBytes: number;
  /** how often the timers are checked (Node's connectionsCheckingInterval, the body-rate sweep) */
  checkIntervalMs: number;
  /** told about each connection or request cut off (for the log) */
  onReject?: (what: RejectInfo) => void;
}

export interface RejectInfo {
  reason: 'headers-timeout' | 'request-timeout' | 'slow-body' | 'too-many-connections' | 'headers-too-large' | 'bad-request';
  remoteAddress?: string;
  detail?: string;
}

const DEFAULTS = {
  headersTimeoutMs: 20_000, requestTimeoutMs: 0, minBodyRate: 0, bodyRateWindowMs: 30_000,
  keepAliveTimeoutMs: 5_000, idleTimeoutMs: 300_000, maxConnectionsPerIp: 512, maxHeaderBytes: 16 * 1024, checkIntervalMs: 1_000,
};

/** The EC2 API's limits from the configuration (lib/config.ts `http`). */
export function ec2Limits(c = config.http): HardeningOptions {
  return {
    ...DEFAULTS, style: 'ec2', headersTimeoutMs: c.headersTimeoutMs, requestTimeoutMs: c.apiRequestTimeoutMs, minBodyRate: 0,
    keepAliveTimeoutMs: c.keepAliveTimeoutMs, idleTimeoutMs: c.idleTimeoutMs, maxConnectionsPerIp: c.maxConnectionsPerIp, maxHeaderBytes: c.maxHeaderBytes,
  };
}

/** Walrus S3's limits from the configuration: no whole-request limit, a minimum body rate instead. */
export function s3Limits(c = config.http): HardeningOptions {
  return {
    ...DEFAULTS, style: 's3', headersTimeoutMs: c.headersTimeoutMs, requestTimeoutMs: 0, minBodyRate: c.s3MinBodyRate, bodyRateWindowMs: c.s3BodyRateWindowMs,
    keepAliveTimeoutMs: c.keepAliveTimeoutMs, idleTimeoutMs: c.idleTimeoutMs, maxConnectionsPerIp: c.maxConnectionsPerIp, maxHeaderBytes: c.maxHeaderBytes,
  };
}

// ---------------------------------------------------------------- error documents

const xmlEscape = (s: string) => s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' }[c]!));

/** The raw HTTP response with the protocol's XML error document; the connection closes after it. */
export function errorResponse(style: ErrorStyle, status: number, code: string, message: string): string {
  let body: string;
  const head: string[] = [];
  if (style === 'ec2') {
    const id = randomUUID();
    body = `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error></Errors><RequestID>${id}</RequestID></Response>`;
    head.push('Content-Type: text/xml;charset=UTF-8', `x-amzn-RequestId: ${id}`);
  } else {
    const id = randomBytes(8).toString('hex').toUpperCase();
    body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message><RequestId>${id}</RequestId><HostId>${id}</HostId></Error>`;
    head.push('Content-Type: application/xml', `x-amz-request-id: ${id}`, `x-amz-id-2: ${id}`, 'Server: Walrus');
  }
  const reason = http.STATUS_CODES[status] ?? 'Error';
  return [`HTTP/1.1 ${status} ${reason}`, ...head, `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', `Date: ${new Date().toUTCString()}`, '', body].join('\r\n');
}

interface Answer { status: number; code: string; message: string }

function answers(style: ErrorStyle, maxHeaderBytes: number) {
  const timeout: Answer = style === 'ec2'
    ? { status: 408, code: 'RequestTimeout', message: 'The request was not received in time; the connection is closed.' }
    : { status: 400, code: 'RequestTimeout', message: 'Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.' };
  return {
    timeout,
    slowBody: { ...timeout, message: style === 'ec2' ? 'The request body arrived too slowly; the connection is closed.' : timeout.message },
    headersTooLarge: {
      status: 431, code: 'RequestHeaderSectionTooLarge',
      message: `Your request header section exceeds the maximum allowed size: the request line (URL included) and headers may be at most ${maxHeaderBytes} bytes.`,
    },
    badRequest: { status: 400, code: style === 'ec2' ? 'InvalidRequest' : 'BadRequest', message: 'The request is not valid HTTP.' },
    tooMany: style === 'ec2'
      ? { status: 503, code: 'RequestLimitExceeded', message: 'Too many connections from your address; close some and retry.' }
      : { status: 503, code: 'SlowDown', message: 'Too many connections from your address; please reduce your request rate.' },
  };
}

/** Writes a final answer on a raw socket and closes it (soon, whatever the peer does). */
function answerAndClose(socket: net.Socket, raw: string): void {
  if (socket.destroyed) return;
  const kill = setTimeout(() => socket.destroy(), 1_000);
  kill.unref();
  if (!socket.writable) { socket.destroy(); return; }
  socket.end(raw, () => { clearTimeout(kill); setTimeout(() => socket.destroy(), 200).unref(); });
}

/** Has a response begun on this socket (then only closing it is left)? */
function responseStarted(socket: net.Socket): boolean {
  const res = (socket as unknown as { _httpMessage?: http.ServerResponse | null })._httpMessage;
  return !!res && res.headersSent;
}

const clientAddress = (socket: net.Socket) => (socket.remoteAddress ?? '?').replace(/^::ffff:/, '');

// ---------------------------------------------------------------- the server

export interface HardenedServer extends http.Server {
  /** live connections per client address (for tests and the log) */
  readonly connectionsByAddress: ReadonlyMap<string, number>;
}

/**
 * An http.Server for `app` with these limits. Use it in place of app.listen():
 * `createHardenedServer(app, opts).listen(port, host)`.
 */
export function createHardenedServer(app: http.RequestListener, options: Partial<HardeningOptions> & { style: ErrorStyle }): HardenedServer {
  const o: HardeningOptions = { ...DEFAULTS, ...options };
  const requestTimeout = Math.max(0, o.requestTimeoutMs);
  // Node wants headersTimeout <= requestTimeout when there is a request timeout.
  const headersTimeout = requestTimeout > 0 ? Math.min(o.headersTimeoutMs, requestTimeout) : o.headersTimeoutMs;
  const ans = answers(o.style, o.maxHeaderBytes);
  const refused = new WeakSet<net.Socket>();
  const perIp = new Map<string, number>();

  interface Watch { req: http.IncomingMessage; res: http.ServerResponse; socket: net.Socket; windowStart: number; bytesAtStart: number }
  const watched = new Set<Watch>();

  const server = http.createServer({
    headersTimeout, requestTimeout, keepAliveTimeout: o.keepAliveTimeoutMs, maxHeaderSize: o.maxHeaderBytes,
    connectionsCheckingInterval: o.checkIntervalMs,
  }, (req, res) => {
    // a connection over the cap got its 503 already; nothing it asks for is served
    if (refused.has(req.socket)) return;
    if (o.minBodyRate > 0 && !req.complete && hasBody(req)) {
      const w: Watch = { req, res, socket: req.socket, windowStart: Date.now(), bytesAtStart: req.socket.bytesRead };
      watched.add(w);
      const done = () => watched.delete(w);
      req.once('end', done); req.once('close', done); res.once('close', done);
    }
    app(req, res);
  }) as HardenedServer;
  server.timeout = o.idleTimeoutMs;          // socket inactivity (Node destroys the socket)
  Object.defineProperty(server, 'connectionsByAddress', { value: perIp });

  // connections per client address
  server.on('connection', (socket: net.Socket) => {
    const ip = clientAddress(socket);
    const n = (perIp.get(ip) ?? 0) + 1;
    perIp.set(ip, n);
    socket.once('close', () => {
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left <= 0) perIp.delete(ip); else perIp.set(ip, left);
    });
    if (n > o.maxConnectionsPerIp) {
      refused.add(socket);
      o.onReject?.({ reason: 'too-many-connections', remoteAddress: ip, detail: `${n - 1} open` });
      answerAndClose(socket, errorResponse(o.style, ans.tooMany.status, ans.tooMany.code, ans.tooMany.message));
    }
  });

  // what Node would answer with an empty body
  server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    const code = err.code ?? '';
    if (code === 'ECONNRESET' || code === 'EPIPE' || !socket.writable || refused.has(socket) || responseStarted(socket)) {
      socket.destroy();
      return;
    }
    let a: Answer;
    let reason: RejectInfo['reason'];
    if (code === 'HPE_HEADER_OVERFLOW') { a = ans.headersTooLarge; reason = 'headers-too-large'; }
    else if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      a = ans.timeout;
      reason = (socket as unknown as { parser?: { incoming?: unknown } }).parser?.incoming ? 'request-timeout' : 'headers-timeout';
    } else { a = ans.badRequest; reason = 'bad-request'; }
    o.onReject?.({ reason, remoteAddress: clientAddress(socket), detail: code });
    answerAndClose(socket, errorResponse(o.style, a.status, a.code, a.message));
  });

  // body progress
  if (o.minBodyRate > 0) {
    const windowMs = Math.max(1, o.bodyRateWindowMs);
    const need = (o.minBodyRate * windowMs) / 1000;
    const sweep = setInterval(() => {
      const now = Date.now();
      for (const w of watched) {
        const { req, socket } = w;
        if (req.complete || socket.destroyed) { watched.delete(w); continue; }
        // the server is not reading (backpressure), or the client waits for a "100 Continue" the
        // server has not sent yet (api/s3/continue.ts defers it until the request is authorised):
        // not the client's time
        if (socket.isPaused() || awaitingContinue(req, w.res)) { w.windowStart = now; w.bytesAtStart = socket.bytesRead; continue; }
        if (now - w.windowStart < windowMs) continue;
        const got = socket.bytesRead - w.bytesAtStart;
        if (got >= need) { w.windowStart = now; w.bytesAtStart = socket.bytesRead; continue; }
        watched.delete(w);
        o.onReject?.({ reason: 'slow-body', remoteAddress: clientAddress(socket), detail: `${got} bytes in ${now - w.windowStart} ms` });
        if (responseStarted(socket)) socket.destroy();
        else answerAndClose(socket, errorResponse(o.style, ans.slowBody.status, ans.slowBody.code, ans.slowBody.message));
      }
    }, Math.max(10, Math.min(o.checkIntervalMs, windowMs)));
    sweep.unref();
    server.once('close', () => clearInterval(sweep));
  }
  return server;
}

/** Expect: 100-continue, and neither the 100 nor a final answer has gone out yet. */
function awaitingContinue(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  if (!/100-continue/i.test(String(req.headers.expect ?? ''))) return false;
  return !(res as unknown as { _sent100?: boolean })._sent100 && !res.headersSent;
}

function hasBody(req: http.IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

/** Starts listening; resolves with the server once it is bound (port 0: see server.address()). */
export function listen(server: http.Server, port: number, host: string): Promise<http.Server> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    server.listen(port, host, () => { server.off('error', onError); resolve(server); });
  });
}
