// Images in Walrus (§7) with the AWS CLI: the test guest's kernel and ramdisk
// uploaded with `aws s3 cp`, registered as EKI/ERI and an EMI, launched through
// RunInstances (the node fetches them from Walrus); attributes; launch
// permission across accounts; deregistration; the errors AWS gives.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeBundle, writeBundle } from '../unit/bundleMaker';
import { aws, awsFails, run, stackUp, home, waitForState, consoleText, query, closeDb, leftovers, adminCreds, region, type Creds, newAccount } from './helpers';

const skip = stackUp ? false : 'the test cloud is not up (run through npm test)';
after(closeDb);

const s3Url = process.env.S3_URL ?? `http://127.0.0.1:${process.env.EUCA_S3_PORT ?? 8784}/`;
const guestDir = path.join(home, 'images', 'test-guest');
const tag = crypto.randomBytes(3).toString('hex');
const bucket = `e2e-images-${tag}`;

async function s3(args: string[], creds: Creds = adminCreds): Promise<string> {
  const { stdout } = await run('aws', ['--endpoint-url', s3Url, '--region', region, 's3', ...args], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey, AWS_MAX_ATTEMPTS: '1' },
  });
  return stdout;
}
const sha256 = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

let other: Creds;
let otherAccount: string;
let adminAccount: string;
let eki = '', eri = '', emi = '';
const launched: Array<{ id: string; creds: Creds }> = [];

before(async () => {
  if (skip) return;
  ({ accountId: otherAccount, creds: other } = await newAccount('tenant', 'AKIT'));
  adminAccount = process.env.EUCA_ACCOUNT_ID!;
});

after(async () => {
  if (skip) return;
  for (const l of launched) await aws(['ec2', 'terminate-instances', '--instance-ids', l.id], l.creds).catch(() => undefined);
  for (const l of launched) await waitForState([l.id], ['terminated'], 120_000, l.creds).catch(() => undefined);
});

test('the test guest itself was uploaded through Walrus and registered as EKI + ERI + EMI by npm run up', { skip }, async () => {
  const img = (await aws(['ec2', 'describe-images', '--image-ids', process.env.EUCA_TEST_IMAGE!])).Images[0];
  assert.match(img.KernelId, /^eki-/); assert.match(img.RamdiskId, /^eri-/);
  const parts = (await aws(['ec2', 'describe-images', '--image-ids', img.KernelId, img.RamdiskId])).Images;
  const k = parts.find((p: any) => p.ImageId === img.KernelId);
  assert.equal(k.ImageType, 'kernel');
  assert.match(k.ImageLocation, /^images-\d{12}\/test-guest\/vmlinuz$/);
  const [row] = await query('SELECT sha256 FROM images WHERE id = ?', [img.KernelId]);
  assert.equal(row.sha256, sha256(path.join(guestDir, 'vmlinuz')));
});

test('aws s3 cp + register-image: EKI, ERI and an EMI that references them', { skip }, async () => {
  await s3(['mb', `s3://${bucket}`]);
  await s3(['cp', path.join(guestDir, 'vmlinuz'), `s3://${bucket}/guest/vmlinuz`]);
  await s3(['cp', path.join(guestDir, 'initrd.img'), `s3://${bucket}/guest/initrd.img`]);
  eki = (await aws(['ec2', 'register-image', '--name', `e2e-kernel-${tag}`, '--image-location', `${bucket}/guest/vmlinuz`, '--kernel-id', 'true'])).ImageId;
  eri = (await aws(['ec2', 'register-image', '--name', `e2e-ramdisk-${tag}`, '--image-location', `${bucket}/guest/initrd.img`, '--ramdisk-id', 'true'])).ImageId;
  assert.match(eki, /^eki-[0-9a-f]{8}$/); assert.match(eri, /^eri-[0-9a-f]{8}$/);
  emi = (await aws(['ec2', 'register-image', '--name', `e2e-guest-${tag}`, '--description', 'from a bucket',
    '--kernel-id', eki, '--ramdisk-id', eri, '--architecture', 'x86_64'])).ImageId;
  assert.match(emi, /^emi-[0-9a-f]{8}$/);

  const all = (await aws(['ec2', 'describe-images', '--image-ids', emi, eki, eri])).Images;
  const by = Object.fromEntries(all.map((i: any) => [i.ImageId, i]));
  assert.equal(by[emi].KernelId, eki); assert.equal(by[emi].RamdiskId, eri);
  assert.equal(by[emi].ImageType, 'machine'); assert.equal(by[emi].Public, false); assert.equal(by[emi].Description, 'from a bucket');
  assert.equal(by[eki].ImageType, 'kernel'); assert.equal(by[eki].ImageLocation, `${bucket}/guest/vmlinuz`);
  assert.equal(by[eri].ImageType, 'ramdisk'); assert.equal(by[eri].ImageLocation, `${bucket}/guest/initrd.img`);
  const byKernel = (await aws(['ec2', 'describe-images', '--filters', `Name=kernel-id,Values=${eki}`])).Images;
  assert.deepEqual(byKernel.map((i: any) => i.ImageId), [emi]);
  const kernels = (await aws(['ec2', 'describe-images', '--owners', 'self', '--filters', 'Name=image-type,Values=kernel', `Name=name,Values=e2e-kernel-${tag}`])).Images;
  assert.deepEqual(kernels.map((i: any) => i.ImageId), [eki]);
});

