/**
 * Walrus' S3 REST API. createS3App() returns an express app that answers
 * every request itself (path-style and virtual-host style), authenticates
 * (SigV4 header/query, SigV2 header/query, anonymous), dispatches on method +
 * sub-resource, and renders S3 XML errors. Bodies are never parsed by express:
 * object data is streamed to the storage engine (walrus/), XML documents are
 * read with a size cap.
 */
import { randomBytes } from 'node:crypto';
import express from 'express';
import { S3Error, errorXml } from './errors';
import { authenticate } from './auth';
import { type Ctx, type S3Options, hdr, loadBucket } from './context';
import * as B from './buckets';
import * as O from './objects';
import * as M from './multipart';
import { postObject } from './post';
import { accessHandler } from './permissions';
import { preflight, applyCors } from './cors';
import { featureHandler } from './bucketConfig';
import { checkKeyAndVersion } from './keys';
import { headerText } from './headerText';
import { checkExpectedOwner } from './owner';
import { Walrus } from '../../walrus/engine';
import { WalrusDbError } from '../../db/walrus';
import { StoreError } from '../../walrus/store';

export type { S3Options };

export interface S3App extends express.Express { walrus: Walrus; ready: Promise<void> }

export function createS3App(opts: S3Options): S3App {
  const walrus = new Walrus(opts.dataDir);
  const ready = walrus.init().then((n) => {
    if (n) opts.log.info({ removed: n }, 'removed orphaned temp files');
    // Data files no row references (a crash between rename and commit): swept in the background.
    walrus.sweepOrphans().then((m) => { if (m) opts.log.info({ removed: m }, 'removed orphaned data files'); })
      .catch((err) => opts.log.warn({ err }, 'orphan sweep failed'));
  });
  const o = { region: opts.region ?? 'us-east-1', minPartSize: opts.minPartSize ?? 5 * 1024 * 1024, maxObjectSize: opts.maxObjectSize ?? 5 * 1024 ** 3, ...opts };
  o.region = opts.region ?? 'us-east-1';
  const domains = [...(opts.domains ?? ['s3.localhost', 'localhost'])].sort((a, b) => b.length - a.length);
  const app = express() as unknown as S3App;
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);
  app.walrus = walrus;
  app.ready = ready;

  app.use(async (req, res) => {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('x-amz-id-2', requestId);
    res.setHeader('Server', 'Walrus');
    const raw = req.originalUrl ?? req.url;
    const qi = raw.indexOf('?');
    const rawPath = qi < 0 ? raw : raw.slice(0, qi);
    const rawQuery = qi < 0 ? '' : raw.slice(qi + 1);
    let resource = rawPath;
    const ctx = { req, res, requestId, method: req.method, q: new Map(), opts: o, walrus, resource, vhost: false } as unknown as Ctx;
    try {
      await ready;
      // addressing
      let path: string;
      try { path = decodeURIComponent(rawPath); } catch { throw new S3Error('InvalidURI', "Couldn't parse the specified URI."); }
      const host = (hdr(ctx, 'host') ?? '').replace(/:\d+$/, '').toLowerCase();
      // <bucket>.<domain> is virtual-host style; the domain itself (s3.<domain>, an IP) is path style
      const dom = domains.includes(host) ? undefined : domains.find((d) => host.endsWith('.' + d));
      let bucket: string | undefined, key: string | undefined;
      if (dom) {
        ctx.vhost = true;
        bucket = host.slice(0, host.length - dom.length - 1);
        key = path.length > 1 ? path.slice(1) : undefined;
      } else {
        const rest = path.slice(1);
        const i = rest.indexOf('/');
        bucket = (i < 0 ? rest : rest.slice(0, i)) || undefined;
        key = i < 0 ? undefined : rest.slice(i + 1) || undefined;
      }
      ctx.bucket = bucket; ctx.key = key;
      resource = ctx.resource = `/${bucket ?? ''}${key !== undefined ? '/' + key : ''}`;
      for (const part of rawQuery.split('&')) {
        if (!part) continue;
        const eq = part.indexOf('=');
        const dec = (s: string) => { try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { throw new S3Error('InvalidURI', "Couldn't parse the specified URI."); } };
        ctx.q.set(dec(eq < 0 ? part : part.slice(0, eq)), dec(eq < 0 ? '' : part.slice(eq + 1)));
      }
      const te = hdr(ctx, 'transfer-encoding');
      const cl = hdr(ctx, 'content-length');
      const hasBody = te !== undefined || (cl !== undefined && cl !== '0');
      // CORS (api/s3/cors.ts): a preflight is answered from the bucket's rules, unsigned; an actual
      // cross-origin request (signed, presigned or anonymous) gets its rule's headers, errors included
      if (req.method === 'OPTIONS') { await preflight(ctx); return; }
      if (bucket && req.headers.origin !== undefined) await applyCors(ctx);
      if (req.method === 'POST' && bucket && key === undefined && /^multipart\/form-data/i.test(hdr(ctx, 'content-type') ?? '') && !req.headers.authorization) {
        ctx.auth = { cred: null, mode: 'unsigned', sigVersion: 0 };
        ctx.caller = null;
        await postObject(ctx);
        return;
      }
      ctx.auth = await authenticate({ method: req.method, rawPath, rawQuery, headers: req.headers, vhostBucket: ctx.vhost ? bucket : undefined, hasBody }, opts.lookupCredential);
      ctx.caller = ctx.auth.cred?.accountId ?? null;
      // user metadata sent as UTF-8 bytes is that text (SigV4 verified it so already: api/s3/auth.ts)
      for (const [name, v] of Object.entries(req.headers)) if (name.startsWith('x-amz-meta-') && typeof v === 'string') req.headers[name] = headerText(v);
      await dispatch(ctx);
    } catch (err) {
      sendError(ctx, err, resource);
    }
  });
  return app;
}

