// After the database is up: schema, the zone and its instance types, the
// admin account, the test guest image; then `.cloud/eucarc`. Idempotent.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { config, defaultInstanceTypes, paths } from '../lib/config';
import { migrate } from '../db/migrate';
import { closePool, getPool } from '../db/pool';
import { createAccount } from '../db/accounts';
import { upsertZone, upsertInstanceTypes, registerImage, findImageByName } from '../db/catalog';
import { planHosts } from '../activities/network/hosts';
import { putObjectFromFile, statObject } from '../walrus/objects';
import { cloudKeyPaths } from '../walrus/bundles';
import { imagesBucketName } from '../walrus/reserved';
import { execFileSync } from 'node:child_process';

async function sha256(file: string) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

async function main() {
  const applied = await migrate();
  if (applied.length) console.log(`    schema: applied ${applied.join(', ')}`);
  const plan = planHosts(config.prefix, config.underlayCidr, config.zone, config.nodes);
  await upsertZone({ name: config.zone, region: config.region, subnet: config.zoneSubnet, vni: config.zoneVni, policy: config.schedulingPolicy, ccUnderlayIp: plan.cc.underlayIp });
  await upsertInstanceTypes(defaultInstanceTypes);

  // The admin account and its key are made once and kept in .cloud/admin.json.
  const credFile = path.join(config.home, 'admin.json');
  let admin: { accountId: string; accessKeyId: string; secretAccessKey: string };
  const [known] = fs.existsSync(credFile)
    ? await getPool().query<any[]>('SELECT 1 FROM access_keys WHERE access_key_id = ?', [JSON.parse(fs.readFileSync(credFile, 'utf8')).accessKeyId])
    : [[]];
  if (known.length) admin = JSON.parse(fs.readFileSync(credFile, 'utf8'));
  else {
    admin = await createAccount('admin');
    fs.writeFileSync(credFile, JSON.stringify(admin, null, 2), { mode: 0o600 });
  }

  // The test guest, uploaded through Walrus into a bucket of the admin account and
  // registered from there as a public EKI + ERI and the EMI that boots them. The S3
  // listener is not up yet, so this goes through the walrus/ engine (same data dir).
  // Should Walrus fail, the EMI is registered from the local files (the old way).
  const imgDir = path.join(paths.imagesDir(), 'test-guest');
  let imageId: string | undefined;
  if (fs.existsSync(path.join(imgDir, 'vmlinuz'))) {
    const existing = await findImageByName(admin.accountId, 'test-guest');
    imageId = existing?.id ?? `emi-${crypto.randomBytes(4).toString('hex')}`;
    const description = 'Debian cloud kernel + busybox initramfs (guest-image/build.sh)';
    try {
      const bucket = imagesBucketName(admin.accountId);
      const parts: Record<'kernel' | 'ramdisk', string> = { kernel: '', ramdisk: '' };
      for (const [type, file, name, prefix] of [['kernel', 'vmlinuz', 'vmlinuz (test-guest)', 'eki'], ['ramdisk', 'initrd.img', 'initrd (test-guest)', 'eri']] as const) {
        const key = `test-guest/${file}`;
        // Upload only what changed (a re-run of `up` beside a running cloud leaves the objects be).
        const local = path.join(imgDir, file);
        const md5 = crypto.createHash('md5').update(fs.readFileSync(local)).digest('hex');
        const have = await statObject(bucket, key);
        const put = have && have.etag === md5 && have.ownerId === admin.accountId
          ? { size: have.size, sha256: await sha256(local) }
          : await putObjectFromFile(admin.accountId, bucket, key, local);
        const id = (await findImageByName(admin.accountId, name))?.id ?? `${prefix}-${crypto.randomBytes(4).toString('hex')}`;
        await registerImage({
          id, accountId: admin.accountId, name, description: `${type} of the test guest`, imageType: type,
          kernelPath: null, ramdiskPath: null, kernelSha256: null, ramdiskSha256: null, architecture: 'x86_64', isPublic: true,
          imageLocation: `${bucket}/${key}`, objectBucket: bucket, objectKey: key, sizeBytes: put.size, sha256: put.sha256,
        });
        parts[type] = id;
      }
      await registerImage({
        id: imageId, accountId: admin.accountId, name: 'test-guest', description, imageType: 'machine',
        kernelPath: null, ramdiskPath: null, kernelSha256: null, ramdiskSha256: null, architecture: 'x86_64', isPublic: true,
        kernelId: parts.kernel, ramdiskId: parts.ramdisk,
      });
      console.log(`test guest in Walrus: s3://${bucket}/test-guest/ -> ${parts.kernel}, ${parts.ramdisk}, ${imageId}`);
    } catch (e) {
      console.log(`WARNING: could not store the test guest in Walrus (${(e as Error).message}); registering it from local files`);
      await registerImage({
        id: imageId, accountId: admin.accountId, name: 'test-guest', description,
        imageType: 'machine', kernelPath: path.join(imgDir, 'vmlinuz'), ramdiskPath: path.join(imgDir, 'initrd.img'),
        kernelSha256: await sha256(path.join(imgDir, 'vmlinuz')), ramdiskSha256: await sha256(path.join(imgDir, 'initrd.img')),
        architecture: 'x86_64', isPublic: true,
      });
    }
  }

  // The cloud's bundle key pair: euca-bundle-image encrypts each bundle's key for
  // this certificate (EUCALYPTUS_CERT), RegisterImage decrypts it with the key.
  const { key: cloudKey, cert: cloudCert } = cloudKeyPaths();
  if (!fs.existsSync(cloudKey) || !fs.existsSync(cloudCert)) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', cloudKey, '-out', cloudCert, '-days', '3650',
      '-subj', `/CN=eucatemporal cloud ${config.region}`], { stdio: 'ignore' });
    fs.chmodSync(cloudKey, 0o600);
  }

  const endpoint = `http://${config.apiHost}:${config.apiPort}/`;
  const uiPort = Number(config.temporalAddress.split(':')[1] ?? 7233) + 1000;
  const eucarc = [
    '# Source me: credentials and endpoints of the admin account of this cloud.',
    `export AWS_ACCESS_KEY_ID=${admin.accessKeyId}`,
    `export AWS_SECRET_ACCESS_KEY=${admin.secretAccessKey}`,
    `export AWS_DEFAULT_REGION=${config.region}`,
    `export EC2_URL=${endpoint}`,
    `export AWS_ENDPOINT_URL_EC2=${endpoint}`,
    // STS and IAM answer on the EC2 listener (the router tells them apart by the signature's scope).
    `export AWS_ENDPOINT_URL_STS=${endpoint}`, `export AWS_ENDPOINT_URL_IAM=${endpoint}`,
    `export S3_URL=http://${config.s3Host}:${config.s3Port}/`, `export AWS_ENDPOINT_URL_S3=http://${config.s3Host}:${config.s3Port}/`,
    // virtual-host style by name (README, "Walrus by DNS name"): the domain Walrus answers for
    ...(config.s3Domain
      ? [`export EUCA_S3_DOMAIN=${config.s3Domain}`, `export S3_DOMAIN_URL=http://s3.${config.s3Domain}:${config.s3Port}/`]
      : ['# EUCA_S3_DOMAIN not set: virtual-host style only as <bucket>.s3.localhost']),
    `export EUCA_ACCOUNT_ID=${admin.accountId}`,
    `export EUCALYPTUS_CERT=${cloudCert}`, `export EC2_ACCOUNT_NUMBER=${admin.accountId}`,
    imageId ? `export EUCA_TEST_IMAGE=${imageId}` : '# no test image yet',
    `export TEMPORAL_UI=http://127.0.0.1:${uiPort}`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(config.home, 'eucarc'), eucarc, { mode: 0o600 });
  console.log(JSON.stringify({ accountId: admin.accountId, imageId }));
  await closePool();
}
main().catch((e) => { console.error(e); process.exit(1); });
