// Makes an image bundle the way euca2ools' euca-bundle-image does (tar of the
// image -> SHA1 digest -> gzip -> openssl enc -aes-128-cbc -K <hex> -iv <hex> ->
// parts; key and IV hex strings RSA PKCS#1 v1.5 encrypted for the cloud's and
// the user's certificates; manifest XML version 2007-10-10), for tests.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';

export interface Bundle { manifestName: string; manifest: string; parts: Array<{ name: string; data: Buffer }> }

const hex = (b: Buffer) => b.toString('hex');

export function makeBundle(imageFile: string, opts: { cloudCertPem: string; userCertPem?: string; account: string; type?: 'machine' | 'kernel' | 'ramdisk';
  kernelId?: string; ramdiskId?: string; partSize?: number; prefix?: string; corruptPart?: number }): Bundle {
  const name = path.basename(imageFile);
  const prefix = opts.prefix ?? name;
  // GNU tar, as euca2ools' tarfile stream: one member, the image
  const tar = execFileSync('tar', ['-cf', '-', '-C', path.dirname(imageFile), name], { maxBuffer: 1 << 30 });
  const digest = crypto.createHash('sha1').update(tar).digest('hex');
  const key = hex(crypto.randomBytes(16)), iv = hex(crypto.randomBytes(16));
  const c = crypto.createCipheriv('aes-128-cbc', Buffer.from(key, 'hex'), Buffer.from(iv, 'hex'));
  const enc = Buffer.concat([c.update(zlib.gzipSync(tar)), c.final()]);
  const partSize = opts.partSize ?? 10 * 1024 * 1024;
  const parts: Bundle['parts'] = [];
  for (let i = 0, off = 0; off < enc.length; i++, off += partSize) parts.push({ name: `${prefix}.part.${String(i).padStart(2, '0')}`, data: enc.subarray(off, off + partSize) });
  const rsa = (pem: string, v: string) => hex(crypto.publicEncrypt({ key: pem, padding: crypto.constants.RSA_PKCS1_PADDING }, Buffer.from(v)));
  const userCert = opts.userCertPem ?? opts.cloudCertPem;
  const partXml = parts.map((p, i) => `<part index="${i}"><filename>${p.name}</filename><digest algorithm="SHA1">${crypto.createHash('sha1').update(p.data).digest('hex')}</digest></part>`).join('');
  if (opts.corruptPart !== undefined) parts[opts.corruptPart].data = Buffer.from(parts[opts.corruptPart].data.map((b, i) => (i === 0 ? b ^ 1 : b)));
  const mc = `<machine_configuration><architecture>x86_64</architecture>${opts.kernelId ? `<kernel_id>${opts.kernelId}</kernel_id>` : ''}${opts.ramdiskId ? `<ramdisk_id>${opts.ramdiskId}</ramdisk_id>` : ''}</machine_configuration>`;
  const image = `<image><name>${name}</name><user>${opts.account}</user><digest algorithm="SHA1">${digest}</digest><size>${fs.statSync(imageFile).size}</size>` +
    `<bundled_size>${enc.length}</bundled_size><type>${opts.type ?? 'machine'}</type>` +
    `<ec2_encrypted_key algorithm="AES-128-CBC">${rsa(opts.cloudCertPem, key)}</ec2_encrypted_key><user_encrypted_key algorithm="AES-128-CBC">${rsa(userCert, key)}</user_encrypted_key>` +
    `<ec2_encrypted_iv>${rsa(opts.cloudCertPem, iv)}</ec2_encrypted_iv><user_encrypted_iv>${rsa(userCert, iv)}</user_encrypted_iv>` +
    `<parts count="${parts.length}">${partXml}</parts></image>`;
  const manifest = `<manifest><version>2007-10-10</version><bundler><name>euca2ools</name><version>3.4.1</version><release>0</release></bundler>${mc}${image}<signature>${'0'.repeat(512)}</signature></manifest>`;
  return { manifestName: `${prefix}.manifest.xml`, manifest, parts };
}

/** Writes a bundle into dir (as euca-bundle-image leaves it for euca-upload-bundle). */
export function writeBundle(b: Bundle, dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const p of b.parts) fs.writeFileSync(path.join(dir, p.name), p.data);
  fs.writeFileSync(path.join(dir, b.manifestName), b.manifest);
  return path.join(dir, b.manifestName);
}
