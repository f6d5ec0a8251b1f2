// Image bundles as euca2ools' euca-bundle-image / euca-upload-bundle (and
// ec2-ami-tools) make them: the image is put in a tar, the tar (whose SHA1 is
// the manifest's image digest) gzipped, then AES-128-CBC encrypted with a
// random key and IV, and split into parts (each with its SHA1). The manifest
// (<prefix>.manifest.xml, beside the parts in the bucket) carries the key and IV
// as hex strings RSA-encrypted (PKCS#1 v1.5) for the cloud's certificate
// (ec2_encrypted_key / ec2_encrypted_iv) and for the user's.
//
// RegisterImage of a manifest: check the caller may read manifest and parts,
// decrypt the key with the cloud's private key, stream parts -> AES -> gunzip ->
// tar (SHA1 checked) -> the first file in the tar, and store that as an object
// of the image owner's bucket `euca-bundles-<account>`; the image then points at
// that object like any other image in Walrus.
//
// Not checked: the manifest's <signature> (RSA-SHA1 with the user's key): this
// cloud has no user X.509 certificates to check it against.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { Readable, pipeline } from 'node:stream';
import { XMLParser } from 'fast-xml-parser';
import { Ec2Error } from '../api/ec2/errors';
import { canRead } from '../api/s3/context';
import * as wdb from '../db/walrus';
import { getWalrus, openObjectStream } from './objects';
import { config } from '../lib/config';

export const isManifestLocation = (loc: string) => /\.manifest\.xml$/i.test(loc.trim());

/** The cloud's bundle key pair (EUCALYPTUS_CERT for euca2ools is the certificate). */
export const cloudKeyPaths = () => ({
  key: process.env.EUCA_CLOUD_KEY ?? path.join(config.home, 'cloud-pk.pem'),
  cert: process.env.EUCA_CLOUD_CERT ?? path.join(config.home, 'cloud-cert.pem'),
});

export interface BundleRegistration {
  accountId: string; location: string; name?: string; description: string | null; architecture?: string;
  kernelId: string | null; ramdiskId: string | null; forceType?: 'kernel' | 'ramdisk';
  checkName: (name: string) => Promise<string>;
  /** checks the caller may read the manifest */
  inspect: (loc: string) => Promise<{ bucket: string; key: string; size: number; sha256: string }>;
  /** validates an EKI/ERI id named in the manifest */
  resolvePart?: (id: string, type: 'kernel' | 'ramdisk') => Promise<string>;
  register: (img: RegisteredBundle) => Promise<string>;
}

export interface RegisteredBundle {
  type: 'machine' | 'kernel' | 'ramdisk'; name: string; architecture: string; kernelId: string | null; ramdiskId: string | null;
  imageLocation: string; bucket: string; key: string; size: number; sha256: string; format: 'raw' | 'qcow2';
}

export interface Manifest {
  arch?: string; kernelId?: string; ramdiskId?: string; name: string; user?: string; type: string;
  digest: string; digestAlgo: string; size?: number; encKey: string; encIv: string; encAlgo: string;
  parts: Array<{ filename: string; digest: string }>;
}

const bad = (msg: string) => new Ec2Error('InvalidManifest', msg);
const text = (v: any): string | undefined => (v === undefined || v === null ? undefined : typeof v === 'object' ? (v['#text'] !== undefined ? String(v['#text']) : undefined) : String(v))?.trim();

