// Key pairs through the AWS CLI, the JS SDK and raw requests: create (rsa,
// ed25519), import, describe, delete, AWS's fingerprints and errors, and one
// account never seeing another's keys.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  CreateKeyPairCommand, ImportKeyPairCommand, DescribeKeyPairsCommand, DeleteKeyPairCommand,
} from '@aws-sdk/client-ec2';
import { ec2, aws, awsFails, stackUp, imageId, rawEc2, query, closeDb, type Creds } from './helpers';

const skip = stackUp ? false : 'the test cloud is not up (run through npm test)';
const V = { Version: '2016-11-15' };
const sfx = crypto.randomBytes(4).toString('hex');
const colonHex = (b: Buffer) => b.toString('hex').match(/../g)!.join(':');
let dir = '';
let other: Creds;

after(async () => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  await closeDb();
});

before(async () => {
  if (skip) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kp-e2e-'));
  const acct = String(100000000000 + crypto.randomInt(1e9));
  await query('INSERT INTO accounts (id, name) VALUES (?, ?)', [acct, `tenant-${acct}`]);
  other = { accessKeyId: 'AKIT' + crypto.randomBytes(8).toString('hex').toUpperCase(), secretAccessKey: crypto.randomBytes(20).toString('hex') };
  await query('INSERT INTO access_keys (access_key_id, secret_key, account_id) VALUES (?, ?, ?)', [other.accessKeyId, other.secretAccessKey, acct]);
});

let sshKeygen = true;
try { execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' }); } catch (e: any) { sshKeygen = e.code !== 'ENOENT'; }

test('CreateKeyPair rsa (CLI): PKCS#1 key that loads, AWS fingerprint, shown once', { skip }, async () => {
  const name = `rsa-${sfx}`;
  const out = await aws(['ec2', 'create-key-pair', '--key-name', name, '--tag-specifications', `ResourceType=key-pair,Tags=[{Key=team,Value=${sfx}}]`]);
  assert.equal(out.KeyName, name);
  assert.match(out.KeyPairId, /^key-[0-9a-f]{17}$/);
  assert.match(out.KeyMaterial, /^-----BEGIN RSA PRIVATE KEY-----\n/);
  assert.deepEqual(out.Tags, [{ Key: 'team', Value: sfx }]);
  const priv = crypto.createPrivateKey(out.KeyMaterial);
  assert.equal(priv.asymmetricKeyType, 'rsa');
  // AWS: SHA-1 of the DER-encoded PKCS#8 private key
  assert.equal(out.KeyFingerprint, colonHex(crypto.createHash('sha1').update(priv.export({ type: 'pkcs8', format: 'der' })).digest()));
  const d = await aws(['ec2', 'describe-key-pairs', '--key-names', name, '--include-public-key']);
  assert.equal(d.KeyPairs.length, 1);
  const k = d.KeyPairs[0];
  assert.equal(k.KeyFingerprint, out.KeyFingerprint);
  assert.equal(k.KeyPairId, out.KeyPairId);
  assert.equal(k.KeyType, 'rsa');
  assert.ok(!('KeyMaterial' in k), 'the private key is never shown again');
  assert.match(k.PublicKey, new RegExp(`^ssh-rsa AAAAB3NzaC1yc2E\\S+ ${name}$`));
  assert.ok(Date.now() - new Date(k.CreateTime).getTime() < 10 * 60_000);
  // the stored public key is the private key's
  const spki = crypto.createPublicKey(priv).export({ type: 'spki', format: 'der' });
  assert.ok(spki.length > 0);
  const [row] = await query('SELECT public_key FROM key_pairs WHERE id = ?', [out.KeyPairId]);
  assert.equal(row.public_key, k.PublicKey);
  assert.match(await awsFails(['ec2', 'create-key-pair', '--key-name', name]), /InvalidKeyPair\.Duplicate/);
  await aws(['ec2', 'delete-key-pair', '--key-name', name]);
  assert.match(await awsFails(['ec2', 'describe-key-pairs', '--key-names', name]), /InvalidKeyPair\.NotFound/);
});

test('CreateKeyPair ed25519 (SDK): OpenSSH private key, base64 SHA-256 fingerprint', { skip }, async () => {
  const name = `ed-${sfx}`;
  const out = await ec2().send(new CreateKeyPairCommand({ KeyName: name, KeyType: 'ed25519' }));
  assert.match(out.KeyMaterial!, /^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]+-----END OPENSSH PRIVATE KEY-----$/);
  assert.match(out.KeyFingerprint!, /^[A-Za-z0-9+/]{43}=$/);
  const d = await ec2().send(new DescribeKeyPairsCommand({ KeyPairIds: [out.KeyPairId!], IncludePublicKey: true }));
  const k = d.KeyPairs![0];
  assert.equal(k.KeyType, 'ed25519');
  const blob = Buffer.from(k.PublicKey!.split(' ')[1], 'base64');
  assert.equal(out.KeyFingerprint, crypto.createHash('sha256').update(blob).digest('base64'));
  if (sshKeygen) {
    const f = path.join(dir, 'ed');
    fs.writeFileSync(f, out.KeyMaterial + '\n', { mode: 0o600 });
    const pub = execFileSync('ssh-keygen', ['-y', '-f', f], { encoding: 'utf8' }).trim();
    assert.equal(pub.split(' ')[1], k.PublicKey!.split(' ')[1], 'ssh-keygen reads the private key and finds the same public key');
    const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', f], { encoding: 'utf8' });
    assert.equal(/SHA256:(\S+)/.exec(fp)![1] + '=', out.KeyFingerprint);
  }
  const del = await ec2().send(new DeleteKeyPairCommand({ KeyPairId: out.KeyPairId }));
  assert.equal(del.Return, true);
  assert.equal(del.KeyPairId, out.KeyPairId);
});