test('an image registered from a bucket boots through RunInstances', { skip }, async () => {
  assert.ok(emi, 'registered above');
  const r = await aws(['ec2', 'run-instances', '--image-id', emi, '--instance-type', 't1.micro']);
  const id = r.Instances[0].InstanceId;
  launched.push({ id, creds: adminCreds });
  const [inst] = await waitForState([id], ['running'], 240_000);
  assert.equal(inst.ImageId, emi);
  let text = '';
  for (let i = 0; i < 30 && !/EUCA-BOOT-OK/.test(text); i++) { text = await consoleText(id); if (!/EUCA-BOOT-OK/.test(text)) await new Promise((res) => setTimeout(res, 1000)); }
  assert.match(text, /EUCA-BOOT-OK ip=/);
  // The node cached the kernel and ramdisk by their sha256, fetched from Walrus.
  const node = inst.Placement?.AvailabilityZone && (await query('SELECT node FROM instances WHERE id = ?', [id]))[0].node;
  const cacheDir = path.join(home, 'hosts', node, 'cache');
  const files = fs.readdirSync(cacheDir);
  assert.ok(files.includes(sha256(path.join(guestDir, 'vmlinuz'))), `kernel cached on ${node}: ${files}`);
  assert.ok(files.includes(sha256(path.join(guestDir, 'initrd.img'))), 'ramdisk cached');
  assert.ok(!files.some((f) => f.includes('.tmp-')), 'no temp files left');
  await aws(['ec2', 'terminate-instances', '--instance-ids', id]);
  await waitForState([id], ['terminated'], 120_000);
  const held = await leftovers([id]);
  assert.equal(held.qemu.length, 0);
});

test('DescribeImageAttribute / ModifyImageAttribute / ResetImageAttribute round trips', { skip }, async () => {
  assert.ok(emi);
  const d0 = await aws(['ec2', 'describe-image-attribute', '--image-id', emi, '--attribute', 'description']);
  assert.equal(d0.Description.Value, 'from a bucket');
  await aws(['ec2', 'modify-image-attribute', '--image-id', emi, '--description', 'Value=renamed']);
  assert.equal((await aws(['ec2', 'describe-image-attribute', '--image-id', emi, '--attribute', 'description'])).Description.Value, 'renamed');
  assert.equal((await aws(['ec2', 'describe-image-attribute', '--image-id', emi, '--attribute', 'kernel'])).KernelId.Value, eki);
  assert.equal((await aws(['ec2', 'describe-image-attribute', '--image-id', emi, '--attribute', 'ramdisk'])).RamdiskId.Value, eri);
  assert.deepEqual((await aws(['ec2', 'describe-image-attribute', '--image-id', emi, '--attribute', 'launchPermission'])).LaunchPermissions, []);
  await aws(['ec2', 'modify-image-attribute', '--image-id', emi, '--launch-permission', 'Add=[{Group=all}]']);
  const lp = await aws(['ec2', 'describe-image-attribute', '--image-id', emi, '--attribute', 'launchPermission']);
  assert.deepEqual(lp.LaunchPermissions, [{ Group: 'all' }]);
  assert.equal((await aws(['ec2', 'describe-images', '--image-ids', emi])).Images[0].Public, true);
  await aws(['ec2', 'reset-image-attribute', '--image-id', emi, '--attribute', 'launchPermission']);
  assert.equal((await aws(['ec2', 'describe-images', '--image-ids', emi])).Images[0].Public, false);
  const bad = await awsFails(['ec2', 'describe-image-attribute', '--image-id', emi, '--attribute', 'colour']);
  assert.match(bad, /InvalidParameterValue/);
  const badUser = await awsFails(['ec2', 'modify-image-attribute', '--image-id', emi, '--launch-permission', 'Add=[{UserId=12345}]']);
  assert.match(badUser, /InvalidAMIAttributeItemValue/);
});

