// Internal access to Walrus for the rest of the cloud (images, snapshots):
// no HTTP, no signatures. Uses the same data dir and tables as the S3 API.
import fs from 'node:fs';
import path from 'node:path';
import { config } from '../lib/config';
import * as db from '../db/walrus';
import { Walrus } from './engine';
import { newHasher } from './checksums';

let walrus: Walrus | undefined;
let ready: Promise<unknown> | undefined;
export function getWalrus(dataDir = config.walrusDir): Walrus {
  // Only make the directories: removing leftover temp files is the S3 server's job
  // at its start (bootstrap may run beside a live server, whose uploads are in tmp/).
  if (!walrus) {
    const w = walrus = new Walrus(dataDir);
    ready = Promise.all([fs.promises.mkdir(w.store.dataDir, { recursive: true }), fs.promises.mkdir(w.store.tmpDir, { recursive: true })]).catch(() => undefined);
  }
  return walrus;
}

export interface ObjectStat { bucket: string; key: string; size: number; etag: string; versionId: string; lastModified: Date; contentType?: string; checksum?: { algo: string; value: string }; ownerId: string }

export async function statObject(bucket: string, key: string, versionId?: string): Promise<ObjectStat | undefined> {
  const o = await db.getObject(bucket, key, versionId);
  if (!o || o.deleteMarker || !o.file) return undefined;
  return { bucket, key, size: o.size, etag: o.etag, versionId: o.versionId, lastModified: o.lastModified, contentType: o.headers['content-type'],
    checksum: o.checksum && o.checksumAlgo ? { algo: o.checksumAlgo, value: o.checksum } : undefined, ownerId: o.ownerId };
}

/** A read stream of the object's bytes (optionally a range, inclusive), or undefined if there is no such object. */
export async function openObjectStream(bucket: string, key: string, opts: { versionId?: string; start?: number; end?: number } = {}): Promise<{ stat: ObjectStat; stream: fs.ReadStream } | undefined> {
  const o = await db.getObject(bucket, key, opts.versionId);
  if (!o || o.deleteMarker || !o.file) return undefined;
  const w = getWalrus(); await ready;
  const stat = (await statObject(bucket, key, o.versionId))!;
  return { stat, stream: w.store.openRead(o.file, opts.start, opts.end) };
}

/** Stores a local file as an object (creating the bucket for accountId if missing). Returns etag, size and the sha256 of the bytes. */
export async function putObjectFromFile(accountId: string, bucket: string, key: string, file: string, opts: { contentType?: string; acl?: string } = {}): Promise<{ etag: string; size: number; sha256: string; versionId: string }> {
  const w = getWalrus(); await ready;
  const b = await db.getBucket(bucket);
  if (!b) await db.createBucket(bucket, accountId, config.region, 'private').catch((e) => { if (e?.code !== 'BucketAlreadyOwnedByYou') throw e; });
  else if (b.accountId !== accountId) throw new Error(`bucket ${bucket} belongs to another account`);
  const { row, temp } = await w.putObject({
    bucket, key, ownerId: accountId, source: fs.createReadStream(path.resolve(file), { highWaterMark: 1 << 20 }),
    headers: { 'content-type': opts.contentType ?? 'application/octet-stream' }, acl: opts.acl ?? 'private', sha256: true,
  });
  return { etag: row.etag, size: row.size, sha256: temp.sha256!.toString('hex'), versionId: row.versionId };
}

export { newHasher };