test('ImportKeyPair: RSA fingerprint is MD5 of the DER public key, ed25519 SHA-256; bad formats refused', { skip }, async () => {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  // the OpenSSH line, built by ssh-keygen when it is there, else from the JWK
  let line: string;
  if (sshKeygen) {
    const f = path.join(dir, 'imp-rsa');
    fs.writeFileSync(f, privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });
    line = execFileSync('ssh-keygen', ['-y', '-f', f], { encoding: 'utf8' }).trim() + ' me@laptop';
  } else {
    const jwk = publicKey.export({ format: 'jwk' });
    const s = (b: Buffer) => { const l = Buffer.alloc(4); l.writeUInt32BE(b.length); return Buffer.concat([l, b]); };
    const mp = (x: string) => { let b = Buffer.from(x, 'base64url'); if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]); return s(b); };
    line = `ssh-rsa ${Buffer.concat([s(Buffer.from('ssh-rsa')), mp(jwk.e!), mp(jwk.n!)]).toString('base64')} me@laptop`;
  }
  const file = path.join(dir, 'imp-rsa.pub');
  fs.writeFileSync(file, line + '\n');
  const name = `imp-rsa-${sfx}`;
  const out = await aws(['ec2', 'import-key-pair', '--key-name', name, '--public-key-material', `fileb://${file}`]);
  const md5 = colonHex(crypto.createHash('md5').update(publicKey.export({ type: 'spki', format: 'der' })).digest());
  assert.equal(out.KeyFingerprint, md5);
  assert.match(out.KeyPairId, /^key-[0-9a-f]{17}$/);
  const [row] = await query('SELECT public_key, key_type FROM key_pairs WHERE id = ?', [out.KeyPairId]);
  assert.equal(row.public_key, `${line.split(' ').slice(0, 2).join(' ')} ${name}`, 'stored as an OpenSSH line for the metadata service');
  assert.equal(row.key_type, 'rsa');
  assert.match(await awsFails(['ec2', 'import-key-pair', '--key-name', name, '--public-key-material', `fileb://${file}`]), /InvalidKeyPair\.Duplicate/);

  const ed = crypto.generateKeyPairSync('ed25519');
  const x = Buffer.from(ed.publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const s = (b: Buffer) => { const l = Buffer.alloc(4); l.writeUInt32BE(b.length); return Buffer.concat([l, b]); };
  const blob = Buffer.concat([s(Buffer.from('ssh-ed25519')), s(x)]);
  const edOut = await ec2().send(new ImportKeyPairCommand({
    KeyName: `imp-ed-${sfx}`, PublicKeyMaterial: Buffer.from(`ssh-ed25519 ${blob.toString('base64')} c`),
  }));
  assert.equal(edOut.KeyFingerprint, crypto.createHash('sha256').update(blob).digest('base64'));

  const bad = ['ssh-dss AAAAB3NzaC1kc3MAAACBAP', 'not a key at all', `ssh-rsa ${blob.toString('base64')}`,
    publicKey.export({ type: 'spki', format: 'pem' }).toString()];
  for (const [i, material] of bad.entries()) {
    const f = path.join(dir, `bad${i}`);
    fs.writeFileSync(f, material);
    assert.match(await awsFails(['ec2', 'import-key-pair', '--key-name', `bad-${i}-${sfx}`, '--public-key-material', `fileb://${f}`]),
      /InvalidKey\.Format/, material);
  }
  await aws(['ec2', 'delete-key-pair', '--key-name', name]);
  await aws(['ec2', 'delete-key-pair', '--key-pair-id', edOut.KeyPairId!]);
  assert.equal((await query('SELECT * FROM key_pairs WHERE id IN (?)', [[out.KeyPairId, edOut.KeyPairId]])).length, 0);
});