export function parseManifest(xml: string): Manifest {
  let doc: any;
  try { doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false, isArray: (n) => n === 'part' }).parse(xml); } catch (e) { throw bad(`The manifest is not XML: ${(e as Error).message}`); }
  const m = doc?.manifest;
  const img = m?.image;
  if (!img) throw bad('The manifest has no <image>');
  const mc = m.machine_configuration ?? {};
  const partsEl = img.parts?.part ?? [];
  const parts: Manifest['parts'] = [];
  for (const p of partsEl) {
    const i = Number(p['@index']);
    if (!Number.isInteger(i) || i < 0 || i >= partsEl.length || parts[i]) throw bad('The manifest lists its parts with bad indexes');
    const filename = text(p.filename);
    if (!filename || filename.includes('/') || filename === '..') throw bad('A part of the manifest has a bad file name');
    parts[i] = { filename, digest: (text(p.digest) ?? '').toLowerCase() };
  }
  if (!parts.length || parts.length !== Number(img.parts?.['@count'] ?? parts.length)) throw bad('The manifest lists no parts or not as many as it counts');
  const encKey = text(img.ec2_encrypted_key), encIv = text(img.ec2_encrypted_iv);
  if (!encKey || !encIv) throw bad('The manifest carries no ec2_encrypted_key / ec2_encrypted_iv');
  const size = text(img.size);
  return {
    arch: text(mc.architecture), kernelId: text(mc.kernel_id), ramdiskId: text(mc.ramdisk_id),
    name: text(img.name) ?? '', user: text(img.user), type: text(img.type) ?? 'machine',
    digest: (text(img.digest) ?? '').toLowerCase(), digestAlgo: (img.digest?.['@algorithm'] ?? 'SHA1').toUpperCase(),
    size: size ? Number(size) : undefined, encKey, encIv, encAlgo: (img.ec2_encrypted_key?.['@algorithm'] ?? 'AES-128-CBC').toUpperCase(), parts,
  };
}

/**
 * RSA PKCS#1 v1.5 decryption of a hex value. Node 20 refuses PKCS#1 v1.5 in
 * privateDecrypt (CVE-2023-46809), so the raw RSA result is unpadded here.
 * Every failure is the same error (no padding oracle detail).
 */
export function rsaDecryptHex(hex: string, privateKeyPem: string): Buffer {
  const fail = () => bad("Failed to decrypt the bundle's key with the cloud's key (was it bundled for this cloud's certificate?)");
  if (!/^[0-9a-fA-F]+$/.test(hex)) throw fail();
  let raw: Buffer;
  try { raw = crypto.privateDecrypt({ key: privateKeyPem, padding: crypto.constants.RSA_NO_PADDING }, Buffer.from(hex, 'hex')); } catch { throw fail(); }
  // 0x00 0x02 <>= 8 non-zero bytes> 0x00 <message>
  if (raw[0] !== 0 || raw[1] !== 2) throw fail();
  const sep = raw.indexOf(0, 2);
  if (sep < 10) throw fail();
  return raw.subarray(sep + 1);
}

/** A key or IV as euca2ools encrypts it: the hex string (raw bytes tolerated). */
function keyBytes(b: Buffer, len: number, what: string): Buffer {
  const s = b.toString('latin1').trim();
  if (/^[0-9a-fA-F]+$/.test(s) && s.length === len * 2) return Buffer.from(s, 'hex');
  if (b.length === len) return b;
  throw bad(`The bundle's ${what} is not ${len} bytes`);
}

function parseTarNumber(f: Buffer): number {
  if (f[0] & 0x80) { // GNU base-256
    let n = 0;
    for (let i = 1; i < f.length; i++) n = n * 256 + f[i];
    return n;
  }
  const s = f.toString('latin1').replace(/\0.*$/s, '').trim();
  return s ? parseInt(s, 8) : 0;
}

