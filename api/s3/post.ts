// Browser-based POST uploads: multipart/form-data with a policy document signed
// with SigV4 (x-amz-algorithm/credential/date/signature) or SigV2
// (AWSAccessKeyId/signature), or none for a public-read-write bucket. Form
// fields before the file are read (capped); the file streams to the storage
// engine; anything after the file is ignored, as S3 does.
import { timingSafeEqual } from 'node:crypto';
import { S3Error } from './errors';
import { type Ctx, hdr, loadBucket, readBody, STORED_HEADERS } from './context';
import { signPolicyV4, signingKeyV4, signPolicyV2 } from './auth';
import { checkKey } from './objects';
import { checkAclWrite, objectOwnerFor } from './access';
import { sendXml } from './buckets';
import { xmlDoc } from './xml';
import { formTags } from './tagging';
import { lockForCompletion } from './objectLock';

const MAX_FIELDS_BYTES = 20 * 1024;
const CANNED = new Set(['private', 'public-read', 'public-read-write', 'authenticated-read', 'bucket-owner-read', 'bucket-owner-full-control']);

interface Part { name: string; filename?: string; contentType?: string }

/** A streaming multipart/form-data reader: fields first, then the file part as a stream. */
class FormReader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  private readonly delim: Buffer;
  constructor(private it: AsyncIterator<Buffer>, boundary: string) {
    this.delim = Buffer.from(`\r\n--${boundary}`);
    this.buf = Buffer.from('\r\n');        // the body starts with --boundary: make it look like every other delimiter
  }
  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) { this.done = true; return false; }
    this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : r.value;
    return true;
  }
  private malformed(): never { throw new S3Error('MalformedPOSTRequest', 'The body of your POST request is not well-formed multipart/form-data.'); }

  /** Reads and discards whatever the body still holds. */
  async drain(): Promise<void> { this.buf = Buffer.alloc(0); while (await this.fill()) this.buf = Buffer.alloc(0); }

  /** Skips the preamble up to the first delimiter. */
  async start(): Promise<void> {
    for (;;) {
      const i = this.buf.indexOf(this.delim);
      if (i >= 0) { this.buf = this.buf.subarray(i + this.delim.length); return; }
      if (this.buf.length > MAX_FIELDS_BYTES) this.malformed();
      if (!(await this.fill())) this.malformed();
    }
  }

  /** The next part's headers, or undefined at the closing delimiter. */
  async next(): Promise<Part | undefined> {
    while (this.buf.length < 2) if (!(await this.fill())) this.malformed();
    if (this.buf[0] === 0x2d && this.buf[1] === 0x2d) return undefined;   // "--": the end
    let end: number;
    while ((end = this.buf.indexOf('\r\n\r\n')) < 0) {
      if (this.buf.length > 16 * 1024) this.malformed();
      if (!(await this.fill())) this.malformed();
    }
    const head = this.buf.subarray(0, end).toString('utf8');
    this.buf = this.buf.subarray(end + 4);
    const part: Part = { name: '' };
    for (const line of head.split('\r\n')) {
      const m = /^([^:]+):\s*(.*)$/.exec(line);
      if (!m) continue;
      const h = m[1].trim().toLowerCase();
      if (h === 'content-disposition') {
        const name = /\bname="([^"]*)"/i.exec(m[2]) ?? /\bname=([^;\s]+)/i.exec(m[2]);
        const filename = /\bfilename="([^"]*)"/i.exec(m[2]) ?? /\bfilename=([^;\s]+)/i.exec(m[2]);
        part.name = name?.[1] ?? '';
        if (filename) part.filename = filename[1];
      } else if (h === 'content-type') part.contentType = m[2].trim();
    }
    if (!part.name) this.malformed();
    return part;
  }

  /** The current part's body, whole (fields). */
  async value(limit: number): Promise<Buffer> {
    const out: Buffer[] = [];
    let n = 0;
    for await (const b of this.body()) { n += b.length; if (n > limit) throw new S3Error('MaxPostPreDataLengthExceededError', 'Your POST request fields preceding the upload file were too large.'); out.push(b); }
    return Buffer.concat(out);
  }

  /** The current part's body as a stream, ending at the next delimiter. */
  async *body(): AsyncGenerator<Buffer> {
    for (;;) {
      const i = this.buf.indexOf(this.delim);
      if (i >= 0) {
        if (i > 0) yield this.buf.subarray(0, i);
        this.buf = this.buf.subarray(i + this.delim.length);
        return;
      }
      // keep what could be the start of the delimiter
      const keep = this.delim.length - 1;
      if (this.buf.length > keep) { const out = this.buf.subarray(0, this.buf.length - keep); this.buf = this.buf.subarray(this.buf.length - keep); yield out; }
      if (!(await this.fill())) throw new S3Error('IncompleteBody', 'The POST body ended before the file did');
    }
  }
}

