// Bucket names the cloud keeps for an account (walrus/reserved.ts): another
// account's CreateBucket gets S3's answer for a taken name (409
// BucketAlreadyExists) and makes nothing; the owner creates it as any bucket.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { closePool } from '../../db/pool';
import * as db from '../../db/walrus';
import { createAccount } from '../../db/accounts';
import { imagesBucketName, reservedBucketOwner } from '../../walrus/reserved';
import { startTestS3, signed, errCode, type TestS3 } from './helpers';

let t: TestS3;
before(async () => { t = await startTestS3(); });
after(async () => { await t?.close(); await closePool(); });

test('names: images-<12 digits> is reserved for that account, nothing else is', () => {
  assert.equal(imagesBucketName('123456789012'), 'images-123456789012');
  assert.equal(reservedBucketOwner('images-123456789012'), '123456789012');
  for (const n of ['images-12345678901', 'images-1234567890123', 'images-abc', 'my-images-123456789012', 'images-123456789012-x', 'images']) {
    assert.equal(reservedBucketOwner(n), undefined, n);
  }
});

test("another account cannot squat an account's images bucket; the owner can create it", async () => {
  const bucketOfA = imagesBucketName(t.a.accountId);
  // B first: refused, and nothing is made
  let r = await signed(t, t.b, 'PUT', `/${bucketOfA}`);
  assert.equal(r.status, 409, r.body.toString());
  assert.equal(errCode(r), 'BucketAlreadyExists');
  assert.match(r.body.toString(), new RegExp(`<BucketName>${bucketOfA}</BucketName>`));
  assert.equal(await db.getBucket(bucketOfA), undefined);
  assert.equal((await signed(t, t.a, 'HEAD', `/${bucketOfA}`)).status, 404);
  // with a CreateBucketConfiguration body too
  r = await signed(t, t.b, 'PUT', `/${bucketOfA}`, {},
    `<CreateBucketConfiguration><LocationConstraint>${t.region}</LocationConstraint></CreateBucketConfiguration>`);
  assert.equal(errCode(r), 'BucketAlreadyExists');
  // the owner: made, and then BucketAlreadyOwnedByYou as for any bucket
  r = await signed(t, t.a, 'PUT', `/${bucketOfA}`);
  assert.equal(r.status, 200, r.body.toString());
  assert.equal((await db.getBucket(bucketOfA))?.accountId, t.a.accountId);
  assert.equal(errCode(await signed(t, t.a, 'PUT', `/${bucketOfA}`)), 'BucketAlreadyOwnedByYou');
  assert.equal(errCode(await signed(t, t.b, 'PUT', `/${bucketOfA}`)), 'BucketAlreadyExists');
  assert.equal((await signed(t, t.a, 'DELETE', `/${bucketOfA}`)).status, 204);
});

test('the reservation holds for an account that does not exist yet, and inside the cloud too', async () => {
  const future = String(100000000000 + crypto.randomInt(1e9));
  const r = await signed(t, t.a, 'PUT', `/${imagesBucketName(future)}`);
  assert.equal(r.status, 409);
  assert.equal(errCode(r), 'BucketAlreadyExists');
  // the engine's own path (walrus/objects.ts putObjectFromFile creates buckets through db.createBucket)
  await assert.rejects(db.createBucket(imagesBucketName(future), t.b.accountId, t.region, 'private'),
    (e: unknown) => e instanceof db.WalrusDbError && e.code === 'BucketAlreadyExists');
  // once that account exists it can have its bucket
  const c = await createAccount(`walrus-reserved-${future}`);
  const mine = imagesBucketName(c.accountId);
  await db.createBucket(mine, c.accountId, t.region, 'private');
  assert.equal((await db.getBucket(mine))?.accountId, c.accountId);
  await db.deleteBucket(mine);
});

test('names like it that are not reserved stay free for anyone', async () => {
  for (const n of [`images-${t.a.accountId}-x${crypto.randomBytes(2).toString('hex')}`, `images-${crypto.randomInt(1e6)}`]) {
    const r = await signed(t, t.b, 'PUT', `/${n}`);
    assert.equal(r.status, 200, `${n}: ${r.body}`);
    assert.equal((await signed(t, t.b, 'DELETE', `/${n}`)).status, 204);
  }
});
