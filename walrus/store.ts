// Walrus' byte store: object versions and parts are immutable files under
// <dataDir>/data/<aa>/<id>. A write goes to <dataDir>/tmp/, is hashed on the
// way, fsync'ed, and only then renamed into data/ (and the directory fsync'ed);
// the caller commits the metadata row after that. Nothing here knows HTTP.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { newHasher, type ChecksumAlgo, type Hasher } from './checksums';

export class StoreError extends Error {
  constructor(public code: 'EntityTooLarge' | 'IncompleteBody' | 'Aborted', message: string) { super(message); }
}

export interface WrittenTemp {
  tmpPath: string;
  size: number;
  md5: Buffer;
  sha256?: Buffer;
  checksums: Partial<Record<ChecksumAlgo, Buffer>>;
}

export interface WriteOptions {
  algos?: ChecksumAlgo[];
  sha256?: boolean;
  maxSize?: number;
  /** called after each block is hashed (e.g. aws-chunked signature checks happen in the source) */
}

export class BlobStore {
  readonly dataDir: string;
  readonly tmpDir: string;
  constructor(readonly root: string) {
    this.dataDir = path.join(root, 'data');
    this.tmpDir = path.join(root, 'tmp');
  }

  /** Creates the directories and removes temp files a crash left behind. Returns how many were removed. */
  async init(): Promise<number> {
    await fsp.mkdir(this.dataDir, { recursive: true });
    await fsp.mkdir(this.tmpDir, { recursive: true });
    let n = 0;
    for (const f of await fsp.readdir(this.tmpDir)) { await fsp.rm(path.join(this.tmpDir, f), { force: true, recursive: true }); n++; }
    return n;
  }

  filePath(file: string): string { return path.join(this.dataDir, file.slice(0, 2), file); }

  /** Streams `source` into a temp file, hashing as it goes. Backpressure comes from awaiting each write. */
  async writeTemp(source: AsyncIterable<Buffer>, opts: WriteOptions = {}): Promise<WrittenTemp> {
    const tmpPath = path.join(this.tmpDir, randomUUID());
    const fh = await fsp.open(tmpPath, 'wx', 0o600);
    const md5 = newHasher('MD5');
    const sha = opts.sha256 ? newHasher('SHA256') : undefined;
    const hs: Array<[ChecksumAlgo, Hasher]> = (opts.algos ?? []).map((a) => [a, newHasher(a)]);
    let size = 0;
    try {
      // coalesce small chunks into ~1 MiB writes
      let pending: Buffer[] = []; let pendingLen = 0;
      const flush = async () => {
        if (!pendingLen) return;
        const b = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingLen);
        pending = []; pendingLen = 0;
        let off = 0;
        while (off < b.length) { const { bytesWritten } = await fh.write(b, off, b.length - off); off += bytesWritten; }
      };
      for await (const chunk of source) {
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
        size += b.length;
        if (opts.maxSize !== undefined && size > opts.maxSize) throw new StoreError('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size');
        md5.update(b); sha?.update(b); for (const [, h] of hs) h.update(b);
        pending.push(b); pendingLen += b.length;
        if (pendingLen >= 1 << 20) await flush();
      }
      await flush();
      await fh.sync();
    } catch (err) {
      await fh.close().catch(() => undefined);
      await fsp.rm(tmpPath, { force: true });
      throw err;
    }
    await fh.close();
    const checksums: WrittenTemp['checksums'] = {};
    for (const [a, h] of hs) checksums[a] = h.digest();
    return { tmpPath, size, md5: md5.digest(), sha256: sha?.digest(), checksums };
  }

  /** Moves a finished temp file into data/ durably; returns its file id. */
  async publish(tmp: WrittenTemp | string): Promise<string> {
    const tmpPath = typeof tmp === 'string' ? tmp : tmp.tmpPath;
    const file = randomUUID().replace(/-/g, '');
    const dir = path.join(this.dataDir, file.slice(0, 2));
    await fsp.mkdir(dir, { recursive: true });
    await fsp.rename(tmpPath, path.join(dir, file));
    await fsyncDir(dir);
    return file;
  }

  async discard(tmp: WrittenTemp | string | undefined): Promise<void> {
    if (!tmp) return;
    await fsp.rm(typeof tmp === 'string' ? tmp : tmp.tmpPath, { force: true });
  }

  async remove(file: string | null | undefined): Promise<void> {
    if (file) await fsp.rm(this.filePath(file), { force: true });
  }

  /** A read stream of bytes [start, end] inclusive. */
  openRead(file: string, start?: number, end?: number): fs.ReadStream {
    return fs.createReadStream(this.filePath(file), { start, end, highWaterMark: 256 * 1024 });
  }

  /** Concatenates files (each with optional inclusive range) into a new temp file, hashing on the way. */
  async concat(pieces: Array<{ file: string; start?: number; end?: number }>, opts: WriteOptions = {}): Promise<WrittenTemp> {
    const self = this;
    async function* gen() {
      for (const p of pieces) yield* self.openRead(p.file, p.start, p.end) as AsyncIterable<Buffer>;
    }
    return this.writeTemp(gen(), opts);
  }
}

async function fsyncDir(dir: string) {
  const fh = await fsp.open(dir, 'r');
  try { await fh.sync(); } catch { /* some filesystems refuse */ } finally { await fh.close(); }
}
