// Conditional writes (S3 since 2024): PutObject, CopyObject and
// CompleteMultipartUpload with `If-None-Match: *` (only if no object has the
// key) or `If-Match: <etag>` (only if the current object has that ETag).
// Checked when the request begins (412 PreconditionFailed; If-Match on a key
// with no object is 404 NoSuchKey) and again, atomically, when the new version
// commits (db/walrus.ts putObjectVersion): a write that raced and changed the
// key in between gets 409 ConditionalRequestConflict, and the client retries.
import * as db from '../../db/walrus';
import { S3Error } from './errors';
import { type Ctx, hdr } from './context';

/** The request's write condition, if it has one. */
export function writeCondition(ctx: Ctx): db.WriteCondition | undefined {
  const inm = hdr(ctx, 'if-none-match'), im = hdr(ctx, 'if-match');
  if (inm === undefined && im === undefined) return undefined;
  const cond: db.WriteCondition = {};
  if (inm !== undefined) {
    if (inm.trim() !== '*') throw new S3Error('NotImplemented', 'A header you provided implies functionality that is not implemented', { Header: 'If-None-Match' });
    cond.ifNoneMatch = true;
  }
  if (im !== undefined) cond.ifMatch = im.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
  return cond;
}

/** 412 / 404 now, before the body is read, when the condition already fails. */
export async function checkWriteCondition(bucket: string, key: string, cond: db.WriteCondition | undefined): Promise<void> {
  if (!cond) return;
  const cur = await db.getObject(bucket, key);
  const live = cur && !cur.deleteMarker ? cur : undefined;
  if (cond.ifMatch !== undefined && !live) throw new S3Error('NoSuchKey', undefined, { Key: key });
  if (!db.conditionHolds(cond, live && { delete_marker: false, etag: live.etag })) {
    throw new S3Error('PreconditionFailed', undefined, { Condition: cond.ifNoneMatch && live ? 'If-None-Match' : 'If-Match' });
  }
}