test('DescribeKeyPairs: by name and id, filters, NotFound; DeleteKeyPair of a missing key succeeds', { skip }, async () => {
  const a = await aws(['ec2', 'create-key-pair', '--key-name', `fa-${sfx}`, '--tag-specifications', 'ResourceType=key-pair,Tags=[{Key=role,Value=ci}]']);
  const b = await aws(['ec2', 'create-key-pair', '--key-name', `fb-${sfx}`, '--key-type', 'ed25519']);
  const names = (r: any) => r.KeyPairs.map((k: any) => k.KeyName).sort();
  assert.deepEqual(names(await aws(['ec2', 'describe-key-pairs', '--filters', `Name=key-name,Values=f?-${sfx}`])), [`fa-${sfx}`, `fb-${sfx}`]);
  assert.deepEqual(names(await aws(['ec2', 'describe-key-pairs', '--filters', `Name=fingerprint,Values=${b.KeyFingerprint}`])), [`fb-${sfx}`]);
  assert.deepEqual(names(await aws(['ec2', 'describe-key-pairs', '--filters', `Name=key-pair-id,Values=${a.KeyPairId}`])), [`fa-${sfx}`]);
  assert.deepEqual(names(await aws(['ec2', 'describe-key-pairs', '--filters', 'Name=tag:role,Values=ci', `Name=key-name,Values=*-${sfx}`])), [`fa-${sfx}`]);
  assert.deepEqual(names(await aws(['ec2', 'describe-key-pairs', '--key-pair-ids', a.KeyPairId, b.KeyPairId])), [`fa-${sfx}`, `fb-${sfx}`]);
  const d = await aws(['ec2', 'describe-key-pairs', '--key-names', `fa-${sfx}`]);
  assert.ok(!('PublicKey' in d.KeyPairs[0]), 'public key only with IncludePublicKey');
  assert.match(await awsFails(['ec2', 'describe-key-pairs', '--key-names', `fa-${sfx}`, `nope-${sfx}`]), /InvalidKeyPair\.NotFound/);
  assert.match(await awsFails(['ec2', 'describe-key-pairs', '--key-pair-ids', 'key-0123456789abcdef0']), /InvalidKeyPair\.NotFound/);
  // names are case-sensitive
  assert.match(await awsFails(['ec2', 'describe-key-pairs', '--key-names', `FA-${sfx}`]), /InvalidKeyPair\.NotFound/);
  // deleting what is not there succeeds, as in AWS
  const gone = await rawEc2({ Action: 'DeleteKeyPair', ...V, KeyName: `never-${sfx}` });
  assert.equal(gone.status, 200, gone.text);
  assert.match(gone.text, /<return>true<\/return>/);
  await aws(['ec2', 'delete-key-pair', '--key-name', `fa-${sfx}`]);
  await aws(['ec2', 'delete-key-pair', '--key-pair-id', b.KeyPairId]);
  assert.equal((await query('SELECT * FROM tags WHERE resource_id = ?', [a.KeyPairId])).length, 0, 'tags go with the key');
});

