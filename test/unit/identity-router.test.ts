// STS and IAM on the EC2 listener, in process: the router picks the service
// by the SigV4 scope, the Query-protocol XML (results, errors) parses with
// boto3, and a request scoped to ec2 reaches EC2 whatever its Action says.
// Handlers are stubs built from the real IAM pieces (User shape, ARNs, errors);
// the e2e test (test/e2e/identity.test.ts) runs the real ones on the database.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { promisify } from 'node:util';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { XMLParser } from 'fast-xml-parser';
import pino from 'pino';
import type { Credential } from '../../api/auth/sigv4';
import { ec2Router, type Ec2ActionTable, type Ec2Context } from '../../api/ec2/router';
import { createApiApp } from '../../api/server';
import { checkName, iamErrors } from '../../api/iam/errors';
import { rootArn, userArn } from '../../api/iam/principal';
import { userShape } from '../../api/iam/users';
import type { IamUserRow } from '../../db/iamUsers';

const ACCOUNT = '123456789012';
const CRED: Credential = { accessKeyId: 'AKIDIDENTITY00000001', secretAccessKey: 'secret/with+chars=0000000000000000000000', accountId: ACCOUNT, userName: 'admin' };
const ROOT: Credential = { accessKeyId: 'AKIDIDENTITYROOT0001', secretAccessKey: 'rootsecret', accountId: ACCOUNT };
const USERS: IamUserRow[] = [
  { accountId: ACCOUNT, userName: 'admin', userId: 'AIDAEXAMPLEADMIN0001', path: '/', createdAt: new Date('2026-01-02T03:04:05.678Z') },
  { accountId: ACCOUNT, userName: 'Bob', userId: 'AIDAEXAMPLEBOB000001', path: '/ops/', createdAt: new Date('2026-02-03T04:05:06.000Z') },
];
const REGION = 'test-1';
const log = pino({ level: 'silent' });
const seen: Ec2Context[] = [];

const find = (name: string) => USERS.find((u) => u.userName.toLowerCase() === name.toLowerCase());
const sts: Ec2ActionTable = {
  GetCallerIdentity: {
    handler: async (ctx) => {
      seen.push(ctx);
      if (!ctx.userName) return { UserId: ctx.accountId, Account: ctx.accountId, Arn: rootArn(ctx.accountId) };
      const u = find(ctx.userName)!;
      return { UserId: u.userId, Account: ctx.accountId, Arn: userArn(u) };
    },
  },
};
const iam: Ec2ActionTable = {
  GetUser: {
    handler: async (ctx) => {
      seen.push(ctx);
      const name = (ctx.input['UserName'] as string | undefined) ?? ctx.userName!;
      checkName(name, 'userName', 128);
      const u = find(name);
      if (!u) throw iamErrors.noSuchEntity('user', name);
      return { User: userShape(u) };
    },
  },
};

let server: Server;
let endpoint: string;
let host: string;

before(async () => {
  const app = createApiApp({
    ec2: ec2Router({
      actions: {},
      services: { sts, iam },
      strictOutput: true,
      lookupCredential: async (id) => [CRED, ROOT].find((c) => c.accessKeyId === id),
      region: REGION,
      log,
    }),
    health: (_req, res) => void res.json({ ok: true }),
    log,
  });
  await new Promise<void>((resolve) => { server = app.listen(0, '127.0.0.1', () => resolve()); });
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  endpoint = `http://${host}`;
});
after(async () => { await new Promise<void>((resolve) => server.close(() => resolve())); });

const parser = new XMLParser({ parseTagValue: false, ignoreAttributes: false });