type Condition = { op: 'eq' | 'starts-with'; field: string; value: string } | { op: 'range'; min: number; max: number };

function parsePolicy(policyB64: string, now: Date): Condition[] {
  let doc: any;
  const invalid = (m: string) => new S3Error('InvalidPolicyDocument', `Invalid Policy: ${m}`, {}, 400);
  try { doc = JSON.parse(Buffer.from(policyB64, 'base64').toString('utf8')); } catch { throw invalid('Invalid JSON.'); }
  if (!doc || typeof doc !== 'object') throw invalid('Invalid JSON.');
  if (doc.expiration === undefined) throw invalid('Policy missing expiration.');
  // ISO 8601 in UTC, as S3 takes it (2030-01-01T12:00:00.000Z); Date.parse alone takes far more
  const exp = typeof doc.expiration === 'string' ? /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z$/.exec(doc.expiration) : null;
  // (a real date and time: Date.parse rolls 02-30 over into March)
  if (!exp || Number.isNaN(Date.parse(doc.expiration)) || new Date(Date.parse(doc.expiration)).toISOString().slice(0, 10) !== exp[1] || +exp[2] > 23 || +exp[3] > 59 || +exp[4] > 59) {
    throw invalid(`Invalid 'expiration' value: '${String(doc.expiration)}'`);
  }
  if (Date.parse(doc.expiration) < now.getTime()) throw new S3Error('AccessDenied', 'Invalid according to Policy: Policy expired.');
  if (!Array.isArray(doc.conditions)) throw invalid('Policy missing conditions.');
  const out: Condition[] = [];
  for (const c of doc.conditions) {
    if (Array.isArray(c)) {
      const op = String(c[0]).toLowerCase();
      if (op === 'content-length-range') {
        const min = Number(c[1]), max = Number(c[2]);
        if (c.length !== 3 || !Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max < min) throw invalid('Invalid content-length-range condition.');
        out.push({ op: 'range', min, max });
      } else if ((op === 'eq' || op === 'starts-with') && c.length === 3 && typeof c[1] === 'string' && c[1].startsWith('$')) {
        out.push({ op, field: c[1].slice(1).toLowerCase(), value: String(c[2]) });
      } else throw invalid(`Invalid condition: ${JSON.stringify(c)}`);
    } else if (c && typeof c === 'object') {
      const ents = Object.entries(c);
      if (ents.length !== 1) throw invalid('Invalid simple condition.');
      out.push({ op: 'eq', field: ents[0][0].toLowerCase(), value: String(ents[0][1]) });
    } else throw invalid('Invalid condition.');
  }
  return out;
}

// Fields a policy need not mention.
const EXEMPT = new Set(['policy', 'x-amz-signature', 'signature', 'awsaccesskeyid', 'file', 'x-amz-security-token']);

function checkPolicy(conds: Condition[], fields: Map<string, string>, bucket: string) {
  const covered = new Set<string>(['bucket']);
  const deny = (m: string) => new S3Error('AccessDenied', `Invalid according to Policy: ${m}`);
  for (const c of conds) {
    if (c.op === 'range') continue;
    covered.add(c.field);
    const actual = c.field === 'bucket' ? bucket : fields.get(c.field);
    if (c.op === 'eq' && (actual ?? '') !== c.value) throw deny(`Policy Condition failed: ["eq", "$${c.field}", "${c.value}"]`);
    if (c.op === 'starts-with') {
      // content-type: each comma-separated value must match
      const vals = c.field === 'content-type' ? (actual ?? '').split(',').map((s) => s.trim()) : [actual ?? ''];
      if (!vals.every((v) => v.startsWith(c.value))) throw deny(`Policy Condition failed: ["starts-with", "$${c.field}", "${c.value}"]`);
    }
  }
  for (const f of fields.keys()) {
    if (EXEMPT.has(f) || f.startsWith('x-ignore-') || covered.has(f)) continue;
    throw deny(`Extra input fields: ${f}`);
  }
}

