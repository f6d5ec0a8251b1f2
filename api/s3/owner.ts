// x-amz-expected-bucket-owner / x-amz-source-expected-bucket-owner: a caller
// that names the account it expects to own a bucket gets 403 AccessDenied when
// another account owns it (S3's answer), so a request never lands in a bucket
// that changed hands. A bucket that does not exist is left to the operation
// (NoSuchBucket).
import * as db from '../../db/walrus';
import { S3Error } from './errors';
import type { Ctx } from './context';

export async function checkExpectedOwner(_ctx: Ctx, bucket: string, expected: string | undefined): Promise<void> {
  if (expected === undefined) return;
  const b = await db.getBucket(bucket);
  if (b && b.accountId !== expected.trim()) throw new S3Error('AccessDenied');
}