test('another account cannot see or launch a private image until launch permission is granted', { skip }, async () => {
  assert.ok(emi);
  const nf = await awsFails(['ec2', 'run-instances', '--image-id', emi, '--instance-type', 't1.micro'], other);
  assert.match(nf, /InvalidAMIID\.NotFound/);
  assert.match(await awsFails(['ec2', 'describe-images', '--image-ids', emi], other), /InvalidAMIID\.NotFound/);
  assert.match(await awsFails(['ec2', 'modify-image-attribute', '--image-id', emi, '--launch-permission', `Add=[{UserId=${otherAccount}}]`], other), /InvalidAMIID\.NotFound/);

  await aws(['ec2', 'modify-image-attribute', '--image-id', emi, '--launch-permission', `Add=[{UserId=${otherAccount}}]`]);
  const lp = await aws(['ec2', 'describe-image-attribute', '--image-id', emi, '--attribute', 'launchPermission']);
  assert.deepEqual(lp.LaunchPermissions, [{ UserId: otherAccount }]);
  const seen = await aws(['ec2', 'describe-images', '--executable-users', 'self'], other);
  assert.ok(seen.Images.some((i: any) => i.ImageId === emi), 'shared image visible with --executable-users self');
  const theirs = await aws(['ec2', 'describe-images', '--executable-users', otherAccount, '--owners', 'self']);
  assert.deepEqual(theirs.Images.map((i: any) => i.ImageId), [emi]);
  // the owner's attributes stay the owner's
  assert.match(await awsFails(['ec2', 'describe-image-attribute', '--image-id', emi, '--attribute', 'launchPermission'], other), /AuthFailure/);
  assert.match(await awsFails(['ec2', 'deregister-image', '--image-id', emi], other), /AuthFailure/);

  // Granted: the other account launches it; the node fetches with a URL signed for the owner's objects.
  const r = await aws(['ec2', 'run-instances', '--image-id', emi, '--instance-type', 't1.micro'], other);
  const id = r.Instances[0].InstanceId;
  launched.push({ id, creds: other });
  await waitForState([id], ['running'], 240_000, other);

  await aws(['ec2', 'modify-image-attribute', '--image-id', emi, '--launch-permission', `Remove=[{UserId=${otherAccount}}]`]);
  assert.match(await awsFails(['ec2', 'run-instances', '--image-id', emi, '--instance-type', 't1.micro'], other), /InvalidAMIID\.NotFound/);
  await aws(['ec2', 'terminate-instances', '--instance-ids', id], other);
  await waitForState([id], ['terminated'], 120_000, other);
});

