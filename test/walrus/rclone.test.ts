// rclone (Debian's, a Go S3 client: the Go AWS SDK's XML writes ETag quotes as &#34;)
// against Walrus: copy a tree (names with leading and trailing spaces among it), a
// multipart upload over the upload cutoff, `rclone check`, metadata beyond ASCII, delete
// (DeleteObjects from Go) and purge. scripts/lib.sh installs rclone for `npm test`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import * as S3 from '@aws-sdk/client-s3';
import { closePool } from '../../db/pool';
import { startTestS3, type TestS3 } from './helpers';

const have = spawnSync('rclone', ['version'], { encoding: 'utf8' });
let t: TestS3;
before(async () => { t = await startTestS3(); });
after(async () => { await t?.close(); await closePool(); });

function rclone(args: string[]): Promise<{ code: number; out: string }> {
  // the Go SDK reads AWS_* itself (a CA bundle it cannot use on a custom transport, keys, profiles)
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('RCLONE_')));
  return new Promise((resolve) => {
    const c = spawn('rclone', [...args, '--s3-upload-cutoff', '5M', '--s3-chunk-size', '5M', '--retries', '1', '--low-level-retries', '1', '-v'], {
      env: {
        ...env, RCLONE_CONFIG_WALRUS_TYPE: 's3', RCLONE_CONFIG_WALRUS_PROVIDER: 'Other', RCLONE_CONFIG_WALRUS_ENV_AUTH: 'false',
        RCLONE_CONFIG_WALRUS_ACCESS_KEY_ID: t.a.accessKeyId, RCLONE_CONFIG_WALRUS_SECRET_ACCESS_KEY: t.a.secretAccessKey,
        RCLONE_CONFIG_WALRUS_ENDPOINT: t.url, RCLONE_CONFIG_WALRUS_REGION: t.region, RCLONE_CONFIG_WALRUS_FORCE_PATH_STYLE: 'true',
        RCLONE_CONFIG: '/dev/null',
      },
    });
    let out = '';
    c.stdout.on('data', (d) => (out += d)); c.stderr.on('data', (d) => (out += d));
    c.on('exit', (code) => resolve({ code: code ?? -1, out }));
  });
}
const ok = async (...args: string[]) => { const r = await rclone(args); assert.equal(r.code, 0, `rclone ${args.join(' ')}:\n${r.out}`); return r.out; };

test('rclone: copy, multipart over the cutoff, check, metadata, delete, purge', { skip: have.status === 0 ? false : 'rclone is not installed (scripts/lib.sh installs it)' }, async () => {
  const b = `rclone-${Date.now().toString(36)}${crypto.randomBytes(2).toString('hex')}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'walrus-rclone-'));
  const c = new S3.S3Client({ endpoint: t.url, region: t.region, forcePathStyle: true, credentials: { accessKeyId: t.a.accessKeyId, secretAccessKey: t.a.secretAccessKey } });
  try {
    const tree = path.join(dir, 'tree');
    const files: Record<string, Buffer> = {
      'a.txt': Buffer.from('alpha\n'), 'sub/b.txt': Buffer.from('beta\n'), 'sub/deeper/c d.txt': Buffer.from('gamma\n'),
      ' lead.txt': Buffer.from('leading space\n'), 'trail.txt ': Buffer.from('trailing space\n'), 'ünï.txt': Buffer.from('unicode name\n'),
      'big.bin': crypto.randomBytes(12 * 1024 * 1024 + 12345),   // over the 5M cutoff: 3 parts of 5M chunks
    };
    for (const [f, data] of Object.entries(files)) { fs.mkdirSync(path.dirname(path.join(tree, f)), { recursive: true }); fs.writeFileSync(path.join(tree, f), data); }
    await ok('mkdir', `walrus:${b}`);
    const copied = await ok('copy', tree, `walrus:${b}/tree`);
    assert.doesNotMatch(copied, /InvalidPart|ERROR/, copied);
    // the big file went up in parts, and was completed (Go's &#34;-quoted ETags)
    const head = await c.send(new S3.HeadObjectCommand({ Bucket: b, Key: 'tree/big.bin' }));
    assert.match(head.ETag!, /-3"$/, head.ETag);
    assert.equal(head.ContentLength, files['big.bin'].length);
    assert.equal((await c.send(new S3.ListMultipartUploadsCommand({ Bucket: b }))).Uploads, undefined, 'no upload left behind');
    // rclone check: sizes and MD5s (rclone keeps a multipart file's MD5 in its metadata) all agree
    const checked = await ok('check', tree, `walrus:${b}/tree`);
    assert.match(checked, /0 differences found/, checked);
    assert.match(checked, new RegExp(`${Object.keys(files).length} matching files`), checked);
    const back = path.join(dir, 'back');
    await ok('copy', `walrus:${b}/tree`, back);
    for (const [f, data] of Object.entries(files)) assert.ok(fs.readFileSync(path.join(back, f)).equals(data), f);
    // metadata beyond ASCII, as Go sends it (UTF-8 bytes, signed as UTF-8)
    const one = path.join(dir, 'meta.txt'); fs.writeFileSync(one, 'with metadata');
    const meta = await rclone(['copyto', one, `walrus:${b}/meta.txt`, '-M', '--metadata-set', 'note=grüße 日本']);
    if (meta.code === 0) {
      const h = await c.send(new S3.HeadObjectCommand({ Bucket: b, Key: 'meta.txt' }));
      assert.equal(h.Metadata?.note, `=?UTF-8?B?${Buffer.from('grüße 日本').toString('base64')}?=`);
    } else assert.doesNotMatch(meta.out, /SignatureDoesNotMatch/, meta.out);   // an rclone without --metadata-set
    // delete: DeleteObjects from Go, keys with spaces at either end among them
    await ok('delete', `walrus:${b}/tree`);
    const left = await c.send(new S3.ListObjectsV2Command({ Bucket: b, Prefix: 'tree/' }));
    assert.equal(left.KeyCount, 0, JSON.stringify(left.Contents?.map((o) => o.Key)));
    await ok('purge', `walrus:${b}`);
    await assert.rejects(c.send(new S3.HeadBucketCommand({ Bucket: b })));
  } finally {
    c.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