function safeEqual(a: string, b: string) {
  const x = Buffer.from(a), y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function postObject(ctx: Ctx): Promise<void> {
  const ct = hdr(ctx, 'content-type') ?? '';
  const bm = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(ct);
  if (!bm) throw new S3Error('MalformedPOSTRequest', 'The body of your POST request is not well-formed multipart/form-data.');
  const form = new FormReader(readBody(ctx.req)[Symbol.asyncIterator](), bm[1] ?? bm[2]);
  await form.start();
  const fields = new Map<string, string>();
  let file: Part | undefined;
  let total = 0;
  for (;;) {
    const p = await form.next();
    if (!p) break;
    if (p.name.toLowerCase() === 'file') { file = p; break; }
    const v = (await form.value(MAX_FIELDS_BYTES - total)).toString('utf8');
    total += v.length;
    fields.set(p.name.toLowerCase(), v);
  }
  if (!file) throw new S3Error('InvalidArgument', 'POST requires exactly one file upload per request.', { ArgumentName: 'file', ArgumentValue: '0' });
  const bucketName = ctx.bucket!;
  let key = fields.get('key');
  if (key === undefined) throw new S3Error('InvalidArgument', "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.", { ArgumentName: 'key', ArgumentValue: '' });
  key = key.replace(/\$\{filename\}/g, file.filename ?? '');
  if (!key) throw new S3Error('InvalidArgument', 'User key must have a length greater than 0.', { ArgumentName: 'key' });
  checkKey(key);

  // Who signs: SigV4 fields, SigV2 fields, or nobody.
  const policy = fields.get('policy');
  let range: { min: number; max: number } | undefined;
  ctx.caller = null;
  if (fields.has('x-amz-signature') || fields.has('x-amz-algorithm')) {
    if (fields.get('x-amz-algorithm') !== 'AWS4-HMAC-SHA256') throw new S3Error('InvalidArgument', 'Unsupported x-amz-algorithm', { ArgumentName: 'x-amz-algorithm', ArgumentValue: fields.get('x-amz-algorithm') });
    const credStr = fields.get('x-amz-credential') ?? '';
    const parts = credStr.split('/');
    if (parts.length !== 5 || parts[3] !== 's3' || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1])) {
      throw new S3Error('InvalidArgument', 'Invalid x-amz-credential', { ArgumentName: 'x-amz-credential', ArgumentValue: credStr });
    }
    if (!policy || !fields.get('x-amz-signature') || !/^\d{8}T\d{6}Z$/.test(fields.get('x-amz-date') ?? '') || !fields.get('x-amz-date')!.startsWith(parts[1])) {
      throw new S3Error('AccessDenied', 'Query-string authentication requires a policy, x-amz-date and x-amz-signature');
    }
    const cred = await ctx.opts.lookupCredential(parts[0]);
    if (!cred) throw new S3Error('InvalidAccessKeyId');
    const expected = signPolicyV4(signingKeyV4(cred.secretAccessKey, parts[1], parts[2], 's3'), policy);
    if (!safeEqual(expected, fields.get('x-amz-signature')!.toLowerCase())) throw new S3Error('SignatureDoesNotMatch');
    ctx.caller = cred.accountId;
  } else if (fields.has('awsaccesskeyid') || fields.has('signature')) {
    if (!policy || !fields.get('signature') || !fields.get('awsaccesskeyid')) throw new S3Error('InvalidArgument', 'Bucket POST must contain a policy, AWSAccessKeyId and signature', { ArgumentName: 'Signature' });
    const cred = await ctx.opts.lookupCredential(fields.get('awsaccesskeyid')!);
    if (!cred) throw new S3Error('InvalidAccessKeyId');
    if (!safeEqual(signPolicyV2(cred.secretAccessKey, policy), fields.get('signature')!)) throw new S3Error('SignatureDoesNotMatch');
    ctx.caller = cred.accountId;
  }
  if (policy) {
    const conds = parsePolicy(policy, new Date());
    checkPolicy(conds, new Map([...fields, ['key', key]]), bucketName);
    for (const c of conds) if (c.op === 'range') range = { min: Math.max(range?.min ?? 0, c.min), max: Math.min(range?.max ?? Infinity, c.max) };
  } else if (ctx.caller) throw new S3Error('InvalidArgument', 'Bucket POST with a signature must contain a policy', { ArgumentName: 'policy' });

  ctx.key = key;                                        // authorized as s3:PutObject on this key (api/s3/access.ts)
  const b = await loadBucket(ctx, 'write');
  const acl = fields.get('acl') ?? 'private';
  if (!CANNED.has(acl)) throw new S3Error('InvalidArgument', undefined, { ArgumentName: 'x-amz-acl', ArgumentValue: acl });
  if (fields.has('acl')) checkAclWrite(b, acl, objectOwnerFor(ctx, b, acl));   // Object Ownership, Block Public Access
  const headers: Record<string, string> = {};
  let metaSize = 0;
  for (const [k, v] of fields) {
    if (k.startsWith('x-amz-meta-')) { headers[k] = v; metaSize += k.length - 11 + v.length; } else if (STORED_HEADERS.includes(k)) headers[k] = v;
  }
  if (metaSize > 2048) throw new S3Error('MetadataTooLarge');
  if (!headers['content-type']) headers['content-type'] = file.contentType ?? 'binary/octet-stream';
  const max = Math.min(ctx.opts.maxObjectSize, range?.max ?? Infinity);
  const tags = formTags(fields);                        // `tagging` (XML) or `x-amz-tagging` (api/s3/tagging.ts)
  const lock = await lockForCompletion(b.name, null);   // an Object Lock bucket's default retention
  const { row } = await ctx.walrus.putObject({
    bucket: b.name, key, ownerId: objectOwnerFor(ctx, b, acl), source: form.body(), headers, acl, maxSize: max, tags, lock,
    verify: (t) => { if (range && t.size < range.min) throw new S3Error('EntityTooSmall', undefined, { ProposedSize: t.size, MinSizeAllowed: range.min }); },
  }).catch((e) => {
    if (e?.code === 'EntityTooLarge' && range) throw new S3Error('EntityTooLarge', undefined, { MaxSizeAllowed: range.max });
    throw e;
  });
  // the rest of the form (after the file) is ignored; drain it so the client sees our answer
  await form.drain();

  const etag = `"${row.etag}"`;
  ctx.res.setHeader('ETag', etag);
  if (b.versioning !== 'Off') ctx.res.setHeader('x-amz-version-id', row.versionId);
  const proto = (hdr(ctx, 'x-forwarded-proto') ?? 'http');
  const location = `${proto}://${hdr(ctx, 'host') ?? ''}/${encodeURIComponent(b.name)}/${key.split('/').map(encodeURIComponent).join('/')}`;
  ctx.res.setHeader('Location', location);
  const redirect = fields.get('success_action_redirect') ?? fields.get('redirect');
  if (redirect) {
    try {
      const u = new URL(redirect);
      u.searchParams.set('bucket', b.name); u.searchParams.set('key', key); u.searchParams.set('etag', etag);
      ctx.res.status(303).setHeader('Location', u.toString()); ctx.res.setHeader('Content-Length', 0); ctx.res.end();
      return;
    } catch { /* not a URL: S3 falls back to the status */ }
  }
  const status = fields.get('success_action_status');
  if (status === '201') {
    sendXml(ctx, 201, xmlDoc('PostResponse', { Location: location, Bucket: b.name, Key: key, ETag: etag }));
    return;
  }
  ctx.res.status(status === '200' ? 200 : 204).setHeader('Content-Length', 0);
  ctx.res.end();
}
