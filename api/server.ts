/**
 * Express app wiring for the API process. The EC2 router answers every path
 * (the AWS CLI uses '/'); the optional health handler is mounted before it on
 * GET /healthz. Whatever escapes is rendered as EC2 XML, never as express's
 * default HTML page.
 */
import { randomUUID } from 'node:crypto';
import express from 'express';
import type { Logger } from 'pino';
import { Ec2Error, INTERNAL_ERROR_MESSAGE } from './ec2/errors';
import { sendEc2Error } from './ec2/router';
import { createHardenedServer, ec2Limits, type HardenedServer, type HardeningOptions } from './http/hardening';

export interface ApiAppOptions {
  ec2: express.Router;
  /** served on GET /healthz (unauthenticated) */
  health?: express.RequestHandler;
  /** used by the final error handler; optional */
  log?: Logger;
}

export function createApiApp(opts: ApiAppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', false);
  if (opts.health) app.get('/healthz', opts.health);
  app.use(opts.ec2);
  // Nothing should reach these: the EC2 router answers everything.
  app.use((req, res) => {
    const id = randomUUID();
    sendEc2Error(res, new Ec2Error('InvalidAction', 'The requested resource is not valid for this web service.'), id);
  });
  app.use((err: unknown, req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const id = (res.getHeader('x-amzn-requestid') as string | undefined) ?? randomUUID();
    let e: Ec2Error;
    if (err instanceof Ec2Error && err.code !== 'InternalError') {
      e = err;
    } else if (isHttpClientError(err)) {
      e = new Ec2Error(err.status === 413 ? 'RequestEntityTooLarge' : 'MalformedQueryString', err.message, err.status);
    } else {
      opts.log?.error({ err, requestId: id }, 'unhandled error in API app');
      if (!opts.log) console.error(err);
      e = new Ec2Error('InternalError', INTERNAL_ERROR_MESSAGE, 500);
    }
    sendEc2Error(res, e, id);
  });
  return app;
}

/**
 * The EC2 API's listener: the app on an http.Server with the configured limits
 * (api/http/hardening.ts: timeouts, connections per address, XML answers for
 * what Node refuses); `limits` overrides them (tests).
 */
export function createApiServer(opts: ApiAppOptions, limits: Partial<HardeningOptions> = {}): HardenedServer {
  return createHardenedServer(createApiApp(opts), {
    ...ec2Limits(), ...limits, style: 'ec2',
    onReject: limits.onReject ?? ((r) => opts.log?.info(r, 'EC2 API connection cut')),
  });
}

function isHttpClientError(err: unknown): err is { status: number; message: string } {
  const s = (err as { status?: unknown } | null)?.status;
  return typeof s === 'number' && s >= 400 && s < 500 && (err as { expose?: unknown }).expose === true;
}
