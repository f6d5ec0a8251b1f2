// Key pair fingerprints as AWS computes them, the key material CreateKeyPair
// hands out, and the parsing of ImportKeyPair's public keys. Fixed vectors were
// made with ssh-keygen/openssl, using AWS's own verification commands:
//   created RSA:  openssl pkcs8 -in k -inform PEM -outform DER -topk8 -nocrypt | openssl sha1 -c
//   imported RSA: ssh-keygen -e -f k.pub -m PKCS8 | openssl pkey -pubin -outform DER | openssl md5 -c
//   ed25519:      ssh-keygen -l -E sha256 -f k.pub   (AWS adds the '=' padding)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Ec2Error } from '../../api/ec2/errors';
import {
  createdRsaFingerprint, decodePublicKeyMaterial, ed25519Fingerprint, generateKey, openSshBlob, parseOpenSshPublicKey, checkKeyName,
} from '../../api/ec2/actions/keyPairs';

const RSA_PRIVATE = `-----BEGIN RSA PRIVATE KEY-----
MIIEpQIBAAKCAQEAtfxsldAXM5L0N5oRPUWlEu7R3xS2HAwrJHD+sefgZupNliqU
v128mZCe9xJvqrT3uprfM47MPfTRN9KsmrYudLXYWKS/926yK1/yxPEY7YennWEo
XccqZHSltJ9s9HoaI9PmNNjiORynJUlRe23z7MwzdTTn0LQp0TvMvS7EQvN8sI3G
4cuSwEBduuDW0SpnMK4SPVy2V5w79klPUcf/3OKKu2TyNd8NZmFGHS8+HI9HJul4
WFkPPTxKpwTZ4t/+yquGtwF0VhiXyCoC4rqfzacp2ZLt62SJkE/LXDUFEljmQ443
G/VH5rH8BKKU5XUM4b5fM8UU89Ei2Zun8K8KtwIDAQABAoIBACba4LIxzipYR2Ux
s1mSK5b5v3xyNxmQ7YsnxvFkERDYGL2llMGw+UoOSyp0WLwpTDUeyOYAqJHX2e2h
wPF9UTjg9HKkpknlbAv/vd0XnttkGcDr1AsFsYLmNtT0LvaZtUgN/3osDkzkVbmL
yGZiiPB3fssZAx+Xv8/pBSMlP4kNiFWCBy4sBgF8lh1i1ixvM0GSKNRzzi1ojE8F
8YSIrN5aqt+O5N0xg79KhhAZI/IpZ82Va/4E0xhO+gYrYBy1h1bmQEwAOpZA1oGT
nFZFCoyrTqKXYfiu+jhT+uJkr9/mziRh0SZT0O8rH4ObN1PuoSPM3Mh+kZikkGWO
EylS8/0CgYEA2wfWz616d2fcehaniWY9TXHFvDRyQfN0+t53NPZY4fN3j4Q7DWgm
4KG55lg1gBafkcoO1X1dzVcd2NSRGppEMiC3OTZY2MbcabbZdIfNwovm/BJOOkWL
3n5jVJ6YQ2y57mZ+tjgSqAPDLvSLZaWuJCd800u09tUpyEcOTCd8tz0CgYEA1LPq
AbYjWLL4N9/i60aMP/EaVJQKpwLRK35vhqYTg1LDR8vftPWPZS+avAy+wbj18E+h
pOyDDcXFaZ0mZdN/FXHbzSxX4IivyNlpHDiF08aiNt+EzIdNjQhHPgbicsOj/6nC
vCM3PuSfxSxcsMBQGxit3RPBX0HOPX1UdJ1iyQMCgYEAnYeK0L0FSqHRaaGnh2OY
DX4ZaB4UWyidZtzfwaC4FnJD+F1zF1ZkN8U5bdjdSa17wKAhgRx0fX39gniHkCmJ
iMAM50IWLnsABawzw+L0csqqK3uC9dgVG8Ws7SxPeJbXNwZSdf3oNRzXoYrSQx4h
G/GmjlVx5uEy9s9cEhuIUEUCgYEAmQiY5IJXDAo37Ht4mC452gduGkwpHeA4/kIJ
m6cBgwqY1Z8pZNkIQpTtjz7cQCUDTdL9SdugrtgMIOCgL8LrPFKfAg9VaobtcmR5
64P/RU80hqZqtXzjnwTFvSrW4htAc0GAijwME4QKL6KrTcAP4m7vKJB+IDsIV9VE
XmKeIGECgYEAkqHDwQ4w843Bbg1t3P9N3zy2NaUKpIVuk8+gimY1dFZGNzGWGLl9
Tn5d36kk/dZ+0NpumeK1fn8V5ghC6JLLdQmQ05OGmaQvQPrxNNY1qm5OVJmG2mYF
VGjvjJEwKhxFFunwwkW+Bjtb7KXBo2ROOCG1XRNoksuWJw/fG5VHMyc=
-----END RSA PRIVATE KEY-----`;
const RSA_PUBLIC = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC1/GyV0BczkvQ3mhE9RaUS7tHfFLYcDCskcP6x5+Bm6k2WKpS/XbyZkJ73Em+qtPe6mt8zjsw99NE30qyati50tdhYpL/3brIrX/LE8Rjth6edYShdxypkdKW0n2z0ehoj0+Y02OI5HKclSVF7bfPszDN1NOfQtCnRO8y9LsRC83ywjcbhy5LAQF264NbRKmcwrhI9XLZXnDv2SU9Rx//c4oq7ZPI13w1mYUYdLz4cj0cm6XhYWQ89PEqnBNni3/7Kq4a3AXRWGJfIKgLiup/NpynZku3rZImQT8tcNQUSWOZDjjcb9UfmsfwEopTldQzhvl8zxRTz0SLZm6fwrwq3 vec@test';
const ED_PUBLIC = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFtRvTuIJ6h+4nV6C4n1FudY9z7azebioKtSVBK0B/C5 vec@test';

