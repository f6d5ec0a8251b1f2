// CORS (S3 "Using cross-origin resource sharing"): Put/Get/DeleteBucketCors, the
// preflight OPTIONS answered from the bucket's rules, and the Access-Control-*
// headers of actual requests (signed, presigned or anonymous, errors included)
// whose Origin and method a rule allows. The first rule that matches wins.
import { S3Error } from './errors';
import { xmlDoc, parseXml } from './xml';
import { type Ctx, hdr, loadBucket } from './context';
import { readCheckedBody } from './integrity';
import { sendXml } from './buckets';
import * as cfg from '../../db/walrusConfigs';

export interface CorsRule {
  id?: string; origins: string[]; methods: string[]; headers: string[]; expose: string[]; maxAge?: number;
}

const METHODS = ['GET', 'PUT', 'HEAD', 'POST', 'DELETE'];
const MAX_RULES = 100;

/** A repeated element as an array (the parser gives one element as a value). */
export const list = (v: unknown): unknown[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);
/** Leaf text, trimmed; undefined for a missing element or one with children. */
export const text = (v: unknown): string | undefined => (typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : undefined);
const texts = (v: unknown): string[] => list(v).map((x) => { const t = text(x); if (t === undefined) throw new S3Error('MalformedXML'); return t; });

export function parseCors(body: Buffer): CorsRule[] {
  const doc = parseXml(body, 'CORSConfiguration');
  if (typeof doc !== 'object' || doc === null) throw new S3Error('MalformedXML');
  const rules = list(doc.CORSRule);
  if (!rules.length) throw new S3Error('MalformedXML');
  if (rules.length > MAX_RULES) throw new S3Error('InvalidRequest', `The number of CORS rules should not exceed allowed limit of ${MAX_RULES} rules.`);
  return rules.map((r: any) => {
    if (typeof r !== 'object' || r === null) throw new S3Error('MalformedXML');
    const origins = texts(r.AllowedOrigin), methods = texts(r.AllowedMethod);
    if (!origins.length || !methods.length) throw new S3Error('MalformedXML');
    for (const m of methods) if (!METHODS.includes(m)) throw new S3Error('InvalidRequest', `Found unsupported HTTP method in CORS config. Unsupported method is ${m}`);
    for (const o of origins) if (o.split('*').length > 2) throw new S3Error('InvalidRequest', `AllowedOrigin "${o}" can not have more than one wildcard.`);
    const headers = texts(r.AllowedHeader);
    for (const h of headers) if (h.split('*').length > 2) throw new S3Error('InvalidRequest', `AllowedHeader "${h}" can not have more than one wildcard.`);
    const rule: CorsRule = { origins, methods, headers, expose: texts(r.ExposeHeader) };
    const id = text(r.ID);
    if (id !== undefined && id !== '') {
      if (id.length > 255) throw new S3Error('InvalidArgument', 'ID length should not exceed allowed limit of 255', { ArgumentName: 'ID', ArgumentValue: id.slice(0, 64) });
      rule.id = id;
    }
    if (r.MaxAgeSeconds !== undefined) {
      const m = text(r.MaxAgeSeconds);
      if (m === undefined || !/^-?\d+$/.test(m)) throw new S3Error('MalformedXML');
      rule.maxAge = Number(m);
    }
    return rule;
  });
}

export function corsXml(rules: CorsRule[]): string {
  return xmlDoc('CORSConfiguration', {
    CORSRule: rules.map((r) => ({
      ID: r.id, AllowedHeader: r.headers, AllowedMethod: r.methods, AllowedOrigin: r.origins, ExposeHeader: r.expose, MaxAgeSeconds: r.maxAge,
    })),
  });
}

export async function putBucketCors(ctx: Ctx) {
  await loadBucket(ctx, 'owner');
  const rules = parseCors(await readCheckedBody(ctx));
  await cfg.putBucketConfig(ctx.bucket!, 'cors', rules);
  ctx.res.status(200).setHeader('Content-Length', 0); ctx.res.end();
}

export async function getBucketCors(ctx: Ctx) {
  await loadBucket(ctx, 'owner');
  const rules = await cfg.getBucketConfig<CorsRule[]>(ctx.bucket!, 'cors');
  if (!rules) throw new S3Error('NoSuchCORSConfiguration', 'The CORS configuration does not exist', { BucketName: ctx.bucket });
  sendXml(ctx, 200, corsXml(rules));
}

