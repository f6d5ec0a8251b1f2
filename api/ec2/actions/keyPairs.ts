// Key pairs: CreateKeyPair (rsa / ed25519, private key returned once),
// ImportKeyPair (an OpenSSH public key line), DeleteKeyPair, DescribeKeyPairs.
//
// Fingerprints as AWS computes them (EC2 User Guide, "Verify the fingerprint
// of your key pair"):
//   created RSA   SHA-1 of the DER PKCS#8 private key, colon hex
//                 (openssl pkcs8 -topk8 -nocrypt -outform DER | openssl sha1 -c)
//   imported RSA  MD5 of the DER SubjectPublicKeyInfo, colon hex
//                 (openssl rsa -pubout -outform DER | openssl md5 -c); NOT
//                 ssh-keygen's MD5, which hashes the OpenSSH blob
//   ed25519       base64 SHA-256 of the OpenSSH public key blob; AWS keeps the
//                 '=' padding that ssh-keygen drops ("Amazon EC2 might append
//                 padding to the fingerprint with = characters")
import crypto from 'node:crypto';
import type { Ec2Context } from '../router';
import { dryRunCheck } from '../router';
import { Ec2Error, ec2Errors } from '../errors';
import { applyFilters } from './filters';
import { dbCall } from './securityGroups';
import { inputFilters, tagsForType } from './tags';
import { keyPairFilters } from './resourceFilters';
import { deleteKeyPair, insertKeyPair, listKeyPairs, type KeyPairRow } from '../../../db/keyPairs';

export const keyPairIdPattern = /^key-[0-9a-f]{8}([0-9a-f]{9})?$/;

// ---------------------------------------------------------------- SSH wire format

function sshString(b: Buffer | string): Buffer {
  const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(buf.length);
  return Buffer.concat([len, buf]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** SSH mpint of a non-negative big-endian magnitude: no leading zeros, a 0 byte if the top bit is set. */
function mpint(mag: Buffer): Buffer {
  let i = 0;
  while (i < mag.length && mag[i] === 0) i++;
  let m = mag.subarray(i);
  if (m.length && m[0] & 0x80) m = Buffer.concat([Buffer.from([0]), m]);
  return sshString(m);
}

class Reader {
  private off = 0;
  constructor(private readonly buf: Buffer) {}
  bytes(): Buffer {
    if (this.off + 4 > this.buf.length) throw new Error('short');
    const n = this.buf.readUInt32BE(this.off);
    if (this.off + 4 + n > this.buf.length) throw new Error('short');
    const out = this.buf.subarray(this.off + 4, this.off + 4 + n);
    this.off += 4 + n;
    return out;
  }
  done(): boolean { return this.off === this.buf.length; }
}

const b64url = (b: Buffer) => b.toString('base64url');
const stripZeros = (b: Buffer) => { let i = 0; while (i < b.length - 1 && b[i] === 0) i++; return b.subarray(i); };
export const colonHex = (b: Buffer) => b.toString('hex').match(/../g)!.join(':');

/** The OpenSSH public key blob of an RSA or Ed25519 key. */
export function openSshBlob(key: crypto.KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (key.asymmetricKeyType === 'rsa') {
    return Buffer.concat([sshString('ssh-rsa'), mpint(Buffer.from(jwk.e!, 'base64url')), mpint(Buffer.from(jwk.n!, 'base64url'))]);
  }
  if (key.asymmetricKeyType === 'ed25519') return Buffer.concat([sshString('ssh-ed25519'), sshString(Buffer.from(jwk.x!, 'base64url'))]);
  throw new Error(`unsupported key type ${key.asymmetricKeyType}`);
}

// ---------------------------------------------------------------- fingerprints

/** AWS's fingerprint of an RSA key pair it created: SHA-1 of the DER PKCS#8 private key. */
export function createdRsaFingerprint(privateKey: crypto.KeyObject): string {
  return colonHex(crypto.createHash('sha1').update(privateKey.export({ type: 'pkcs8', format: 'der' })).digest());
}

/** AWS's fingerprint of an imported RSA public key: MD5 of the DER SubjectPublicKeyInfo. */
export function importedRsaFingerprint(publicKey: crypto.KeyObject): string {
  return colonHex(crypto.createHash('md5').update(publicKey.export({ type: 'spki', format: 'der' })).digest());
}

/** AWS's fingerprint of an Ed25519 key (created or imported): base64 SHA-256 of the OpenSSH blob, padded. */
export function ed25519Fingerprint(blob: Buffer): string {
  return crypto.createHash('sha256').update(blob).digest('base64');
}

// ---------------------------------------------------------------- key material

/** The unencrypted OpenSSH private key format (PROTOCOL.key) of an Ed25519 key, as ssh-keygen writes it. */
export function ed25519OpenSshPrivateKey(privateKey: crypto.KeyObject, comment = ''): string {
  const jwk = privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d!, 'base64url');
  const pub = Buffer.from(jwk.x!, 'base64url');
  const blob = Buffer.concat([sshString('ssh-ed25519'), sshString(pub)]);
  const check = crypto.randomBytes(4);
  let secret = Buffer.concat([check, check, sshString('ssh-ed25519'), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)]);
  const pad = [];
  for (let i = 1; (secret.length + pad.length) % 8 !== 0; i++) pad.push(i);
  secret = Buffer.concat([secret, Buffer.from(pad)]);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'binary'), sshString('none'), sshString('none'), sshString(''), u32(1), sshString(blob), sshString(secret),
  ]);
  const lines = body.toString('base64').match(/.{1,70}/g)!.join('\n');
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