/** The bytes of the first regular file in a tar stream; every byte of the stream goes through `digest`. */
export async function* firstTarMember(src: AsyncIterable<Buffer>, digest: crypto.Hash, info: { name?: string; size?: number } = {}): AsyncGenerator<Buffer> {
  let buf: Buffer = Buffer.alloc(0);
  let state: 'header' | 'data' | 'skip' | 'done' = 'header';
  let remaining = 0, pad = 0, found = false;
  for await (const c of src) {
    const chunk = Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array);
    digest.update(chunk);
    if (state === 'done') continue;
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (state === 'header') {
        if (buf.length < 512) break;
        const h = buf.subarray(0, 512); buf = buf.subarray(512);
        if (h.every((b) => b === 0)) { state = 'done'; break; }
        const type = String.fromCharCode(h[156]);
        remaining = parseTarNumber(h.subarray(124, 136));
        pad = (512 - (remaining % 512)) % 512;
        if (!found && (type === '0' || type === '\0' || type === '7')) {
          found = true; state = 'data';
          info.name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, ''); info.size = remaining;
        } else state = 'skip';
        continue;
      }
      if (remaining > 0) {
        if (!buf.length) break;
        const n = Math.min(remaining, buf.length);
        const piece = buf.subarray(0, n); buf = buf.subarray(n); remaining -= n;
        if (state === 'data') yield piece;
        if (remaining > 0) break;
      }
      if (pad > 0) {
        if (buf.length < pad) { pad -= buf.length; buf = Buffer.alloc(0); break; }
        buf = buf.subarray(pad); pad = 0;
      }
      if (state === 'data') { state = 'done'; break; }
      state = 'header';
    }
  }
  if (!found) throw bad('The bundle holds no file');
  if (state === 'data' || remaining > 0) throw bad('The bundle is truncated');
}

async function readAll(bucket: string, key: string, limit: number): Promise<Buffer> {
  const o = await openObjectStream(bucket, key);
  if (!o) throw bad(`${bucket}/${key} does not exist`);
  if (o.stat.size > limit) throw bad(`${bucket}/${key} is too large for a manifest`);
  const out: Buffer[] = [];
  for await (const c of o.stream) out.push(c as Buffer);
  return Buffer.concat(out);
}

