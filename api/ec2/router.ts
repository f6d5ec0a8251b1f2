/**
 * EC2 Query API router: HTTP -> SigV4 -> Action/Version/params -> handler ->
 * EC2 XML. Every outcome, including malformed input, is an EC2 XML document.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import express from 'express';
import type { Logger } from 'pino';
import { AuthError, verifySigV4, type Credential } from '../auth/sigv4';
import { Ec2Error, ec2Errors, INTERNAL_ERROR_MESSAGE } from './errors';
import { getBool, parseEc2Request, parseQueryString } from './query';
import { renderError, renderResponse } from './xml';

export interface Ec2Context {
  requestId: string;
  accountId: string;
  accessKeyId: string;
  userName?: string;
  action: string;
  version: string;
  params: Record<string, string>;
  log: Logger;
  dryRun: boolean;
}

/** Returns the response body object (see xml.ts); throws Ec2Error. */
export type Ec2Handler = (ctx: Ec2Context) => Promise<object>;

export interface Ec2ActionTable {
  [action: string]: {
    handler: Ec2Handler;
    /**
     * true: the handler understands DryRun. It is called with ctx.dryRun=true,
     * validates, then calls dryRunCheck(ctx) (throws DryRunOperation). If it
     * returns normally anyway the router throws DryRunOperation itself.
     * false/absent: with DryRun=true the handler is not called at all; the
     * router answers DryRunOperation right after authentication.
     */
    dryRunPermitted?: boolean;
  };
}

export interface Ec2RouterOptions {
  actions: Ec2ActionTable;
  lookupCredential: (accessKeyId: string) => Promise<Credential | undefined>;
  /** if set, the SigV4 credential scope must name this region */
  region?: string;
  log: Logger;
  /** default 1 MiB */
  maxBodyBytes?: number;
  /** for tests: server clock */
  now?: () => Date;
}

export const MIN_EC2_VERSION = '2009-01-01';
export const CONTENT_TYPE_XML = 'text/xml;charset=UTF-8';
const DEFAULT_MAX_BODY = 1024 * 1024;

/** Handlers call this after validating their input: throws DryRunOperation when ctx.dryRun. */
export function dryRunCheck(ctx: Pick<Ec2Context, 'dryRun'>): void {
  if (ctx.dryRun) throw ec2Errors.dryRun();
}

/** yyyy-mm-dd, a real date, not before MIN_EC2_VERSION, not after today (UTC). */
export function isValidEc2Version(v: string, now = new Date()): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
  if (!m) return false;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
  if (Number.isNaN(d.getTime()) || d.getUTCDate() !== +m[3] || d.getUTCMonth() !== +m[2] - 1) return false;
  const today = now.toISOString().slice(0, 10);
  return v >= MIN_EC2_VERSION && v <= today;
}

class BodyTooLarge extends Error {}

function readRawBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const pre = (req as unknown as { body?: unknown }).body;
  if (Buffer.isBuffer(pre)) {
    return pre.length > limit ? Promise.reject(new BodyTooLarge()) : Promise.resolve(pre);
  }
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  const cl = req.headers['content-length'];
  if (cl !== undefined && Number(cl) > limit) return Promise.reject(new BodyTooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: Error | undefined, buf?: Buffer) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      if (err) reject(err);
      else resolve(buf!);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.pause();
        finish(new BodyTooLarge());
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => finish(undefined, Buffer.concat(chunks, size));
    const onError = (e: Error) => finish(e);
    const onAborted = () => finish(new Error('request aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

function splitUrl(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  return q < 0 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) };
}

/** Send an XML document with exactly EC2's content-type (express's res.send would rewrite the charset). */
export function sendXml(res: express.Response, status: number, xml: string, requestId: string): void {
  if (res.headersSent) return;
  const buf = Buffer.from(xml, 'utf8');
  res.statusCode = status;
  res.setHeader('content-type', CONTENT_TYPE_XML);
  res.setHeader('content-length', buf.length);
  res.setHeader('x-amzn-requestid', requestId);
  res.end(buf);
}

