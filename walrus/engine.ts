// The storage engine: files (BlobStore) + metadata (db/walrus.ts). A version
// becomes visible only after its file is durable and renamed into place; a
// replaced or deleted version's file is removed only after the commit.
import fsp from 'node:fs/promises';
import { BlobStore, type WrittenTemp, type WriteOptions } from './store';
import * as db from '../db/walrus';
import type { ChecksumAlgo } from './checksums';

export interface PutParams extends WriteOptions {
  bucket: string; key: string; ownerId: string; source: AsyncIterable<Buffer>;
  headers: Record<string, string>; acl?: string; tags?: db.Tag[] | null; lock?: db.ObjectLock | null;
  /** If-None-Match / If-Match, checked again when the version commits (api/s3/conditional.ts) */
  condition?: db.WriteCondition;
  /** which checksum to store (must be in algos) */
  checksumAlgo?: ChecksumAlgo;
  /** throws to refuse the upload (bad digest...) before anything becomes visible */
  verify?: (t: WrittenTemp) => void | Promise<void>;
}

export class Walrus {
  readonly store: BlobStore;
  constructor(readonly dataDir: string) { this.store = new BlobStore(dataDir); }

  /** Creates the directories and removes orphaned temp files. */
  init(): Promise<number> { return this.store.init(); }

  /** Removes data files no metadata row references (e.g. after a crash between rename and commit). */
  async sweepOrphans(olderThanMs = 10 * 60 * 1000): Promise<number> {
    const refs = await db.referencedFiles();
    let n = 0;
    for (const d of await fsp.readdir(this.store.dataDir).catch(() => [] as string[])) {
      for (const f of await fsp.readdir(`${this.store.dataDir}/${d}`).catch(() => [] as string[])) {
        if (refs.has(f)) continue;
        const st = await fsp.stat(this.store.filePath(f)).catch(() => undefined);
        if (st && Date.now() - st.mtimeMs > olderThanMs) { await this.store.remove(f); n++; }
      }
    }
    return n;
  }

  async putObject(p: PutParams): Promise<{ row: db.ObjectRow; temp: WrittenTemp }> {
    const temp = await this.store.writeTemp(p.source, p);
    let file: string | undefined;
    try {
      await p.verify?.(temp);
      file = await this.store.publish(temp);
      const ck = p.checksumAlgo ? temp.checksums[p.checksumAlgo]?.toString('base64') : undefined;
      const r = await db.putObjectVersion({
        bucket: p.bucket, key: p.key, size: temp.size, etag: temp.md5.toString('hex'), file, ownerId: p.ownerId, headers: p.headers,
        checksumAlgo: ck ? p.checksumAlgo : null, checksum: ck ?? null, checksumType: ck ? 'FULL_OBJECT' : null, acl: p.acl, tags: p.tags,
        lock: p.lock,
      }, 'Off', undefined, { condition: p.condition });
      await this.store.remove(r.replacedFile);
      return { row: r.row, temp };
    } catch (err) {
      if (file) await this.store.remove(file); else await this.store.discard(temp);
      throw err;
    }
  }

  /** Deletes (or places a delete marker); removes the file of a deleted version. */
  async deleteObject(bucket: string, key: string, versionId: string | undefined, ownerId: string, guard?: (row: db.ObjectRow) => void): Promise<db.DeleteResult> {
    const r = await db.deleteObject(bucket, key, versionId, ownerId, guard);
    await this.store.remove(r.removedFile);
    return r;
  }

  /** Links an existing (immutable) file under a new id: copies without copying bytes. */
  async cloneFile(file: string): Promise<string> {
    const tmp = `${this.store.tmpDir}/clone-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    try { await fsp.link(this.store.filePath(file), tmp); } catch { await fsp.copyFile(this.store.filePath(file), tmp); }
    return this.store.publish(tmp);
  }
}