test('RegisterImage errors: missing or unreadable objects, bad kernels, duplicate names', { skip }, async () => {
  assert.ok(eki && eri);
  assert.match(await awsFails(['ec2', 'register-image', '--name', `x-${tag}`, '--image-location', `${bucket}/nope`, '--kernel-id', 'true']), /InvalidParameterValue/);
  assert.match(await awsFails(['ec2', 'register-image', '--name', `x-${tag}`, '--image-location', `no-such-bucket-${tag}/k`, '--kernel-id', 'true']), /InvalidParameterValue/);
  // the other account may not register an image from the admin's private objects
  assert.match(await awsFails(['ec2', 'register-image', '--name', `x-${tag}`, '--image-location', `${bucket}/guest/vmlinuz`, '--kernel-id', 'true'], other), /AuthFailure/);
  // an EMI needs a kernel and a ramdisk that exist and are of that type
  assert.match(await awsFails(['ec2', 'register-image', '--name', `x-${tag}`, '--ramdisk-id', eri]), /MissingParameter/);
  assert.match(await awsFails(['ec2', 'register-image', '--name', `x-${tag}`, '--kernel-id', eri, '--ramdisk-id', eri]), /InvalidParameterValue/);
  assert.match(await awsFails(['ec2', 'register-image', '--name', `x-${tag}`, '--kernel-id', 'eki-00000000', '--ramdisk-id', eri]), /InvalidAMIID\.NotFound/);
  assert.match(await awsFails(['ec2', 'register-image', '--name', `e2e-kernel-${tag}`, '--image-location', `${bucket}/guest/vmlinuz`, '--kernel-id', 'true']), /InvalidAMIName\.Duplicate/);
  assert.match(await awsFails(['ec2', 'register-image', '--name', 'bad#name!', '--kernel-id', eki, '--ramdisk-id', eri]), /InvalidAMIName\.Malformed/);
  // a kernel can't be launched by itself
  assert.match(await awsFails(['ec2', 'run-instances', '--image-id', eki, '--instance-type', 't1.micro']), /InvalidAMIID\.NotFound/);
  // a raw disk object registers as the EMI's root disk, format detected
  const disk = path.join(home, `disk-${tag}.raw`);
  fs.writeFileSync(disk, Buffer.alloc(1024 * 1024));
  try {
    await s3(['cp', disk, `s3://${bucket}/guest/disk.raw`]);
    const withDisk = (await aws(['ec2', 'register-image', '--name', `e2e-disk-${tag}`, '--image-location', `${bucket}/guest/disk.raw`, '--kernel-id', eki, '--ramdisk-id', eri])).ImageId;
    const img = (await aws(['ec2', 'describe-images', '--image-ids', withDisk])).Images[0];
    assert.equal(img.ImageLocation, `${bucket}/guest/disk.raw`); assert.equal(img.RootDeviceName, '/dev/vda');
    const [row] = await query('SELECT disk_format, size_bytes FROM images WHERE id = ?', [withDisk]);
    assert.equal(row.disk_format, 'raw'); assert.equal(Number(row.size_bytes), 1024 * 1024);
    // launched, the node fetches the disk too and attaches it (copy-on-write over the cached file)
    const r = await aws(['ec2', 'run-instances', '--image-id', withDisk, '--instance-type', 't1.micro']);
    const id = r.Instances[0].InstanceId;
    launched.push({ id, creds: adminCreds });
    await waitForState([id], ['running'], 240_000);
    const diskSha = crypto.createHash('sha256').update(Buffer.alloc(1024 * 1024)).digest('hex');
    const { stdout } = await run('ps', ['-eo', 'args']);
    const line = stdout.split('\n').find((l) => l.includes(`-name ${id}`)) ?? '';
    assert.match(line, new RegExp(`-drive file=[^ ]*/cache/${diskSha},format=raw,if=virtio,snapshot=on`), line);
    await aws(['ec2', 'terminate-instances', '--instance-ids', id]);
    await aws(['ec2', 'deregister-image', '--image-id', withDisk]);
  } finally { fs.rmSync(disk, { force: true }); }
});

