// The metadata HTTP handler in-process on 127.0.0.1:0 against documents in a temp dir.
// The caller's (network, source address) is forged with the handler's peerOf hook:
// header x-test-peer: <vni>/<ip>.
//
//   node --import tsx --test test/metadata/handler.test.ts
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { API_VERSIONS, createMetadataHandler, createMetadataServer, errorBody, interfaceVniResolver, type Peer } from '../../metadata/handler';
import { loadSecret } from '../../metadata/server';
import {
  listInstanceMetadata,
  putInstanceMetadata,
  removeInstanceMetadata,
  syncInstanceMetadata,
  type InstanceMetadataDoc,
} from '../../activities/network/metadata';

const VNI = 77;
const IP = '10.251.7.50';
const IP2 = '10.251.7.51';
const SCRIPT = '#!/bin/sh\necho hello\n';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample test@key';

const doc: InstanceMetadataDoc = {
  instanceId: 'i-0123abcd',
  imageId: 'emi-0badc0de',
  instanceType: 'm1.small',
  reservationId: 'r-00c0ffee',
  launchIndex: 2,
  accountId: '000000000042',
  region: 'local',
  zone: 'local-1a',
  privateIp: IP,
  publicIp: '203.0.113.7',
  mac: 'd0:0d:01:02:03:04',
  hostname: 'ip-10-251-7-50',
  securityGroups: ['default', 'web'],
  userData: Buffer.from(SCRIPT).toString('base64'),
  keyName: 'mykey',
  openSshKey: KEY,
  subnetCidr: '10.251.7.0/24',
  launchedAt: '2024-05-06T07:08:09.123Z',
};
const doc2: InstanceMetadataDoc = {
  ...doc, instanceId: 'i-0000beef', privateIp: IP2, publicIp: undefined, userData: undefined, keyName: undefined, openSshKey: undefined,
  hostname: 'ip-10-251-7-51', launchIndex: 0,
};

let tmp = '';
let server: http.Server;
let base = '';
let clock = Date.now();

interface Res { status: number; body: string; headers: http.IncomingHttpHeaders }
function req(method: string, p: string, headers: Record<string, string> = {}, peer: string | null = `${VNI}/${IP}`): Promise<Res> {
  return new Promise((resolve, reject) => {
    const r = http.request(`${base}${p}`, { method, headers: { ...(peer ? { 'x-test-peer': peer } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
    });
    r.on('error', reject);
    r.end();
  });
}
const get = (p: string, h: Record<string, string> = {}, peer?: string | null) => req('GET', p, h, peer);
async function token(ttl = '21600', peer?: string): Promise<string> {
  const r = await req('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': ttl }, peer);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.headers['x-aws-ec2-metadata-token-ttl-seconds'], ttl);
  return r.body;
}

