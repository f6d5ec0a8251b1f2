// The node's image cache: image files (kernels, ramdisks, disks) by sha256
// under one directory. A file arrives by HTTP from Walrus (a presigned URL)
// or, for images registered from local files, by copy; either way into a temp
// file, checksum verified, then renamed into place. One fetch per file however
// many launches want it at once. Least-recently-used files that no VM uses are
// evicted to stay under maxBytes.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import crypto from 'node:crypto';

export interface CacheSource {
  /** expected sha256 (hex); the cache key. Without it the key is a hash of the path/URL and nothing is verified. */
  sha256?: string | null;
  /** where to download from (a presigned Walrus GET) */
  url?: string | null;
  /** or a local file to copy (images registered from local files) */
  path?: string | null;
  /** expected size, to make room before the download */
  size?: number | null;
  /** for messages */
  label?: string;
}

export class CacheError extends Error {
  constructor(public type: 'ImageChecksumMismatch' | 'ImageFetchFailed' | 'ImageSourceMissing', message: string, public retryable = false) { super(message); }
}

export interface ImageCacheOptions {
  dir: string;
  maxBytes: number;
  /** files (absolute paths) that running VMs use: never evicted */
  inUse?: () => Promise<Iterable<string>> | Iterable<string>;
  /** called while bytes arrive (activity heartbeats) */
  onProgress?: (bytes: number) => void;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** waits between download attempts when Walrus is unreachable or answers 5xx */
  retryDelaysMs?: number[];
}

const TMP = '.tmp-';

export class ImageCache {
  private inFlight = new Map<string, Promise<string>>();
  /** files handed out to launches still in progress (startVm not yet done) */
  private pins = new Map<string, number>();
  constructor(readonly opts: ImageCacheOptions) {}

  keyOf(src: CacheSource): string {
    if (src.sha256) return src.sha256.toLowerCase();
    return crypto.createHash('sha256').update(src.path ?? src.url ?? '').digest('hex');
  }
  fileFor(src: CacheSource): string { return path.join(this.opts.dir, this.keyOf(src)); }

  /** Removes temp files an interrupted fetch left behind. */
  async init(): Promise<void> {
    await fsp.mkdir(this.opts.dir, { recursive: true });
    for (const f of await fsp.readdir(this.opts.dir)) if (f.includes(TMP)) await fsp.rm(path.join(this.opts.dir, f), { force: true });
  }