test('bundles as euca-bundle-image makes them: EKI and ERI from manifests in a bucket, decrypted with the cloud key, boot', { skip }, async () => {
  const cert = fs.readFileSync(process.env.EUCALYPTUS_CERT!, 'utf8');
  const dir = fs.mkdtempSync(path.join(home, `bundle-${tag}-`));
  try {
    // euca-bundle-image -i vmlinuz --kernel true ; euca-upload-bundle -b bucket/bundles/kernel
    const kb = makeBundle(path.join(guestDir, 'vmlinuz'), { cloudCertPem: cert, account: adminAccount, type: 'kernel', kernelId: 'true', partSize: 2 * 1024 * 1024 });
    const rb = makeBundle(path.join(guestDir, 'initrd.img'), { cloudCertPem: cert, account: adminAccount, type: 'ramdisk', ramdiskId: 'true', partSize: 2 * 1024 * 1024 });
    writeBundle(kb, path.join(dir, 'kernel')); writeBundle(rb, path.join(dir, 'ramdisk'));
    await s3(['cp', '--recursive', path.join(dir, 'kernel'), `s3://${bucket}/bundles/kernel/`]);
    await s3(['cp', '--recursive', path.join(dir, 'ramdisk'), `s3://${bucket}/bundles/ramdisk/`]);
    const bEki = (await aws(['ec2', 'register-image', '--name', `bundle-kernel-${tag}`, '--image-location', `${bucket}/bundles/kernel/${kb.manifestName}`])).ImageId;
    const bEri = (await aws(['ec2', 'register-image', '--name', `bundle-ramdisk-${tag}`, '--image-location', `${bucket}/bundles/ramdisk/${rb.manifestName}`])).ImageId;
    assert.match(bEki, /^eki-/, 'the manifest says kernel'); assert.match(bEri, /^eri-/);
    const k = (await aws(['ec2', 'describe-images', '--image-ids', bEki])).Images[0];
    assert.equal(k.ImageLocation, `${bucket}/bundles/kernel/${kb.manifestName}`);
    const [row] = await query('SELECT sha256 FROM images WHERE id = ?', [bEki]);
    assert.equal(row.sha256, sha256(path.join(guestDir, 'vmlinuz')), 'unbundled to the very kernel');
    const bEmi = (await aws(['ec2', 'register-image', '--name', `bundle-guest-${tag}`, '--kernel-id', bEki, '--ramdisk-id', bEri])).ImageId;
    const r = await aws(['ec2', 'run-instances', '--image-id', bEmi, '--instance-type', 't1.micro']);
    const id = r.Instances[0].InstanceId;
    launched.push({ id, creds: adminCreds });
    await waitForState([id], ['running'], 240_000);
    await aws(['ec2', 'terminate-instances', '--instance-ids', id]);

    // a corrupted part, a manifest for another cloud, a missing part
    const bad = makeBundle(path.join(guestDir, 'initrd.img'), { cloudCertPem: cert, account: adminAccount, type: 'ramdisk', prefix: 'corrupt', partSize: 1024 * 1024, corruptPart: 0 });
    writeBundle(bad, path.join(dir, 'corrupt'));
    await s3(['cp', '--recursive', path.join(dir, 'corrupt'), `s3://${bucket}/bundles/corrupt/`]);
    assert.match(await awsFails(['ec2', 'register-image', '--name', `corrupt-${tag}`, '--image-location', `${bucket}/bundles/corrupt/${bad.manifestName}`]), /InvalidManifest/);
    assert.match(await awsFails(['ec2', 'register-image', '--name', `nomanifest-${tag}`, '--image-location', `${bucket}/bundles/none.manifest.xml`]), /InvalidManifest/);
    await s3(['rm', `s3://${bucket}/bundles/kernel/${kb.parts[1].name}`]);
    assert.match(await awsFails(['ec2', 'register-image', '--name', `partless-${tag}`, '--image-location', `${bucket}/bundles/kernel/${kb.manifestName}`]), /InvalidManifest/);
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

test('DeregisterImage: gone from DescribeImages and RunInstances, the name is free again', { skip }, async () => {
  assert.ok(emi);
  await aws(['ec2', 'deregister-image', '--image-id', emi]);
  assert.match(await awsFails(['ec2', 'describe-images', '--image-ids', emi]), /InvalidAMIID\.NotFound/);
  assert.match(await awsFails(['ec2', 'run-instances', '--image-id', emi, '--instance-type', 't1.micro']), /InvalidAMIID\.NotFound/);
  assert.match(await awsFails(['ec2', 'deregister-image', '--image-id', emi]), /InvalidAMIID\.NotFound/);
  const again = (await aws(['ec2', 'register-image', '--name', `e2e-guest-${tag}`, '--kernel-id', eki, '--ramdisk-id', eri])).ImageId;
  assert.notEqual(again, emi);
  await aws(['ec2', 'deregister-image', '--image-id', again]);
  assert.equal(adminAccount.length, 12);
});