test('key pair parameter errors', { skip }, async () => {
  const cases: [Record<string, string>, string][] = [
    [{ Action: 'CreateKeyPair', ...V }, 'MissingParameter'],
    [{ Action: 'CreateKeyPair', ...V, KeyName: '' }, 'MissingParameter'],
    [{ Action: 'CreateKeyPair', ...V, KeyName: 'x'.repeat(256) }, 'InvalidParameterValue'],
    [{ Action: 'CreateKeyPair', ...V, KeyName: 'ключ' }, 'InvalidParameterValue'],
    [{ Action: 'CreateKeyPair', ...V, KeyName: `k-${sfx}`, KeyType: 'dsa' }, 'InvalidParameterValue'],
    [{ Action: 'CreateKeyPair', ...V, KeyName: `k-${sfx}`, 'TagSpecification.1.ResourceType': 'instance', 'TagSpecification.1.Tag.1.Key': 'a' }, 'InvalidParameterValue'],
    [{ Action: 'CreateKeyPair', ...V, KeyName: `k-${sfx}`, DryRun: 'true' }, 'DryRunOperation'],
    [{ Action: 'ImportKeyPair', ...V, KeyName: `k-${sfx}` }, 'MissingParameter'],
    [{ Action: 'ImportKeyPair', ...V, KeyName: `k-${sfx}`, PublicKeyMaterial: Buffer.from('ecdsa-sha2-nistp256 AAAA x').toString('base64') }, 'InvalidKey.Format'],
    [{ Action: 'DeleteKeyPair', ...V }, 'MissingParameter'],
    [{ Action: 'DescribeKeyPairs', ...V, 'Filter.1.Name': 'bogus', 'Filter.1.Value.1': 'x' }, 'InvalidParameterValue'],
  ];
  for (const [params, code] of cases) {
    const r = await rawEc2(params);
    assert.equal(r.code, code, `${JSON.stringify(params)} -> ${r.text}`);
    assert.ok(r.status < 500);
  }
  assert.equal((await query('SELECT * FROM key_pairs WHERE name = ?', [`k-${sfx}`])).length, 0, 'DryRun made nothing');
});

test('RunInstances checks KeyName (InvalidKeyPair.NotFound) before anything launches', { skip }, async () => {
  const r = await rawEc2({ Action: 'RunInstances', ...V, ImageId: imageId, MinCount: '1', MaxCount: '1', KeyName: `missing-${sfx}`, DryRun: 'true' });
  assert.equal(r.code, 'InvalidKeyPair.NotFound', r.text);
  assert.match(await awsFails(['ec2', 'run-instances', '--image-id', imageId, '--count', '1', '--key-name', `missing-${sfx}`]), /InvalidKeyPair\.NotFound/);
  const name = `run-${sfx}`;
  await aws(['ec2', 'create-key-pair', '--key-name', name]);
  const ok = await rawEc2({ Action: 'RunInstances', ...V, ImageId: imageId, MinCount: '1', MaxCount: '1', KeyName: name, DryRun: 'true' });
  assert.equal(ok.code, 'DryRunOperation', ok.text);
  // another account's key of that name is not ours
  assert.match(await awsFails(['ec2', 'run-instances', '--image-id', imageId, '--count', '1', '--key-name', name, '--dry-run'], other), /InvalidKeyPair\.NotFound/);
  await aws(['ec2', 'delete-key-pair', '--key-name', name]);
});

test("one account never sees or deletes another's key pairs; names are per account", { skip }, async () => {
  const name = `shared-${sfx}`;
  const mine = await aws(['ec2', 'create-key-pair', '--key-name', name]);
  const seen = await aws(['ec2', 'describe-key-pairs'], other);
  assert.ok(!JSON.stringify(seen).includes(mine.KeyPairId));
  assert.match(await awsFails(['ec2', 'describe-key-pairs', '--key-names', name], other), /InvalidKeyPair\.NotFound/);
  assert.match(await awsFails(['ec2', 'describe-key-pairs', '--key-pair-ids', mine.KeyPairId], other), /InvalidKeyPair\.NotFound/);
  await aws(['ec2', 'delete-key-pair', '--key-name', name], other);            // succeeds, deletes nothing of mine
  await aws(['ec2', 'delete-key-pair', '--key-pair-id', mine.KeyPairId], other);
  assert.equal((await aws(['ec2', 'describe-key-pairs', '--key-names', name])).KeyPairs.length, 1);
  const theirs = await aws(['ec2', 'create-key-pair', '--key-name', name], other);   // the same name in another account
  assert.notEqual(theirs.KeyPairId, mine.KeyPairId);
  await aws(['ec2', 'delete-key-pair', '--key-name', name], other);
  assert.equal((await aws(['ec2', 'describe-key-pairs', '--key-names', name])).KeyPairs.length, 1);
  await aws(['ec2', 'delete-key-pair', '--key-name', name]);
});