  /** The cached file for src, fetching it once if needed; marks it recently used. */
  get(src: CacheSource): Promise<string> {
    const key = this.keyOf(src);
    let p = this.inFlight.get(key);
    if (!p) {
      p = this.fetch(key, src).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, p);
    }
    return p;
  }

  /** Keeps files from eviction while a launch uses them (until release). */
  pin(files: string[]): void { for (const f of files) this.pins.set(f, (this.pins.get(f) ?? 0) + 1); }
  release(files: string[]): void {
    for (const f of files) { const n = (this.pins.get(f) ?? 0) - 1; if (n > 0) this.pins.set(f, n); else this.pins.delete(f); }
  }

  private async fetch(key: string, src: CacheSource): Promise<string> {
    const dest = path.join(this.opts.dir, key);
    const st = await fsp.stat(dest).catch(() => undefined);
    if (st) { await touch(dest); return dest; }
    await fsp.mkdir(this.opts.dir, { recursive: true });
    this.pin([dest]);
    try {
      await this.evict(src.size ?? 0);
      const tmp = `${dest}${TMP}${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
      try {
        const sha = src.url ? await this.downloadRetrying(src.url, tmp) : await copyLocal(src, tmp, this.opts.onProgress);
        if (src.sha256 && sha !== src.sha256.toLowerCase()) {
          throw new CacheError('ImageChecksumMismatch', `checksum mismatch for ${src.label ?? src.path ?? key}: expected ${src.sha256}, got ${sha}`);
        }
        await fsp.rename(tmp, dest);
      } catch (e) {
        await fsp.rm(tmp, { force: true });
        throw e;
      }
      await this.evict(0);
      return dest;
    } finally {
      this.release([dest]);
    }
  }

  /**
   * Walrus unreachable or answering 5xx (e.g. a node reconciling before the API
   * is up) is retried here for a while, heartbeating, before the activity fails.
   */
  private async downloadRetrying(url: string, tmp: string): Promise<string> {
    const delays = this.opts.retryDelaysMs ?? [500, 1000, 2000, 4000, 8000, 8000];
    for (let attempt = 0; ; attempt++) {
      try {
        return await download(url, tmp, this.opts.onProgress);
      } catch (e) {
        await fsp.rm(tmp, { force: true });
        if (!(e instanceof CacheError) || !e.retryable || attempt >= delays.length) throw e;
        this.opts.log?.('image fetch failed, retrying', { error: e.message, attempt });
        this.opts.onProgress?.(0);
        await new Promise((r) => setTimeout(r, delays[attempt]));
      }
    }
  }

  /**
   * Evicts least-recently-used files (by mtime, which get() refreshes) that
   * are neither in use by a VM nor pinned nor being fetched, until the cache
   * plus `reserve` bytes fits maxBytes. Returns the evicted files.
   */
  async evict(reserve = 0): Promise<string[]> {
    const busy = new Set<string>([...this.pins.keys()]);
    for (const f of (await this.opts.inUse?.()) ?? []) busy.add(path.resolve(f));
    for (const k of this.inFlight.keys()) busy.add(path.join(this.opts.dir, k));
    const entries: Array<{ file: string; size: number; used: number }> = [];
    let total = 0;
    for (const name of await fsp.readdir(this.opts.dir).catch(() => [] as string[])) {
      const file = path.join(this.opts.dir, name);
      const st = await fsp.stat(file).catch(() => undefined);
      if (!st?.isFile()) continue;
      total += st.size;
      if (!name.includes(TMP)) entries.push({ file, size: st.size, used: st.mtimeMs });
    }
    entries.sort((a, b) => a.used - b.used);
    const evicted: string[] = [];
    for (const e of entries) {
      if (total + reserve <= this.opts.maxBytes) break;
      if (busy.has(e.file)) continue;
      await fsp.rm(e.file, { force: true });
      total -= e.size;
      evicted.push(e.file);
      this.opts.log?.('evicted from the image cache', { file: e.file, size: e.size });
    }
    return evicted;
  }
}

async function touch(file: string) {
  const now = new Date();
  await fsp.utimes(file, now, now).catch(() => undefined);
}

async function writeHashed(source: AsyncIterable<Uint8Array>, tmp: string, onProgress?: (n: number) => void): Promise<string> {
  const h = crypto.createHash('sha256');
  const fh = await fsp.open(tmp, 'wx', 0o644);
  let n = 0, last = 0;
  try {
    for await (const chunk of source) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      h.update(b);
      let off = 0;
      while (off < b.length) { const { bytesWritten } = await fh.write(b, off, b.length - off); off += bytesWritten; }
      n += b.length;
      if (onProgress && n - last >= 8 << 20) { last = n; onProgress(n); }
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  onProgress?.(n);
  return h.digest('hex');
}

async function download(url: string, tmp: string, onProgress?: (n: number) => void): Promise<string> {
  let res: Response;
  const safe = url.replace(/X-Amz-Signature=[0-9a-f]+/, 'X-Amz-Signature=...');
  try {
    res = await fetch(url);
  } catch (e) {
    throw new CacheError('ImageFetchFailed', `cannot reach Walrus for ${safe}: ${(e as Error).message}`, true);
  }
  if (!res.ok || !res.body) {
    const text = await res.text().catch(() => '');
    const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
    // 5xx and throttling are worth retrying; 403/404 are not.
    throw new CacheError('ImageFetchFailed', `Walrus answered ${res.status}${code ? ' ' + code : ''} for ${safe}`, res.status >= 500 || res.status === 429);
  }
  return writeHashed(res.body as unknown as AsyncIterable<Uint8Array>, tmp, onProgress);
}

async function copyLocal(src: CacheSource, tmp: string, onProgress?: (n: number) => void): Promise<string> {
  if (!src.path || !fs.existsSync(src.path)) throw new CacheError('ImageSourceMissing', `image file ${src.path ?? '(none)'} does not exist`);
  return writeHashed(fs.createReadStream(src.path, { highWaterMark: 1 << 20 }), tmp, onProgress);
}
