// SigV4 query-string presigning (S3 style: UNSIGNED-PAYLOAD, path not
// double-encoded) for URLs the cloud hands its own agents, e.g. a node
// controller fetching an image from Walrus. Pure: no I/O.
import { createHash, createHmac } from 'node:crypto';
import { uriEncode } from '../api/auth/sigv4';

export interface PresignInput {
  /** e.g. http://127.0.0.1:8774 */
  endpoint: string;
  bucket: string;
  key: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  expiresSeconds: number;
  method?: string;
  now?: Date;
  versionId?: string;
}

const hmac = (k: Buffer | string, s: string) => createHmac('sha256', k).update(s).digest();

/** A path-style URL for bucket/key signed with SigV4 query parameters. */
export function presignUrl(p: PresignInput): string {
  const url = new URL(p.endpoint);
  const now = p.now ?? new Date();
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${p.region}/s3/aws4_request`;
  const basePath = url.pathname.replace(/\/+$/, '');
  const path = `${basePath}/${uriEncode(p.bucket)}/${p.key.split('/').map(uriEncode).join('/')}`;
  const q: Array<[string, string]> = [
    ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
    ['X-Amz-Credential', `${p.accessKeyId}/${scope}`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', String(Math.max(1, Math.min(604800, Math.floor(p.expiresSeconds))))],
    ['X-Amz-SignedHeaders', 'host'],
  ];
  if (p.versionId !== undefined) q.push(['versionId', p.versionId]);
  const canonicalQuery = q.map(([k, v]) => [uriEncode(k), uriEncode(v)]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`).join('&');
  const canonicalRequest = [p.method ?? 'GET', path, canonicalQuery, `host:${url.host}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  let k = hmac('AWS4' + p.secretAccessKey, date);
  for (const part of [p.region, 's3', 'aws4_request']) k = hmac(k, part);
  const signature = createHmac('sha256', k).update(stringToSign).digest('hex');
  return `${url.protocol}//${url.host}${path}?${canonicalQuery}&X-Amz-Signature=${signature}`;
}
