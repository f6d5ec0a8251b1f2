// Streaming checksums S3 speaks: CRC32 (zlib), CRC32C and CRC64NVME (table
// driven, pure JS), SHA1, SHA256; values are base64 of the big-endian digest.
import { createHash, type Hash } from 'node:crypto';
import zlib from 'node:zlib';

export type ChecksumAlgo = 'CRC32' | 'CRC32C' | 'CRC64NVME' | 'SHA1' | 'SHA256';
export const CHECKSUM_ALGOS: ChecksumAlgo[] = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'];
export const checksumHeader = (a: ChecksumAlgo) => `x-amz-checksum-${a.toLowerCase()}`;
export function parseAlgo(s: string | undefined): ChecksumAlgo | undefined {
  if (!s) return undefined;
  const u = s.toUpperCase();
  return (CHECKSUM_ALGOS as string[]).includes(u) ? (u as ChecksumAlgo) : undefined;
}

export interface Hasher { update(b: Buffer): void; digest(): Buffer }

const crc32zlib = (zlib as unknown as { crc32: (d: Buffer, v?: number) => number }).crc32;

// CRC32C (Castagnoli), reflected poly 0x82F63B78, slice-by-8.
const C32C = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) for (let k = 1; k < 8; k++) t[k * 256 + n] = (t[(k - 1) * 256 + n] >>> 8) ^ t[t[(k - 1) * 256 + n] & 0xff];
  return t;
})();
export function crc32c(buf: Buffer, prev = 0): number {
  let c = ~prev >>> 0;
  let i = 0;
  const n = buf.length;
  const t = C32C;
  for (; i + 8 <= n; i += 8) {
    const a = (c ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24))) >>> 0;
    c = t[7 * 256 + (a & 0xff)] ^ t[6 * 256 + ((a >>> 8) & 0xff)] ^ t[5 * 256 + ((a >>> 16) & 0xff)] ^ t[4 * 256 + (a >>> 24)] ^
      t[3 * 256 + buf[i + 4]] ^ t[2 * 256 + buf[i + 5]] ^ t[256 + buf[i + 6]] ^ t[buf[i + 7]];
  }
  for (; i < n; i++) c = t[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

// CRC64/NVME: reflected poly 0x9A6C9329AC4BC9B5, init and xorout all ones.
// Kept as two 32-bit halves; slice-by-8 tables (hi/lo).
const C64 = (() => {
  const lo = new Uint32Array(8 * 256), hi = new Uint32Array(8 * 256);
  const PL = 0xac4bc9b5, PH = 0x9a6c9329;
  for (let n = 0; n < 256; n++) {
    let l = n, h = 0;
    for (let k = 0; k < 8; k++) {
      const b = l & 1;
      l = ((l >>> 1) | ((h & 1) << 31)) >>> 0; h = h >>> 1;
      if (b) { l = (l ^ PL) >>> 0; h = (h ^ PH) >>> 0; }
    }
    lo[n] = l; hi[n] = h;
  }
  for (let k = 1; k < 8; k++) for (let n = 0; n < 256; n++) {
    const pl = lo[(k - 1) * 256 + n], ph = hi[(k - 1) * 256 + n];
    const idx = pl & 0xff;
    lo[k * 256 + n] = (((pl >>> 8) | (ph << 24)) ^ lo[idx]) >>> 0;
    hi[k * 256 + n] = ((ph >>> 8) ^ hi[idx]) >>> 0;
  }
  return { lo, hi };
})();
export class Crc64Nvme implements Hasher {
  private l = 0xffffffff; private h = 0xffffffff;
  update(buf: Buffer): void {
    let l = this.l, h = this.h, i = 0;
    const n = buf.length, TL = C64.lo, TH = C64.hi;
    for (; i + 8 <= n; i += 8) {
      const a = (l ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24))) >>> 0;
      const b = (h ^ (buf[i + 4] | (buf[i + 5] << 8) | (buf[i + 6] << 16) | (buf[i + 7] << 24))) >>> 0;
      const i7 = 7 * 256 + (a & 0xff), i6 = 6 * 256 + ((a >>> 8) & 0xff), i5 = 5 * 256 + ((a >>> 16) & 0xff), i4 = 4 * 256 + (a >>> 24);
      const i3 = 3 * 256 + (b & 0xff), i2 = 2 * 256 + ((b >>> 8) & 0xff), i1 = 256 + ((b >>> 16) & 0xff), i0 = b >>> 24;
      l = (TL[i7] ^ TL[i6] ^ TL[i5] ^ TL[i4] ^ TL[i3] ^ TL[i2] ^ TL[i1] ^ TL[i0]) >>> 0;
      h = (TH[i7] ^ TH[i6] ^ TH[i5] ^ TH[i4] ^ TH[i3] ^ TH[i2] ^ TH[i1] ^ TH[i0]) >>> 0;
    }
    for (; i < n; i++) {
      const idx = (l ^ buf[i]) & 0xff;
      l = (((l >>> 8) | (h << 24)) ^ TL[idx]) >>> 0;
      h = ((h >>> 8) ^ TH[idx]) >>> 0;
    }
    this.l = l; this.h = h;
  }
  digest(): Buffer {
    const out = Buffer.alloc(8);
    out.writeUInt32BE((~this.h) >>> 0, 0); out.writeUInt32BE((~this.l) >>> 0, 4);
    return out;
  }
}

class Crc32Hasher implements Hasher {
  private c = 0;
  constructor(private castagnoli: boolean) {}
  update(b: Buffer) { this.c = this.castagnoli ? crc32c(b, this.c) : crc32zlib(b, this.c); }
  digest() { const o = Buffer.alloc(4); o.writeUInt32BE(this.c >>> 0); return o; }
}

class NodeHasher implements Hasher {
  private h: Hash;
  constructor(alg: string) { this.h = createHash(alg); }
  update(b: Buffer) { this.h.update(b); }
  digest() { return this.h.digest(); }
}

export function newHasher(algo: ChecksumAlgo | 'MD5'): Hasher {
  switch (algo) {
    case 'CRC32': return new Crc32Hasher(false);
    case 'CRC32C': return new Crc32Hasher(true);
    case 'CRC64NVME': return new Crc64Nvme();
    case 'SHA1': return new NodeHasher('sha1');
    case 'SHA256': return new NodeHasher('sha256');
    case 'MD5': return new NodeHasher('md5');
  }
}

export function checksumOf(algo: ChecksumAlgo, data: Buffer): string {
  const h = newHasher(algo); h.update(data); return h.digest().toString('base64');
}