export function sendEc2Error(res: express.Response, err: Ec2Error, requestId: string): void {
  sendXml(res, err.httpStatus, renderError(err.code, err.message, requestId), requestId);
}

export function ec2Router(opts: Ec2RouterOptions): express.Router {
  const router = express.Router();
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const nowFn = opts.now ?? (() => new Date());

  router.use(async (req, res) => {
    const started = process.hrtime.bigint();
    const requestId = randomUUID();
    const log = opts.log.child({ requestId });
    res.setHeader('x-amzn-requestid', requestId);

    let action: string | undefined;
    let accountId: string | undefined;
    let errorCode: string | undefined;

    try {
      if (req.method !== 'GET' && req.method !== 'POST') {
        res.setHeader('allow', 'GET, POST');
        throw new Ec2Error('UnsupportedOperation', `The HTTP method ${req.method} is not supported by this web service.`, 405);
      }

      let body: Buffer;
      try {
        body = await readRawBody(req, maxBody);
      } catch (e) {
        if (e instanceof BodyTooLarge) {
          res.setHeader('connection', 'close');
          throw new Ec2Error('RequestEntityTooLarge', `The request body exceeds the maximum of ${maxBody} bytes.`, 413);
        }
        throw new Ec2Error('MalformedQueryString', 'The request body could not be read.');
      }

      const { path, query } = splitUrl(req.originalUrl ?? req.url);
      parseQueryString(query); // a malformed URL query is MalformedQueryString, before auth
      const now = nowFn();
      let cred: Credential;
      try {
        cred = await verifySigV4(
          { method: req.method, path, query, headers: req.headersDistinct, body },
          opts.lookupCredential,
          { service: 'ec2', region: opts.region, now },
        );
      } catch (e) {
        if (e instanceof AuthError) throw new Ec2Error(e.code, e.message, e.httpStatus);
        throw e;
      }
      accountId = cred.accountId;

      const params = parseEc2Request({ method: req.method, query, contentType: req.headers['content-type'], body });

      const act = params['Action'];
      if (act === undefined || act === '') throw ec2Errors.missingAction();
      action = act;
      if (!Object.prototype.hasOwnProperty.call(opts.actions, act)) throw ec2Errors.invalidAction(act);
      const entry = opts.actions[act];

      const version = params['Version'];
      if (version === undefined || version === '') throw ec2Errors.missingParameter('Version');
      if (!isValidEc2Version(version, now)) {
        throw new Ec2Error('NoSuchVersion', `The requested version (${version}) of service AmazonEC2 does not exist`);
      }

      const dryRun = getBool(params, 'DryRun') ?? false;
      if (dryRun && !entry.dryRunPermitted) throw ec2Errors.dryRun();

      const ctx: Ec2Context = {
        requestId,
        accountId: cred.accountId,
        accessKeyId: cred.accessKeyId,
        userName: cred.userName,
        action: act,
        version,
        params,
        log: log.child({ action: act, accountId: cred.accountId }),
        dryRun,
      };
      const result = await entry.handler(ctx);
      if (dryRun) throw ec2Errors.dryRun();
      if (result === null || typeof result !== 'object' || Array.isArray(result)) {
        throw new Error(`handler for ${act} returned ${result === null ? 'null' : typeof result}, expected an object`);
      }
      const xml = renderResponse(act, requestId, result, version);
      sendXml(res, 200, xml, requestId);
    } catch (e) {
      let err: Ec2Error;
      if (e instanceof Ec2Error && e.code !== 'InternalError') {
        err = e;
      } else {
        log.error({ err: e, action, accountId }, 'internal error in EC2 API');
        err = new Ec2Error('InternalError', INTERNAL_ERROR_MESSAGE, 500);
      }
      errorCode = err.code;
      sendEc2Error(res, err, requestId);
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.info(
        { action, accountId, status: res.statusCode, ms: Math.round(ms * 10) / 10, ...(errorCode ? { code: errorCode } : {}) },
        'ec2 request',
      );
    }
  });

  return router;
}
