// Requests S3 wants an integrity check on (PutBucketCors, PutBucketLifecycleConfiguration,
// PutObjectLockConfiguration, PutObjectRetention, PutObjectLegalHold, PutObject with Object
// Lock parameters...): Content-MD5, or an x-amz-checksum-* header or trailer. SDKs send
// Content-MD5 (older) or a CRC32 (2025 on); either is verified against the body.
import { S3Error } from './errors';
import { type Ctx, hdr, readSmallBody, checksumRequest } from './context';
import { checksumHeader, checksumOf } from '../../walrus/checksums';

export const INTEGRITY_MISSING = 'Missing required header for this request: Content-MD5 OR x-amz-checksum-*';

/** Does the request carry Content-MD5 or a checksum (header or declared trailer)? */
export function hasIntegrity(ctx: Ctx): boolean {
  if (hdr(ctx, 'content-md5') !== undefined) return true;
  const ck = checksumRequest(ctx);
  return !!ck && (ck.value !== undefined || ck.trailer);
}

/**
 * Reads a small XML body whose request must carry Content-MD5 or a checksum;
 * readSmallBody checks Content-MD5 and x-amz-content-sha256, this the checksum.
 */
export async function readCheckedBody(ctx: Ctx, limit = 64 * 1024, message = INTEGRITY_MISSING): Promise<Buffer> {
  if (!hasIntegrity(ctx)) throw new S3Error('InvalidRequest', message);
  const body = await readSmallBody(ctx, limit);
  const ck = checksumRequest(ctx);
  if (ck) {
    const given = ck.trailer ? ctx.chunked?.trailers[checksumHeader(ck.algo)] : ck.value;
    if (ck.trailer && given === undefined) throw new S3Error('InvalidRequest', `The ${checksumHeader(ck.algo)} trailer was declared but not sent`);
    if (given !== undefined && given !== checksumOf(ck.algo, body)) throw new S3Error('BadDigest', `The ${ck.algo} you specified did not match the calculated checksum.`);
  }
  return body;
}