function code(c: string) {
  return (e: unknown) => { assert.ok(e instanceof Ec2Error, String(e)); assert.equal(e.code, c, e.message); return true; };
}

let sshKeygen = true;
try { execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' }); } catch (e: any) { sshKeygen = e.code !== 'ENOENT'; }
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'kp-'));

test('created RSA: SHA-1 of the DER PKCS#8 private key (fixed vector)', () => {
  const key = crypto.createPrivateKey(RSA_PRIVATE);
  assert.equal(createdRsaFingerprint(key), '37:2c:59:ff:50:7d:46:c5:d4:66:5a:f0:9b:08:b5:dd:9f:5f:f4:e6');
  // its OpenSSH public blob is what ssh-keygen wrote
  assert.equal(openSshBlob(crypto.createPublicKey(key)).toString('base64'), RSA_PUBLIC.split(' ')[1]);
});

test('imported RSA: MD5 of the DER SubjectPublicKeyInfo, not ssh-keygen -E md5 (fixed vector)', () => {
  const parsed = parseOpenSshPublicKey(RSA_PUBLIC);
  assert.equal(parsed.keyType, 'rsa');
  assert.equal(parsed.bits, 2048);
  assert.equal(parsed.fingerprint, 'b6:0f:57:2c:10:a1:e3:c9:35:33:df:4d:5d:87:43:9e');
  assert.notEqual(parsed.fingerprint, '9b:c5:2e:ba:2a:84:ba:82:48:ca:7d:b9:af:ee:1c:65'); // ssh-keygen -l -E md5
});

test('ed25519: base64 SHA-256 of the OpenSSH blob with padding (fixed vector)', () => {
  const parsed = parseOpenSshPublicKey(ED_PUBLIC);
  assert.equal(parsed.keyType, 'ed25519');
  assert.equal(parsed.fingerprint, '0+yLGSN0gQW0Dv23PenJcBFygUO7mgcLCNzTuXwAwTA=');
  assert.equal(ed25519Fingerprint(parsed.blob), parsed.fingerprint);
});

test('PublicKeyMaterial: base64 of the line (what SDKs send) or the raw line', () => {
  assert.equal(decodePublicKeyMaterial(Buffer.from(ED_PUBLIC + '\n').toString('base64')).trim(), ED_PUBLIC);
  assert.equal(decodePublicKeyMaterial(ED_PUBLIC), ED_PUBLIC);
  assert.throws(() => decodePublicKeyMaterial('not base64 ###'), code('InvalidKey.Format'));
});

test('ImportKeyPair refuses anything but ssh-rsa / ssh-ed25519 lines', () => {
  const [, rsaB64] = RSA_PUBLIC.split(' ');
  const [, edB64] = ED_PUBLIC.split(' ');
  const bad = [
    '', 'ssh-rsa', 'hello world', `ssh-dss ${rsaB64}`, `ecdsa-sha2-nistp256 ${edB64}`,
    `ssh-rsa ${edB64}`,                      // blob type differs from the line's
    `ssh-ed25519 ${rsaB64}`,
    `ssh-rsa ${rsaB64.slice(0, 100)}`,        // truncated blob
    `ssh-ed25519 ${edB64.slice(0, 40)}`,
    '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAW1G9O4gnqH7idXoLifUW51j3PtrN5uKgq1JUErQH8Lk=\n-----END PUBLIC KEY-----',
    '---- BEGIN SSH2 PUBLIC KEY ----',
    `ssh-rsa ${rsaB64}!!`,
  ];
  for (const line of bad) assert.throws(() => parseOpenSshPublicKey(line), code('InvalidKey.Format'), JSON.stringify(line));
  // a 512-bit RSA key is too small
  const { publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 512 });
  assert.throws(() => parseOpenSshPublicKey(`ssh-rsa ${openSshBlob(publicKey).toString('base64')}`), code('InvalidKey.Format'));
  // comments and extra whitespace are fine
  assert.equal(parseOpenSshPublicKey(`  ${ED_PUBLIC} more words  `).keyType, 'ed25519');
});