export async function deleteBucketCors(ctx: Ctx) {
  await loadBucket(ctx, 'owner');
  await cfg.deleteBucketConfig(ctx.bucket!, 'cors');
  ctx.res.status(204).end();
}

// ------------------------------------------------------------------ matching

/** A pattern with at most one '*' (checked at PutBucketCors). */
function wild(pattern: string, value: string, fold: boolean): boolean {
  const p = fold ? pattern.toLowerCase() : pattern, v = fold ? value.toLowerCase() : value;
  const i = p.indexOf('*');
  if (i < 0) return p === v;
  const pre = p.slice(0, i), post = p.slice(i + 1);
  return v.length >= pre.length + post.length && v.startsWith(pre) && v.endsWith(post);
}

export function matchRule(rules: CorsRule[], origin: string, method: string, requestHeaders: string[] = []): CorsRule | undefined {
  return rules.find((r) => r.origins.some((o) => wild(o, origin, false)) && r.methods.includes(method) &&
    requestHeaders.every((h) => r.headers.some((a) => wild(a, h, true))));
}

const VARY = 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method';

function setRuleHeaders(ctx: Ctx, rule: CorsRule, origin: string) {
  const res = ctx.res;
  const any = rule.origins.includes('*');
  res.setHeader('Access-Control-Allow-Origin', any ? '*' : origin);
  if (!any) res.setHeader('Access-Control-Allow-Credentials', 'true');
  res.setHeader('Access-Control-Allow-Methods', rule.methods.join(', '));
  if (rule.expose.length) res.setHeader('Access-Control-Expose-Headers', rule.expose.join(', '));
  if (rule.maxAge !== undefined) res.setHeader('Access-Control-Max-Age', String(rule.maxAge));
}

const forbidden = (ctx: Ctx, method: string, why: 'disabled' | 'nomatch') => new S3Error('AccessForbidden', why === 'disabled'
  ? 'CORSResponse: CORS is not enabled for this bucket.'
  : "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
{ Method: method, ResourceType: ctx.key !== undefined ? 'OBJECT' : 'BUCKET' }, 403);

/** OPTIONS: a browser's preflight. No signature; answered from the bucket's rules alone. */
export async function preflight(ctx: Ctx): Promise<void> {
  const origin = hdr(ctx, 'origin');
  if (!origin) throw new S3Error('BadRequest', 'Insufficient information. Origin request header needed.', {}, 400);
  const method = hdr(ctx, 'access-control-request-method')?.trim();
  if (!method) throw new S3Error('BadRequest', 'Invalid Access-Control-Request-Method: null', {}, 400);
  if (!METHODS.includes(method)) throw new S3Error('BadRequest', `Invalid Access-Control-Request-Method: ${method}`, {}, 400);
  const requested = (hdr(ctx, 'access-control-request-headers') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const rules = ctx.bucket ? await cfg.getBucketConfig<CorsRule[]>(ctx.bucket, 'cors') : undefined;
  // a bucket that does not exist answers as one without CORS: a preflight tells nobody which names exist
  if (!rules) throw forbidden(ctx, method, 'disabled');
  ctx.res.setHeader('Vary', VARY);
  const rule = matchRule(rules, origin, method, requested);
  if (!rule) throw forbidden(ctx, method, 'nomatch');
  setRuleHeaders(ctx, rule, origin);
  if (requested.length) ctx.res.setHeader('Access-Control-Allow-Headers', requested.join(', '));
  ctx.res.status(200).setHeader('Content-Length', 0);
  ctx.res.end();
}

/**
 * An actual cross-origin request (it has an Origin): the headers of the rule
 * that allows its origin and method, set before anything else so that an
 * error answer carries them too (the browser then lets the page read it).
 */
export async function applyCors(ctx: Ctx): Promise<void> {
  const origin = hdr(ctx, 'origin');
  if (!origin || !ctx.bucket) return;
  let rules: CorsRule[] | undefined;
  try { rules = await cfg.getBucketConfig<CorsRule[]>(ctx.bucket, 'cors'); } catch { return; }
  if (!rules) return;
  ctx.res.setHeader('Vary', VARY);
  const rule = matchRule(rules, origin, ctx.method);
  if (rule) setRuleHeaders(ctx, rule, origin);
}
