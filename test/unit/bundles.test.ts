// Bundle manifests without a cloud: a bundle made as euca-bundle-image makes it
// is parsed, its key decrypted with the cloud's key, and its parts unpacked
// back to the image (digest checked).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { parseManifest, rsaDecryptHex, firstTarMember } from '../../walrus/bundles';
import { makeBundle } from './bundleMaker';

function cloudKeys(dir: string) {
  const key = path.join(dir, 'pk.pem'), cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=test'], { stdio: 'ignore' });
  return { key: fs.readFileSync(key, 'utf8'), cert: fs.readFileSync(cert, 'utf8') };
}

async function unpack(parts: Buffer[], key: Buffer, iv: Buffer) {
  const d = crypto.createDecipheriv('aes-128-cbc', key, iv);
  const tar = zlib.gunzipSync(Buffer.concat([d.update(Buffer.concat(parts)), d.final()]));
  const sha1 = crypto.createHash('sha1');
  const out: Buffer[] = [];
  const info: { name?: string; size?: number } = {};
  // feed in odd-sized chunks to exercise the parser's buffering
  async function* chunks() { for (let i = 0; i < tar.length; i += 777) yield tar.subarray(i, i + 777); }
  for await (const b of firstTarMember(chunks(), sha1, info)) out.push(b);
  return { image: Buffer.concat(out), sha1: sha1.digest('hex'), info };
}

test('a euca2ools-style bundle: manifest parsed, key decrypted, parts unpacked to the image', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bundle-'));
  try {
    const keys = cloudKeys(dir);
    const img = path.join(dir, 'disk.img');
    fs.writeFileSync(img, crypto.randomBytes(300 * 1024 + 13));
    const b = makeBundle(img, { cloudCertPem: keys.cert, account: '123456789012', partSize: 64 * 1024, kernelId: 'eki-12345678', ramdiskId: 'eri-12345678' });
    assert.ok(b.parts.length >= 4);
    const m = parseManifest(b.manifest);
    assert.equal(m.type, 'machine'); assert.equal(m.kernelId, 'eki-12345678'); assert.equal(m.ramdiskId, 'eri-12345678');
    assert.equal(m.name, 'disk.img'); assert.equal(m.parts.length, b.parts.length); assert.equal(m.encAlgo, 'AES-128-CBC');
    const key = Buffer.from(rsaDecryptHex(m.encKey, keys.key).toString(), 'hex');
    const iv = Buffer.from(rsaDecryptHex(m.encIv, keys.key).toString(), 'hex');
    assert.equal(key.length, 16); assert.equal(iv.length, 16);
    const { image, sha1, info } = await unpack(b.parts.map((p) => p.data), key, iv);
    assert.deepEqual(image, fs.readFileSync(img));
    assert.equal(sha1, m.digest, 'the tar digest matches the manifest');
    assert.equal(info.name, 'disk.img');
    // another cloud's key cannot open it
    const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bundle-o-'));
    try { assert.throws(() => rsaDecryptHex(m.encKey, cloudKeys(otherDir).key), (e: any) => e.code === 'InvalidManifest'); }
    finally { fs.rmSync(otherDir, { recursive: true, force: true }); }
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

test('bad manifests are InvalidManifest', () => {
  for (const xml of ['not xml <', '<manifest></manifest>', '<manifest><image><parts count="1"></parts></image></manifest>',
    '<manifest><image><name>x</name><parts count="1"><part index="0"><filename>../etc</filename></part></parts><ec2_encrypted_key>00</ec2_encrypted_key><ec2_encrypted_iv>00</ec2_encrypted_iv></image></manifest>']) {
    assert.throws(() => parseManifest(xml), (e: any) => e.code === 'InvalidManifest', xml);
  }
});