async function signed(service: string, body: string, cred: Pick<Credential, 'accessKeyId' | 'secretAccessKey'> = CRED) {
  const signer = new SignatureV4({ credentials: cred, region: REGION, service, sha256: Sha256 });
  const req = new HttpRequest({
    method: 'POST', protocol: 'http:', hostname: '127.0.0.1', path: '/',
    headers: { host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body,
  });
  const s = (await signer.sign(req)) as HttpRequest;
  const { host: _h, ...headers } = s.headers;
  void _h;
  const res = await fetch(`${endpoint}/`, { method: 'POST', headers, body });
  return { status: res.status, doc: parser.parse(await res.text()), requestId: res.headers.get('x-amzn-requestid') };
}

describe('STS and IAM on the EC2 listener', () => {
  test('GetCallerIdentity: Query-protocol XML with the result wrapper and request id', async () => {
    const { status, doc, requestId } = await signed('sts', 'Action=GetCallerIdentity&Version=2011-06-15');
    assert.equal(status, 200);
    const r = doc.GetCallerIdentityResponse;
    assert.equal(r['@_xmlns'], 'https://sts.amazonaws.com/doc/2011-06-15/');
    assert.deepEqual(r.GetCallerIdentityResult, { UserId: 'AIDAEXAMPLEADMIN0001', Account: ACCOUNT, Arn: `arn:aws:iam::${ACCOUNT}:user/admin` });
    assert.equal(r.ResponseMetadata.RequestId, requestId);
    assert.equal(seen.at(-1)!.service, 'sts');
  });

  test('GetUser: the User shape; NoSuchEntity and ValidationError as IAM error documents', async () => {
    const ok = await signed('iam', 'Action=GetUser&Version=2010-05-08&UserName=bob');
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.doc.GetUserResponse.GetUserResult.User, {
      Path: '/ops/', UserName: 'Bob', UserId: 'AIDAEXAMPLEBOB000001', Arn: `arn:aws:iam::${ACCOUNT}:user/ops/Bob`, CreateDate: '2026-02-03T04:05:06.000Z',
    });
    assert.equal(seen.at(-1)!.input['UserName'], 'bob');
    const missing = await signed('iam', 'Action=GetUser&Version=2010-05-08&UserName=nobody');
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.doc.ErrorResponse.Error, { Type: 'Sender', Code: 'NoSuchEntity', Message: 'The user with name nobody cannot be found.' });
    assert.equal(missing.doc.ErrorResponse.RequestId, missing.requestId);
    const bad = await signed('iam', 'Action=GetUser&Version=2010-05-08&UserName=a%20b');
    assert.equal(bad.status, 400);
    assert.equal(bad.doc.ErrorResponse.Error.Code, 'ValidationError');
    const unknown = await signed('iam', 'Action=GetUser&Version=2010-05-08&Bogus=1');
    assert.equal(unknown.doc.ErrorResponse.Error.Code, 'UnknownParameter');
    const version = await signed('iam', 'Action=GetUser&Version=2016-11-15');
    assert.equal(version.doc.ErrorResponse.Error.Code, 'NoSuchVersion');
  });

  test('scope decides the service: GetCallerIdentity signed for ec2 is an EC2 InvalidAction', async () => {
    const { status, doc } = await signed('ec2', 'Action=GetCallerIdentity&Version=2011-06-15');
    assert.equal(status, 400);
    assert.equal(doc.Response.Errors.Error.Code, 'InvalidAction');
    const iamOnSts = await signed('sts', 'Action=GetUser&Version=2010-05-08');
    assert.equal(iamOnSts.doc.ErrorResponse.Error.Code, 'InvalidAction');
  });

  test('authentication failures in STS terms', async () => {
    const wrong = await signed('sts', 'Action=GetCallerIdentity&Version=2011-06-15', { accessKeyId: CRED.accessKeyId, secretAccessKey: 'wrong' });
    assert.equal(wrong.status, 403);
    assert.equal(wrong.doc.ErrorResponse.Error.Code, 'SignatureDoesNotMatch');
    const unknown = await signed('sts', 'Action=GetCallerIdentity&Version=2011-06-15', { accessKeyId: 'AKIDNOSUCHKEY0000000', secretAccessKey: 'x' });
    assert.equal(unknown.status, 403);
    assert.equal(unknown.doc.ErrorResponse.Error.Code, 'InvalidClientTokenId');
    const res = await fetch(`${endpoint}/`, { method: 'POST', body: 'Action=GetCallerIdentity&Version=2011-06-15', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(res.status, 401); // no signature at all: no scope, so EC2 answers (AuthFailure)
  });

  test('boto3 parses STS and IAM answers and errors', async (t) => {
    const exec = promisify(execFile);
    try { await exec('python3', ['-c', 'import boto3']); } catch { t.skip('python3/boto3 not available'); return; }
    const script = `
import boto3, json, sys
url, key, secret, root_key, root_secret = sys.argv[1:6]
def mk(svc, k=key, s=secret):
    return boto3.client(svc, endpoint_url=url, region_name='${REGION}', aws_access_key_id=k, aws_secret_access_key=s)
def err(f):
    try:
        f()
    except Exception as e:
        return [e.response['Error']['Code'], e.response['Error'].get('Message'), e.response['ResponseMetadata']['HTTPStatusCode']]
out = {}
me = mk('sts').get_caller_identity()
out['me'] = {k: me[k] for k in ('UserId', 'Account', 'Arn')}
out['root'] = mk('sts', root_key, root_secret).get_caller_identity()['Arn']
u = mk('iam').get_user()['User']
out['user'] = [u['UserName'], u['UserId'], u['Arn'], u['Path'], u['CreateDate'].isoformat()]
out['bob'] = mk('iam').get_user(UserName='BOB')['User']['Arn']
out['missing'] = err(lambda: mk('iam').get_user(UserName='nobody'))
out['badsig'] = err(lambda: mk('sts', key, 'wrong').get_caller_identity())
out['nokey'] = err(lambda: mk('sts', 'AKIDNOSUCHKEY0000000', 'x').get_caller_identity())
print(json.dumps(out))
`;
    const { stdout } = await exec('python3', ['-c', script, endpoint, CRED.accessKeyId, CRED.secretAccessKey, ROOT.accessKeyId, ROOT.secretAccessKey], {
      env: { ...process.env, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_MAX_ATTEMPTS: '1' },
      timeout: 60_000,
    });
    const out = JSON.parse(stdout);
    assert.deepEqual(out.me, { UserId: 'AIDAEXAMPLEADMIN0001', Account: ACCOUNT, Arn: `arn:aws:iam::${ACCOUNT}:user/admin` });
    assert.equal(out.root, `arn:aws:iam::${ACCOUNT}:root`);
    assert.deepEqual(out.user, ['admin', 'AIDAEXAMPLEADMIN0001', `arn:aws:iam::${ACCOUNT}:user/admin`, '/', '2026-01-02T03:04:05.678000+00:00']);
    assert.equal(out.bob, `arn:aws:iam::${ACCOUNT}:user/ops/Bob`);
    assert.deepEqual(out.missing, ['NoSuchEntity', 'The user with name nobody cannot be found.', 404]);
    assert.equal(out.badsig[0], 'SignatureDoesNotMatch');
    assert.equal(out.badsig[2], 403);
    assert.deepEqual([out.nokey[0], out.nokey[2]], ['InvalidClientTokenId', 403]);
  });
});