export async function registerBundle(r: BundleRegistration): Promise<string> {
  const loc = await r.inspect(r.location);           // the caller may read the manifest
  const manifest = parseManifest((await readAll(loc.bucket, loc.key, 1 << 20)).toString('utf8'));
  const type: RegisteredBundle['type'] = r.forceType ?? (manifest.kernelId === 'true' ? 'kernel' : manifest.ramdiskId === 'true' ? 'ramdisk'
    : (['machine', 'kernel', 'ramdisk'].includes(manifest.type) ? manifest.type as RegisteredBundle['type'] : 'machine'));
  let kernelId = r.kernelId, ramdiskId = r.ramdiskId;
  if (type === 'machine') {
    if (!kernelId && manifest.kernelId && manifest.kernelId !== 'true') kernelId = r.resolvePart ? await r.resolvePart(manifest.kernelId, 'kernel') : manifest.kernelId;
    if (!ramdiskId && manifest.ramdiskId && manifest.ramdiskId !== 'true') ramdiskId = r.resolvePart ? await r.resolvePart(manifest.ramdiskId, 'ramdisk') : manifest.ramdiskId;
    if (!kernelId || !ramdiskId) throw new Ec2Error('MissingParameter', 'A machine image needs a kernel and a ramdisk (KernelId, RamdiskId, or kernel_id/ramdisk_id in the manifest)');
  } else { kernelId = null; ramdiskId = null; }
  const name = await r.checkName(r.name ?? manifest.name);
  if (manifest.encAlgo !== 'AES-128-CBC') throw bad(`Unsupported bundle cipher ${manifest.encAlgo}`);
  if (manifest.digestAlgo !== 'SHA1') throw bad(`Unsupported bundle digest ${manifest.digestAlgo}`);

  const { key: keyFile } = cloudKeyPaths();
  if (!fs.existsSync(keyFile)) throw bad('This cloud has no bundle key (cloud-pk.pem): bundles cannot be decrypted');
  const pem = fs.readFileSync(keyFile, 'utf8');
  const aesKey = keyBytes(rsaDecryptHex(manifest.encKey, pem), 16, 'key');
  const aesIv = keyBytes(rsaDecryptHex(manifest.encIv, pem), 16, 'IV');

  // every part must exist and be readable by the caller
  const dir = loc.key.includes('/') ? loc.key.slice(0, loc.key.lastIndexOf('/') + 1) : '';
  const bucket = await wdb.getBucket(loc.bucket);
  const partKeys = manifest.parts.map((p) => dir + p.filename);
  for (const k of partKeys) {
    const o = await wdb.getObject(loc.bucket, k);
    if (!o || o.deleteMarker || !o.file) throw bad(`The bundle part ${loc.bucket}/${k} does not exist`);
    if (!(r.accountId === bucket?.accountId || canRead(o.acl, o.ownerId, r.accountId))) throw new Ec2Error('AuthFailure', `Not authorized for ${loc.bucket}/${k}`, 403);
  }
  async function* parts(): AsyncGenerator<Buffer> {
    for (let i = 0; i < partKeys.length; i++) {
      const o = await openObjectStream(loc.bucket, partKeys[i]);
      if (!o) throw bad(`The bundle part ${loc.bucket}/${partKeys[i]} does not exist`);
      const h = crypto.createHash('sha1');
      for await (const c of o.stream) { h.update(c as Buffer); yield c as Buffer; }
      if (manifest.parts[i].digest && h.digest('hex') !== manifest.parts[i].digest) throw bad(`The bundle part ${partKeys[i]} does not match its digest`);
    }
  }
  const decipher = crypto.createDecipheriv('aes-128-cbc', aesKey, aesIv);
  const gunzip = zlib.createGunzip();
  let streamErr: unknown;
  pipeline(Readable.from(parts()), decipher, gunzip, (e) => { if (e) streamErr = e; });
  const tarSha1 = crypto.createHash('sha1');
  const info: { name?: string; size?: number } = {};
  async function* plain(): AsyncGenerator<Buffer> {
    try {
      yield* firstTarMember(gunzip as AsyncIterable<Buffer>, tarSha1, info);
    } catch (e) {
      const cause = streamErr ?? e;
      if (cause instanceof Ec2Error) throw cause;
      throw bad(`The bundle cannot be unpacked: ${(cause as Error).message ?? cause}`);
    }
  }

  // The image goes into the owner's bundle bucket.
  const outBucket = `euca-bundles-${r.accountId}`;
  const ob = await wdb.getBucket(outBucket);
  if (!ob) await wdb.createBucket(outBucket, r.accountId, config.region, 'private').catch((e) => { if (e?.code !== 'BucketAlreadyOwnedByYou') throw e; });
  else if (ob.accountId !== r.accountId) throw bad(`The bucket ${outBucket} belongs to another account`);
  const outKey = `${loc.bucket}/${loc.key.replace(/\.manifest\.xml$/i, '')}/${crypto.randomBytes(4).toString('hex')}`;
  let head: Buffer | undefined;
  const { row, temp } = await getWalrus().putObject({
    bucket: outBucket, key: outKey, ownerId: r.accountId, source: (async function* () {
      for await (const b of plain()) { if (!head) head = b.subarray(0, 4); yield b; }
    })(), headers: { 'content-type': 'application/octet-stream' }, acl: 'private', sha256: true,
    verify: () => {
      if (tarSha1.digest('hex') !== manifest.digest) throw bad('The unbundled image does not match the manifest digest');
      if (manifest.size !== undefined && info.size !== undefined && manifest.size !== info.size) throw bad('The unbundled image is not the size the manifest says');
    },
  });
  return r.register({
    type, name, architecture: r.architecture ?? manifest.arch ?? 'x86_64', kernelId, ramdiskId, imageLocation: `${loc.bucket}/${loc.key}`,
    bucket: outBucket, key: outKey, size: row.size, sha256: temp.sha256!.toString('hex'),
    format: head && head.length === 4 && head.equals(Buffer.from([0x51, 0x46, 0x49, 0xfb])) ? 'qcow2' : 'raw',
  });
}