describe('metadata handler (in-process)', () => {
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'eutm-unit-'));
    await putInstanceMetadata(tmp, VNI, IP, doc);
    await putInstanceMetadata(tmp, VNI, IP2, doc2);
    const secret = await loadSecret(path.join(tmp, 'metadata'));
    const peerOf = (r: http.IncomingMessage): Peer | null => {
      const h = r.headers['x-test-peer'];
      if (typeof h !== 'string') return null;
      const [vni, ip] = h.split('/');
      return { vni: Number(vni), ip: ip! };
    };
    server = createMetadataServer({ stateDir: tmp, secret, now: () => clock, peerOf });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('IMDSv1: every meta-data leaf', async () => {
    const want: Record<string, string> = {
      'instance-id': 'i-0123abcd',
      'ami-id': 'emi-0badc0de',
      'instance-type': 'm1.small',
      'local-ipv4': IP,
      'public-ipv4': '203.0.113.7',
      mac: 'd0:0d:01:02:03:04',
      hostname: 'ip-10-251-7-50',
      'local-hostname': 'ip-10-251-7-50',
      'placement/availability-zone': 'local-1a',
      'placement/region': 'local',
      'security-groups': 'default\nweb',
      'public-keys/0/openssh-key': KEY,
      'reservation-id': 'r-00c0ffee',
      'ami-launch-index': '2',
      'network/interfaces/macs/d0:0d:01:02:03:04/local-ipv4s': IP,
      'network/interfaces/macs/d0:0d:01:02:03:04/subnet-ipv4-cidr-block': '10.251.7.0/24',
      'network/interfaces/macs/d0:0d:01:02:03:04/device-number': '0',
    };
    for (const [k, v] of Object.entries(want)) {
      const r = await get(`/latest/meta-data/${k}`);
      assert.equal(r.status, 200, k);
      assert.equal(r.body, v, k);
      assert.match(String(r.headers['content-type']), /^text\/plain/, k);
    }
  });

  it('directory listings as AWS', async () => {
    const md = await get('/latest/meta-data/');
    assert.equal(md.status, 200);
    const keys = md.body.split('\n');
    for (const k of ['ami-id', 'ami-launch-index', 'hostname', 'instance-id', 'instance-type', 'local-hostname', 'local-ipv4', 'mac',
      'placement/', 'public-ipv4', 'public-keys/', 'reservation-id', 'security-groups', 'network/', 'block-device-mapping/'])
      assert.ok(keys.includes(k), `meta-data/ lists ${k}: ${md.body}`);
    assert.ok(!md.body.endsWith('\n'));
    assert.equal((await get('/latest/meta-data')).body, md.body, 'no trailing slash: same listing');
    assert.equal((await get('/latest/meta-data/public-keys/')).body, '0=mykey');
    assert.equal((await get('/latest/meta-data/public-keys/0/')).body, 'openssh-key');
    assert.equal((await get('/latest/meta-data/placement/')).body, 'availability-zone\nregion');
    assert.equal((await get('/latest/meta-data/network/interfaces/macs/')).body, 'd0:0d:01:02:03:04/');
    assert.equal((await get('/latest/')).body, 'dynamic\nmeta-data\nuser-data');
    assert.equal((await get('/latest/dynamic/')).body, 'instance-identity/');
    assert.equal((await get('/latest/dynamic/instance-identity/')).body, 'document');
    const root = await get('/');
    assert.equal(root.body, API_VERSIONS.join('\n'));
    assert.ok(root.body.split('\n').includes('2009-04-04') && root.body.endsWith('\nlatest'));
  });

  it('dated prefixes cloud-init probes', async () => {
    for (const v of ['2009-04-04', '2021-01-03', '2021-03-23', '2018-09-24', '1.0']) {
      assert.equal((await get(`/${v}/meta-data/instance-id`)).body, 'i-0123abcd', v);
      assert.equal((await get(`/${v}/meta-data/`)).status, 200, v);
      assert.equal((await get(`/${v}/user-data`)).body, SCRIPT, v);
    }
    assert.equal((await get('/2099-01-01/meta-data/instance-id')).status, 404);
  });

  it('user-data (raw bytes), and 404 when none', async () => {
    const r = await get('/latest/user-data');
    assert.equal(r.status, 200);
    assert.equal(r.body, SCRIPT);
    assert.equal(r.headers['content-type'], 'application/octet-stream');
    const none = await get('/latest/user-data', {}, `${VNI}/${IP2}`);
    assert.equal(none.status, 404);
    assert.equal(none.body, errorBody(404));
    assert.equal((await get('/latest/', {}, `${VNI}/${IP2}`)).body, 'dynamic\nmeta-data');
    // and no public-ipv4 / public-keys for it
    const md2 = (await get('/latest/meta-data/', {}, `${VNI}/${IP2}`)).body.split('\n');
    assert.ok(!md2.includes('public-ipv4') && !md2.includes('public-keys/'));
    assert.equal((await get('/latest/meta-data/public-keys/', {}, `${VNI}/${IP2}`)).status, 404);
    assert.equal((await get('/latest/meta-data/instance-id', {}, `${VNI}/${IP2}`)).body, 'i-0000beef');
    // binary user data survives byte for byte
    const bin = randomBytes(300);
    await putInstanceMetadata(tmp, VNI, IP2, { ...doc2, userData: bin.toString('base64') });
    const rb = await new Promise<Buffer>((resolve, reject) => {
      http.get(`${base}/latest/user-data`, { headers: { 'x-test-peer': `${VNI}/${IP2}` } }, (res) => {
        const c: Buffer[] = [];
        res.on('data', (d) => c.push(d));
        res.on('end', () => resolve(Buffer.concat(c)));
      }).on('error', reject);
    });
    assert.ok(rb.equals(bin));
    await putInstanceMetadata(tmp, VNI, IP2, doc2);
  });

  it('instance identity document', async () => {
    const r = await get('/latest/dynamic/instance-identity/document');
    assert.equal(r.status, 200);
    assert.match(r.body, /^\{\n  "accountId" : "000000000042",\n/);
    const d = JSON.parse(r.body);
    assert.deepEqual(
      { ...d },
      {
        accountId: '000000000042', architecture: 'x86_64', availabilityZone: 'local-1a', billingProducts: null,
        devpayProductCodes: null, marketplaceProductCodes: null, imageId: 'emi-0badc0de', instanceId: 'i-0123abcd',
        instanceType: 'm1.small', kernelId: null, pendingTime: '2024-05-06T07:08:09Z', privateIp: IP, ramdiskId: null,
        region: 'local', version: '2017-09-30',
      },
    );
  });

  it('unknown paths, unknown callers, wrong methods', async () => {
    for (const p of ['/latest/meta-data/nope', '/latest/meta-data/instance-id/x', '/nope', '/latest/meta-data/public-keys/1/openssh-key',
      '/latest/meta-data/__proto__', '/latest/meta-data/constructor', '/latest/meta-data/../../etc/passwd']) {
      const r = await get(p);
      assert.equal(r.status, 404, p);
      assert.equal(r.body, errorBody(404), p);
      assert.match(String(r.headers['content-type']), /text\/html/);
    }
    assert.match(errorBody(404), /<title>404 - Not Found<\/title>/);
    assert.equal((await get('/latest/meta-data/instance-id', {}, `${VNI}/10.251.7.99`)).status, 404, 'no document for that IP');
    assert.equal((await get('/latest/meta-data/instance-id', {}, `78/${IP}`)).status, 404, 'same IP, other network');
    assert.equal((await get('/latest/meta-data/instance-id', {}, null)).status, 404, 'caller not on a guest network');
    assert.equal((await req('POST', '/latest/meta-data/instance-id')).status, 405);
    assert.equal((await req('PUT', '/latest/meta-data/instance-id')).status, 405);
    assert.equal((await req('GET', '/latest/api/token')).status, 405);
    const head = await req('HEAD', '/latest/meta-data/instance-id');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(head.headers['content-length'], String('i-0123abcd'.length));
    assert.equal((await get('/latest/meta-data/instance-id?x=1')).body, 'i-0123abcd');
  });

  it('IMDSv2: token PUT rules', async () => {
    assert.equal((await req('PUT', '/latest/api/token')).status, 400, 'no TTL header');
    for (const bad of ['0', '21601', '-1', 'abc', '1.5', ''])
      assert.equal((await req('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': bad })).status, 400, `ttl ${bad}`);
    for (const ok of ['1', '21600']) await token(ok);
    const fwd = await req('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '60', 'X-Forwarded-For': '10.0.0.9' });
    assert.equal(fwd.status, 403);
    assert.equal(fwd.body, errorBody(403));
    assert.equal((await req('PUT', '/latest/api/token/', { 'X-aws-ec2-metadata-token-ttl-seconds': '60' })).status, 200, 'trailing slash');
    assert.equal((await req('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '60' }, `${VNI}/10.251.7.99`)).status, 404,
      'unknown caller gets no token');
  });

  it('IMDSv2: token use, expiry, binding to source IP and network', async () => {
    const t = await token('60');
    assert.match(t, /^[A-Za-z0-9_-]+$/);
    const ok = await get('/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': t });
    assert.equal(ok.status, 200);
    assert.equal(ok.body, 'i-0123abcd');
    assert.equal(ok.headers['x-aws-ec2-metadata-token-ttl-seconds'], '60');
    assert.equal((await get('/latest/user-data', { 'X-aws-ec2-metadata-token': t })).body, SCRIPT);
    assert.equal((await get('/latest/meta-data/nope', { 'X-aws-ec2-metadata-token': t })).status, 404);

    // wrong IP / wrong network: 401
    const other = await get('/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': t }, `${VNI}/${IP2}`);
    assert.equal(other.status, 401);
    assert.equal(other.body, errorBody(401));
    assert.equal((await get('/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': t }, `78/${IP}`)).status, 401);
    // tampered / garbage / empty
    const flipped = t.slice(0, -2) + (t.at(-2) === 'A' ? 'B' : 'A') + t.at(-1);
    for (const bad of [flipped, 'garbage', '', 'x'.repeat(500), t + 'AA'])
      assert.equal((await get('/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': bad })).status, 401, bad.slice(0, 20));

    // expiry (clock moved), TTL 1
    const t1 = await token('1');
    assert.equal((await get('/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': t1 })).status, 200);
    clock += 999;
    assert.equal((await get('/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': t1 })).status, 200);
    clock += 2;
    assert.equal((await get('/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': t1 })).status, 401, 'expired');
    assert.equal((await get('/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': t })).status, 200, '60 s token still good');
    clock += 60_000;
    assert.equal((await get('/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': t })).status, 401);
    // IMDSv1 stays allowed (httpTokens optional)
    assert.equal((await get('/latest/meta-data/instance-id')).status, 200);
  });

  it('tokens survive a restart (secret kept in the state dir), not a new secret', async () => {
    const t = await token('600');
    const again = await loadSecret(path.join(tmp, 'metadata'));
    const h2 = createMetadataHandler({ stateDir: tmp, secret: again, now: () => clock, peerOf: () => ({ vni: VNI, ip: IP }) });
    const h3 = createMetadataHandler({ stateDir: tmp, secret: randomBytes(32), now: () => clock, peerOf: () => ({ vni: VNI, ip: IP }) });
    for (const [h, status] of [[h2, 200], [h3, 401]] as const) {
      const s = http.createServer(h);
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      const r = await new Promise<number>((resolve, reject) => {
        http.get(`http://127.0.0.1:${(s.address() as AddressInfo).port}/latest/meta-data/instance-id`, { headers: { 'X-aws-ec2-metadata-token': t } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        }).on('error', reject);
      });
      await new Promise((r) => s.close(r));
      assert.equal(r, status);
    }
    const st = await fs.stat(path.join(tmp, 'metadata', 'token.key'));
    assert.equal(st.mode & 0o777, 0o600);
  });

  it('documents: atomic put, validation, remove, list, sync', async () => {
    await assert.rejects(putInstanceMetadata(tmp, VNI, IP2, doc), /privateIp/);
    await assert.rejects(putInstanceMetadata(tmp, VNI, 'x/../../y', doc), /bad IPv4/);
    await assert.rejects(putInstanceMetadata(tmp, 0, IP, doc), /bad VNI/);
    await assert.rejects(putInstanceMetadata(tmp, VNI, IP, { ...doc, userData: 'not base64!' }), /userData/);
    await assert.rejects(putInstanceMetadata(tmp, VNI, IP, { ...doc, instanceId: 'bogus' }), /instanceId/);
    const f = path.join(tmp, 'metadata', String(VNI), `${IP}.json`);
    assert.equal((await fs.stat(f)).mode & 0o777, 0o600);
    assert.deepEqual(Object.keys(await listInstanceMetadata(tmp, VNI)).sort(), [IP, IP2]);
    await removeInstanceMetadata(tmp, VNI, IP2);
    await removeInstanceMetadata(tmp, VNI, IP2); // idempotent
    assert.equal((await get('/latest/meta-data/instance-id', {}, `${VNI}/${IP2}`)).status, 404);
    const doc3 = { ...doc2, instanceId: 'i-00000003', privateIp: '10.251.7.52' };
    assert.deepEqual(await syncInstanceMetadata(tmp, VNI, [doc, doc3]), { written: 1, removed: 0 });
    assert.deepEqual(await syncInstanceMetadata(tmp, VNI, [doc3]), { written: 0, removed: 1 });
    assert.deepEqual(Object.keys(await listInstanceMetadata(tmp, VNI)), ['10.251.7.52']);
    assert.equal((await get('/latest/meta-data/instance-id', {}, `${VNI}/10.251.7.52`)).body, 'i-00000003');
    assert.equal((await get('/latest/meta-data/instance-id')).status, 404, 'removed by sync');
  });

  it('answers a half-closed request (printf ... | nc, as the busybox guest does)', async () => {
    const port = (server.address() as AddressInfo).port;
    const raw = await new Promise<string>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.end(`PUT /latest/api/token HTTP/1.0\r\nx-test-peer: ${VNI}/10.251.7.52\r\nX-aws-ec2-metadata-token-ttl-seconds: 30\r\n\r\n`);
      });
      let buf = '';
      c.on('data', (d) => (buf += d));
      c.on('end', () => resolve(buf));
      c.on('error', reject);
    });
    assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
    const tok = raw.split('\r\n\r\n')[1]!;
    assert.equal((await get('/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': tok }, `${VNI}/10.251.7.52`)).body, 'i-00000003');
  });

  it('default peer resolution maps only vb<vni> interface addresses', () => {
    const vniOf = interfaceVniResolver();
    assert.equal(vniOf('127.0.0.1'), null, 'lo is no guest network');
  });
});