export interface GeneratedKey { keyMaterial: string; fingerprint: string; publicKeyLine: string }

/** A new key pair as CreateKeyPair answers it: RSA 2048 as PKCS#1 PEM, Ed25519 as OpenSSH. */
export function generateKey(keyType: 'rsa' | 'ed25519', name: string): GeneratedKey {
  if (keyType === 'rsa') {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
    return {
      keyMaterial: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString().trimEnd(),
      fingerprint: createdRsaFingerprint(privateKey),
      publicKeyLine: `ssh-rsa ${openSshBlob(publicKey).toString('base64')} ${name}`,
    };
  }
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const blob = openSshBlob(publicKey);
  return {
    keyMaterial: ed25519OpenSshPrivateKey(privateKey).trimEnd(),
    fingerprint: ed25519Fingerprint(blob),
    publicKeyLine: `ssh-ed25519 ${blob.toString('base64')} ${name}`,
  };
}

export interface ParsedPublicKey { keyType: 'rsa' | 'ed25519'; blob: Buffer; fingerprint: string; bits?: number }

const badFormat = () => new Ec2Error('InvalidKey.Format', 'Key is not in valid OpenSSH public key format');

/**
 * An OpenSSH public key line (`ssh-rsa AAAA... comment` or `ssh-ed25519 ...`),
 * checked down to the key itself. Anything else (PEM, SSH2, DSA, ECDSA,
 * a corrupt blob): InvalidKey.Format.
 */
export function parseOpenSshPublicKey(line: string): ParsedPublicKey {
  const parts = line.trim().split(/\s+/);
  if (parts.length < 2) throw badFormat();
  const [type, b64] = parts;
  if (type !== 'ssh-rsa' && type !== 'ssh-ed25519') throw badFormat();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw badFormat();
  const blob = Buffer.from(b64, 'base64');
  try {
    const r = new Reader(blob);
    if (r.bytes().toString('latin1') !== type) throw badFormat();
    if (type === 'ssh-rsa') {
      const e = r.bytes();
      const n = r.bytes();
      if (!r.done() || (n[0] ?? 0) & 0x80 || (e[0] ?? 0) & 0x80) throw badFormat();
      const key = crypto.createPublicKey({ key: { kty: 'RSA', n: b64url(stripZeros(n)), e: b64url(stripZeros(e)) }, format: 'jwk' });
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 1024 || bits > 16384) {
        throw new Ec2Error('InvalidKey.Format', `RSA keys must be between 1024 and 16384 bits long; this one has ${bits}.`);
      }
      return { keyType: 'rsa', blob, fingerprint: importedRsaFingerprint(key), bits };
    }
    const pub = r.bytes();
    if (!r.done() || pub.length !== 32) throw badFormat();
    crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(pub) }, format: 'jwk' });
    return { keyType: 'ed25519', blob, fingerprint: ed25519Fingerprint(blob) };
  } catch (e) {
    if (e instanceof Ec2Error) throw e;
    throw badFormat();
  }
}

/** PublicKeyMaterial is base64 (SDKs encode the blob); a raw `ssh-...` line is taken as it is. */
export function decodePublicKeyMaterial(raw: string): string {
  const s = raw.trim();
  if (/^ssh-/.test(s)) return s;
  if (!/^[A-Za-z0-9+/\s]+={0,2}\s*$/.test(s)) throw badFormat();
  return Buffer.from(s, 'base64').toString('utf8');
}

// ---------------------------------------------------------------- validation

/** Key names: 1 to 255 ASCII characters. */
export function checkKeyName(name: string | undefined, param = 'KeyName'): string {
  if (name === undefined || name === '') throw ec2Errors.missingParameter(param);
  if (name.length > 255) throw new Ec2Error('InvalidParameterValue', `Value (${name}) for parameter ${param} is invalid. Length exceeds maximum of 255 characters`);
  if (!/^[\x20-\x7e]*$/.test(name)) throw new Ec2Error('InvalidParameterValue', `Value (${name}) for parameter ${param} is invalid. Character sets beyond ASCII are not supported.`);
  return name;
}