test('key names: 1-255 ASCII characters', () => {
  assert.equal(checkKeyName('my key/with:odd_chars'), 'my key/with:odd_chars');
  assert.equal(checkKeyName('x'.repeat(255)).length, 255);
  assert.throws(() => checkKeyName(undefined), code('MissingParameter'));
  assert.throws(() => checkKeyName(''), code('MissingParameter'));
  assert.throws(() => checkKeyName('x'.repeat(256)), code('InvalidParameterValue'));
  assert.throws(() => checkKeyName('clé'), code('InvalidParameterValue'));
});

test('CreateKeyPair rsa: PKCS#1 PEM that loads, fingerprint by AWS rule, OpenSSH public line', () => {
  const k = generateKey('rsa', 'mykey');
  assert.match(k.keyMaterial, /^-----BEGIN RSA PRIVATE KEY-----\n[\s\S]+\n-----END RSA PRIVATE KEY-----$/);
  const priv = crypto.createPrivateKey(k.keyMaterial);
  assert.equal(priv.asymmetricKeyDetails?.modulusLength, 2048);
  const der = priv.export({ type: 'pkcs8', format: 'der' });
  assert.equal(k.fingerprint, crypto.createHash('sha1').update(der).digest('hex').match(/../g)!.join(':'));
  assert.match(k.publicKeyLine, /^ssh-rsa AAAAB3NzaC1yc2E\S+ mykey$/);
  assert.equal(parseOpenSshPublicKey(k.publicKeyLine).blob.toString('base64'), openSshBlob(crypto.createPublicKey(priv)).toString('base64'));
});

test('CreateKeyPair ed25519: OpenSSH private key format, fingerprint by AWS rule', () => {
  const k = generateKey('ed25519', 'edkey');
  assert.match(k.keyMaterial, /^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]+\n-----END OPENSSH PRIVATE KEY-----$/);
  assert.match(k.fingerprint, /^[A-Za-z0-9+/]{43}=$/);
  assert.equal(parseOpenSshPublicKey(k.publicKeyLine).fingerprint, k.fingerprint);
});

test('ssh-keygen agrees: loads our ed25519 and RSA keys, same public key, same fingerprints', { skip: sshKeygen ? false : 'ssh-keygen is not installed' }, () => {
  const dir = tmp();
  try {
    for (const type of ['ed25519', 'rsa'] as const) {
      const k = generateKey(type, 'x');
      const f = path.join(dir, type);
      fs.writeFileSync(f, k.keyMaterial + '\n', { mode: 0o600 });
      const pub = execFileSync('ssh-keygen', ['-y', '-f', f], { encoding: 'utf8' }).trim().split(' ').slice(0, 2).join(' ');
      assert.equal(pub, k.publicKeyLine.split(' ').slice(0, 2).join(' '), `${type}: ssh-keygen -y`);
      if (type === 'ed25519') {
        const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', f], { encoding: 'utf8' });
        assert.equal(/SHA256:(\S+)/.exec(fp)![1] + '=', k.fingerprint);
      }
    }
    // a fresh key from ssh-keygen, imported: fingerprints as ssh-keygen / openssl compute them
    const f = path.join(dir, 'imp');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', f]);
    const ed = parseOpenSshPublicKey(fs.readFileSync(f + '.pub', 'utf8'));
    const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', f + '.pub'], { encoding: 'utf8' });
    assert.equal(ed.fingerprint, /SHA256:(\S+)/.exec(fp)![1] + '=');
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '3072', '-N', '', '-f', f + 'r']);
    const rsa = parseOpenSshPublicKey(fs.readFileSync(f + 'r.pub', 'utf8'));
    const spki = execFileSync('ssh-keygen', ['-e', '-m', 'PKCS8', '-f', f + 'r.pub'], { encoding: 'utf8' });
    const der = crypto.createPublicKey(spki).export({ type: 'spki', format: 'der' });
    assert.equal(rsa.fingerprint, crypto.createHash('md5').update(der).digest('hex').match(/../g)!.join(':'));
    assert.equal(rsa.bits, 3072);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