async function dispatch(ctx: Ctx): Promise<void> {
  const { method, bucket, key } = ctx;
  const has = (k: string) => ctx.q.has(k);
  // what no operation accepts, answered alike by all of them (api/s3/keys.ts)
  checkKeyAndVersion(key, ctx.q.get('versionId'));
  if (bucket) await checkExpectedOwner(ctx, bucket, hdr(ctx, 'x-amz-expected-bucket-owner'));
  const notAllowed = () => { throw new S3Error('MethodNotAllowed', undefined, { Method: method, ResourceType: key ? 'OBJECT' : bucket ? 'BUCKET' : 'SERVICE' }); };
  // CORS, lifecycle, Object Lock, object attributes and the configurations Walrus answers as absent (api/s3/bucketConfig.ts)
  const feature = featureHandler(ctx);
  if (feature) return feature(ctx);
  // bucket policy, ACLs, Object Ownership, Block Public Access (api/s3/permissions.ts)
  const access = accessHandler(ctx);
  if (access) return access(ctx);
  if (!bucket) {
    if (method === 'GET') return B.listBuckets(ctx);
    return notAllowed();
  }
  if (key === undefined) {
    switch (method) {
      case 'GET':
        if (has('location')) return B.getLocation(ctx);
        if (has('versioning')) return B.getVersioning(ctx);
        if (has('tagging')) return B.getBucketTagging(ctx);
        if (has('versions')) return B.listObjectVersions(ctx);
        if (has('uploads')) return M.listUploads(ctx);
        if (ctx.q.get('list-type') === '2') return B.listObjects(ctx, true);
        return B.listObjects(ctx, false);
      case 'HEAD': return B.headBucket(ctx);
      case 'PUT':
        if (has('versioning')) return B.putVersioning(ctx);
        if (has('tagging')) return B.putBucketTagging(ctx);
        if ([...ctx.q.keys()].length) throw new S3Error('NotImplemented', 'This bucket sub-resource is not implemented');
        return B.createBucket(ctx);
      case 'DELETE':
        if (has('tagging')) return B.deleteBucketTagging(ctx);
        if ([...ctx.q.keys()].length) throw new S3Error('NotImplemented', 'This bucket sub-resource is not implemented');
        return B.deleteBucket(ctx);
      case 'POST':
        if (has('delete')) return B.deleteObjects(ctx);
        if (/^multipart\/form-data/i.test(hdr(ctx, 'content-type') ?? '')) return postObject(ctx);
        return notAllowed();
      default: return notAllowed();
    }
  }
  switch (method) {
    case 'GET':
      if (has('uploadId')) return M.listParts(ctx);
      if (has('tagging')) return O.getObjectTagging(ctx);
      if (has('torrent')) throw new S3Error('NotImplemented', 'This object sub-resource is not implemented');
      return O.getObject(ctx, false);
    case 'HEAD': return O.getObject(ctx, true);
    case 'PUT':
      if (has('uploadId') || has('partNumber')) return hdr(ctx, 'x-amz-copy-source') !== undefined ? M.uploadPartCopy(ctx) : M.uploadPart(ctx);
      if (has('tagging')) return O.putObjectTagging(ctx);
      if (hdr(ctx, 'x-amz-copy-source') !== undefined) return O.copyObject(ctx);
      return O.putObject(ctx);
    case 'DELETE':
      if (has('uploadId')) return M.abortUpload(ctx);
      if (has('tagging')) return O.deleteObjectTagging(ctx);
      return O.deleteObject(ctx);
    case 'POST':
      if (has('uploads')) return M.createUpload(ctx);
      if (has('uploadId')) return M.completeUpload(ctx);
      if (has('select') || has('restore')) throw new S3Error('NotImplemented', 'This object sub-resource is not implemented');
      return notAllowed();
    default: return notAllowed();
  }
}