function keyItem(k: KeyPairRow, includePublicKey: boolean) {
  return {
    keyPairId: k.id, keyType: k.keyType, tagSet: k.tags.map((t) => ({ key: t.key, value: t.value })),
    publicKey: includePublicKey ? k.publicKey : undefined, createTime: k.createdAt,
    keyName: k.name, keyFingerprint: k.fingerprint,
  };
}

// ---------------------------------------------------------------- actions

export async function CreateKeyPair(ctx: Ec2Context) {
  const name = checkKeyName(ctx.input.KeyName as string | undefined);
  const keyType = (ctx.input.KeyType as 'rsa' | 'ed25519' | undefined) ?? 'rsa';   // the model's enum: rsa | ed25519
  const format = (ctx.input.KeyFormat as 'pem' | 'ppk' | undefined) ?? 'pem';
  if (format !== 'pem') throw new Ec2Error('InvalidParameterValue', "Invalid value 'ppk' for KeyFormat. This cloud only hands out pem keys.");
  const tags = tagsForType(ctx.input, 'key-pair');
  dryRunCheck(ctx);
  const key = generateKey(keyType, name);
  const row = await dbCall(insertKeyPair(ctx.accountId, { name, keyType, fingerprint: key.fingerprint, publicKey: key.publicKeyLine, tags }));
  return {
    keyName: row.name, keyFingerprint: row.fingerprint, keyMaterial: key.keyMaterial, keyPairId: row.id,
    tagSet: row.tags.length ? row.tags : undefined,
  };
}

export async function ImportKeyPair(ctx: Ec2Context) {
  const name = checkKeyName(ctx.input.KeyName as string | undefined);
  // a blob in the model: the router decoded the base64 SDKs send; what is left is the OpenSSH line (or, once more, base64)
  const material = ctx.input.PublicKeyMaterial as Buffer | undefined;
  if (material === undefined || material.length === 0) throw ec2Errors.missingParameter('PublicKeyMaterial');
  const parsed = parseOpenSshPublicKey(decodePublicKeyMaterial(material.toString('utf8')));
  const tags = tagsForType(ctx.input, 'key-pair');
  dryRunCheck(ctx);
  const line = `${parsed.keyType === 'rsa' ? 'ssh-rsa' : 'ssh-ed25519'} ${parsed.blob.toString('base64')} ${name}`;
  const row = await dbCall(insertKeyPair(ctx.accountId, { name, keyType: parsed.keyType, fingerprint: parsed.fingerprint, publicKey: line, tags }));
  return { keyFingerprint: row.fingerprint, keyName: row.name, keyPairId: row.id, tagSet: row.tags.length ? row.tags : undefined };
}

export async function DeleteKeyPair(ctx: Ec2Context) {
  const name = ctx.input.KeyName as string | undefined;
  const id = ctx.input.KeyPairId as string | undefined;
  if (!name && !id) throw ec2Errors.missingParameter('KeyName');
  if (id && !keyPairIdPattern.test(id)) throw new Ec2Error('InvalidKeyPair.Malformed', `Invalid id: "${id}" (expecting "key-...")`);
  dryRunCheck(ctx);
  // A key pair that is not there is no error: AWS answers true.
  const deleted = await deleteKeyPair(ctx.accountId, id ? { id } : { name });
  return { return: true, keyPairId: deleted };
}

export async function DescribeKeyPairs(ctx: Ec2Context) {
  const names = [...new Set((ctx.input.KeyNames ?? []) as string[])];
  const ids = [...new Set((ctx.input.KeyPairIds ?? []) as string[])];
  for (const id of ids) if (!keyPairIdPattern.test(id)) throw new Ec2Error('InvalidKeyPair.Malformed', `Invalid id: "${id}" (expecting "key-...")`);
  const includePublicKey = ctx.input.IncludePublicKey === true;
  const filters = inputFilters(ctx.input);
  let keys = await listKeyPairs(ctx.accountId);
  const missingNames = names.filter((n) => !keys.some((k) => k.name === n));
  if (missingNames.length) throw new Ec2Error('InvalidKeyPair.NotFound', `The key pair '${missingNames[0]}' does not exist`);
  const missingIds = ids.filter((i) => !keys.some((k) => k.id === i));
  if (missingIds.length) throw new Ec2Error('InvalidKeyPair.NotFound', `The key pair ID '${missingIds[0]}' does not exist`);
  dryRunCheck(ctx);
  if (names.length || ids.length) keys = keys.filter((k) => names.includes(k.name) || ids.includes(k.id));
  keys = applyFilters(keys, filters, keyPairFilters);
  return { keySet: keys.map((k) => keyItem(k, includePublicKey)) };
}
