/**
 * EC2 Query API router: HTTP -> SigV4 -> Action/Version/params -> handler ->
 * EC2 XML. Every outcome, including malformed input, is an EC2 XML document.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import express from 'express';
import type { Logger } from 'pino';
import { AuthError, parseQueryPairs, sigV4ScopeService, verifySigV4, type Credential } from '../auth/sigv4';
import { isSigV2, SIGV2_AUTH_PARAMS, verifySigV2 } from '../auth/sigv2';
import { loadService, type ServiceModel } from '../model/service';
import { parseInput, type InputObject } from '../model/queryInput';
import { renderEc2Error, renderEc2Response, renderQueryError, renderQueryResponse } from '../model/xmlOutput';
import { Ec2Error, ec2Errors, INTERNAL_ERROR_MESSAGE } from './errors';
import { parseEc2Request, parseQueryString } from './query';
import { checkFilterLimits } from './actions/filters';

/** The Query services one listener answers, told apart by the SigV4 scope (SigV2 is EC2 only). */
export type QueryServiceName = 'ec2' | 'sts' | 'iam';

export interface Ec2Context {
  service: QueryServiceName;
  /** the operation's input, parsed and validated from the service model (member names as in botocore) */
  input: InputObject;
  /** how the caller signed: 'sigv4' or 'sigv2' */
  signature: 'sigv4' | 'sigv2';
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
  /** the small Query services beside EC2 (STS, IAM) on the same listener */
  services?: Partial<Record<Exclude<QueryServiceName, 'ec2'>, Ec2ActionTable>>;
  /** true: a handler result key the output shape does not know is an error (tests); default EUCA_STRICT_OUTPUT=1 */
  strictOutput?: boolean;
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
  sendXml(res, err.httpStatus, renderEc2Error(err.code, err.message, requestId), requestId);
}