function sendError(ctx: Ctx, err: unknown, resource: string) {
  let e: S3Error;
  if (err instanceof S3Error) e = err;
  else if (err instanceof WalrusDbError) e = new S3Error(err.code);
  else if (err instanceof StoreError) e = new S3Error(err.code === 'Aborted' ? 'IncompleteBody' : err.code);
  else if (isClientGone(err, ctx)) { ctx.res.destroy(); return; }
  else {
    ctx.opts.log.error({ err, requestId: ctx.requestId, method: ctx.method, resource }, 'S3 internal error');
    e = new S3Error('InternalError');
  }
  const res = ctx.res;
  if (res.headersSent) { res.destroy(); return; }
  if (e.status >= 500) ctx.opts.log.warn({ code: e.code, resource }, 'S3 error');
  // keep headers a handler set that S3 also sends on errors
  for (const name of res.getHeaderNames()) {
    if (name.startsWith('access-control-') || name === 'vary') continue;   // CORS headers go on errors too (api/s3/cors.ts)
    if (!['x-amz-request-id', 'x-amz-id-2', 'server', 'x-amz-delete-marker', 'x-amz-version-id', 'allow', 'content-range'].includes(name)) res.removeHeader(name);
  }
  const body = ctx.method === 'HEAD' ? '' : errorXml(e, resource, ctx.requestId);
  res.status(e.status);
  if (body) { res.setHeader('Content-Type', 'application/xml'); res.setHeader('Content-Length', Buffer.byteLength(body)); }
  // a body we did not read would otherwise be drained; for big uploads close instead
  if (!ctx.req.readableEnded && (Number(ctx.req.headers['content-length'] ?? 0) > 0 || ctx.req.headers['transfer-encoding'])) res.setHeader('Connection', 'close');
  res.end(body);
}

function isClientGone(err: unknown, ctx: Ctx): boolean {
  const code = (err as { code?: string } | null)?.code;
  return ctx.req.destroyed && (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (err as Error)?.message === 'aborted');
}