/** STS and IAM name authentication failures differently from EC2. */
function queryAuthError(e: AuthError): Ec2Error {
  if (e.kind === 'missing') return new Ec2Error('MissingAuthenticationToken', 'Request is missing Authentication Token', 403);
  if (e.kind === 'unknown-key') return new Ec2Error('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
  return new Ec2Error(e.code, e.message, 403);
}

function sendQueryError(res: express.Response, model: ServiceModel, err: Ec2Error, requestId: string): void {
  sendXml(res, err.httpStatus, renderQueryError(model, err.code, err.message, requestId, err.httpStatus), requestId);
}

function bodyPairs(method: string, contentType: string | undefined, body: Buffer): Array<[string, string]> {
  if (method !== 'POST' || body.length === 0) return [];
  const ct = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (ct !== '' && ct !== 'application/x-www-form-urlencoded') return [];
  try {
    return parseQueryPairs(new TextDecoder('utf-8', { fatal: true }).decode(body).trim());
  } catch {
    return [];
  }
}

const NOT_INPUT = new Set(['Action', 'Version']);

export function ec2Router(opts: Ec2RouterOptions): express.Router {
  const router = express.Router();
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const nowFn = opts.now ?? (() => new Date());
  const strict = opts.strictOutput ?? process.env.EUCA_STRICT_OUTPUT === '1';
  const services = new Map<QueryServiceName, { model: ServiceModel; actions: Ec2ActionTable }>();
  services.set('ec2', { model: loadService('ec2'), actions: opts.actions });
  for (const [name, actions] of Object.entries(opts.services ?? {}) as Array<[QueryServiceName, Ec2ActionTable]>) {
    services.set(name, { model: loadService(name), actions });
  }
  // Every action the cloud answers is one the service model describes: that is what parses and renders it.
  for (const [name, { model, actions }] of services) {
    for (const act of Object.keys(actions)) if (!model.operations.has(act)) throw new Error(`${name} action ${act} is not in the ${name} service model`);
  }

  router.use(async (req, res) => {
    const started = process.hrtime.bigint();
    const requestId = randomUUID();
    const log = opts.log.child({ requestId });
    res.setHeader('x-amzn-requestid', requestId);

    let action: string | undefined;
    let accountId: string | undefined;
    let errorCode: string | undefined;
    let service: QueryServiceName = 'ec2';

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

      // Which signature, and so which service: SigV4 names its service in the
      // credential scope; SigV2 (euca2ools) is EC2's alone.
      const scoped = sigV4ScopeService(req.headersDistinct, query);
      const allPairs = [...parseQueryPairs(query), ...bodyPairs(req.method, req.headers['content-type'], body)];
      const sigv2 = scoped === undefined && isSigV2(allPairs);
      if (scoped !== undefined && services.has(scoped as QueryServiceName)) service = scoped as QueryServiceName;
      const svc = services.get(service)!;
      let cred: Credential;
      try {
        cred = sigv2
          ? await verifySigV2({ method: req.method, host: req.headers.host ?? '', path, params: allPairs }, opts.lookupCredential, { now })
          : await verifySigV4(
              { method: req.method, path, query, headers: req.headersDistinct, body },
              opts.lookupCredential,
              { service, region: service === 'ec2' ? opts.region : undefined, now },
            );
      } catch (e) {
        if (e instanceof AuthError) throw service === 'ec2' ? new Ec2Error(e.code, e.message, e.httpStatus) : queryAuthError(e);
        throw e;
      }
      accountId = cred.accountId;

      const params = parseEc2Request({ method: req.method, query, contentType: req.headers['content-type'], body });
      if (sigv2) for (const k of SIGV2_AUTH_PARAMS) delete params[k];

      const act = params['Action'];
      if (act === undefined || act === '') throw ec2Errors.missingAction();
      action = act;
      if (!Object.prototype.hasOwnProperty.call(svc.actions, act) || !svc.model.operations.has(act)) throw ec2Errors.invalidAction(act);
      const entry = svc.actions[act];

      const version = params['Version'];
      if (version === undefined || version === '') throw ec2Errors.missingParameter('Version');
      const versionOk = service === 'ec2' ? isValidEc2Version(version, now) : version === svc.model.apiVersion;
      if (!versionOk) {
        throw new Ec2Error('NoSuchVersion', `The requested version (${version}) of service ${service === 'ec2' ? 'AmazonEC2' : service.toUpperCase()} does not exist`);
      }

      const input = parseInput(svc.model, act, Object.entries(params).filter(([k]) => !NOT_INPUT.has(k)));
      // AWS's filter limits are part of validating the request, so they come before DryRun.
      if (Array.isArray(input['Filters'])) {
        checkFilterLimits((input['Filters'] as Array<{ Name?: string; Values?: string[] }>).map((f) => ({ name: f.Name ?? '', values: f.Values ?? [] })));
      }
      const dryRun = input['DryRun'] === true;
      if (dryRun && !entry.dryRunPermitted) throw ec2Errors.dryRun();

      const ctx: Ec2Context = {
        service,
        input,
        signature: sigv2 ? 'sigv2' : 'sigv4',
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
      const onUnknown = (p: string) => {
        if (strict) throw new Error(`${act} handler returned ${p}, which the output shape does not have`);
        log.warn({ action: act, member: p }, 'handler returned a member the output shape does not have; dropped');
      };
      const xml = service === 'ec2'
        ? renderEc2Response(svc.model, act, requestId, result, version, { onUnknown })
        : renderQueryResponse(svc.model, act, requestId, result, { onUnknown });
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
      if (service === 'ec2') sendEc2Error(res, err, requestId);
      else sendQueryError(res, services.get(service)!.model, err, requestId);
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.info(
        { service, action, accountId, status: res.statusCode, ms: Math.round(ms * 10) / 10, ...(errorCode ? { code: errorCode } : {}) },
        `${service} request`,
      );
    }
  });

  return router;
}
