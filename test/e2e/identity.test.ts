// STS GetCallerIdentity and IAM GetUser on the test cloud's API listener, with
// the AWS CLI (--endpoint-url, and AWS_ENDPOINT_URL_STS / _IAM from eucarc) and
// boto3: who the caller is, a second account that sees only itself, users of
// one account invisible to another, and the authentication errors in STS/IAM
// terms. The router picks the service by the signature's scope, so a request
// signed for ec2 reaches EC2 whatever its Action.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { aws, awsFails, adminCreds, closeDb, endpoint, env, home, query, region, run, stackUp, type Creds, newAccount } from './helpers';

const skip = stackUp ? false : 'the test cloud is not up (run through npm test)';
const account = env.EUCA_ACCOUNT_ID ?? '';
const STS = { Version: '2011-06-15' };
const IAM = { Version: '2010-05-08' };
const USER_ID = /^AIDA[A-Z0-9]{17}$/;

let other: Creds;
let otherAccount: string;
let alice: Creds;
let aliceName: string;

before(async () => {
  if (skip) return;
  // A second account, made the way the other e2e tests make theirs (straight into the tables).
  ({ accountId: otherAccount, creds: other } = await newAccount('identity', 'AKIT'));
  // A second user of the admin's account, known only by its access key.
  aliceName = `alice-${crypto.randomBytes(3).toString('hex')}`;
  alice = { accessKeyId: 'AKIT' + crypto.randomBytes(8).toString('hex').toUpperCase(), secretAccessKey: crypto.randomBytes(20).toString('hex') };
  await query('INSERT INTO access_keys (access_key_id, secret_key, account_id, user_name) VALUES (?, ?, ?, ?)', [alice.accessKeyId, alice.secretAccessKey, account, aliceName]);
});

after(async () => {
  if (!skip) {
    await query('DELETE FROM iam_users WHERE account_id = ? OR (account_id = ? AND user_name = ?)', [otherAccount, account, aliceName]);
    await query('DELETE FROM access_keys WHERE access_key_id IN (?, ?)', [other.accessKeyId, alice.accessKeyId]);
    await query('DELETE FROM accounts WHERE id = ?', [otherAccount]);
  }
  await closeDb();
});

/** A raw Query request signed for `service` (the scope is what the router routes by). */
async function raw(service: string, params: Record<string, string>, creds: Creds = adminCreds) {
  const url = new URL(endpoint);
  const body = new URLSearchParams(params).toString();
  const req = new HttpRequest({
    method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/',
    headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body,
  });
  const signed = (await new SignatureV4({ service, region, credentials: creds, sha256: Sha256 }).sign(req)) as HttpRequest;
  const res = await fetch(`${url.origin}/`, { method: 'POST', headers: signed.headers as Record<string, string>, body });
  const text = await res.text();
  return { status: res.status, text, code: /<Code>([^<]+)<\/Code>/.exec(text)?.[1], message: /<Message>([^<]*)<\/Message>/.exec(text)?.[1] };
}

/** The AWS CLI with no --endpoint-url: only the AWS_ENDPOINT_URL_<SERVICE> variables say where to go. */
async function awsByEnv(args: string[], endpoints: Record<string, string>, creds: Creds = adminCreds): Promise<any> {
  const e: NodeJS.ProcessEnv = { ...process.env, ...endpoints, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey, AWS_MAX_ATTEMPTS: '1' };
  delete e.AWS_ENDPOINT_URL; // the generic one would hide whether the per-service one works
  const { stdout } = await run('aws', ['--region', region, '--output', 'json', ...args], { env: e });
  return JSON.parse(stdout);
}

function eucarcEndpoints(): Record<string, string> {
  const text = fs.readFileSync(path.join(home, 'eucarc'), 'utf8');
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^export (AWS_ENDPOINT_URL_(?:EC2|STS|IAM))=(\S+)$/gm)) out[m[1]] = m[2];
  return out;
}

async function dbUserId(accountId: string, userName: string): Promise<string | undefined> {
  const rows = await query('SELECT user_id FROM iam_users WHERE account_id = ? AND user_name = ?', [accountId, userName]);
  return rows[0]?.user_id;
}

test('aws sts get-caller-identity and aws iam get-user with --endpoint-url', { skip }, async () => {
  assert.match(account, /^\d{12}$/);
  const me = await aws(['sts', 'get-caller-identity']);
  assert.equal(me.Account, account);
  assert.equal(me.Arn, `arn:aws:iam::${account}:user/admin`);
  assert.match(me.UserId, USER_ID);
  assert.equal(me.UserId, await dbUserId(account, 'admin'));
  assert.deepEqual(await aws(['sts', 'get-caller-identity']), me, 'the same id every time');

  const { User } = await aws(['iam', 'get-user']);
  assert.deepEqual({ ...User, CreateDate: undefined }, { Path: '/', UserName: 'admin', UserId: me.UserId, Arn: me.Arn, CreateDate: undefined });
  const created = new Date(User.CreateDate);
  assert.ok(!Number.isNaN(created.getTime()) && created.getTime() <= Date.now(), User.CreateDate);
  assert.deepEqual((await aws(['iam', 'get-user', '--user-name', 'admin'])).User, User);

  // Another user of the same account, by name (any case), and that user itself.
  const a = (await aws(['iam', 'get-user', '--user-name', aliceName.toUpperCase()])).User;
  assert.equal(a.UserName, aliceName);
  assert.equal(a.Arn, `arn:aws:iam::${account}:user/${aliceName}`);
  assert.match(a.UserId, USER_ID);
  assert.notEqual(a.UserId, me.UserId);
  const asAlice = await aws(['sts', 'get-caller-identity'], alice);
  assert.deepEqual(asAlice, { UserId: a.UserId, Account: account, Arn: a.Arn });
  assert.deepEqual((await aws(['iam', 'get-user'], alice)).User, a);
});

test('the AWS CLI finds STS and IAM through AWS_ENDPOINT_URL_STS / _IAM from eucarc', { skip }, async () => {
  const endpoints = eucarcEndpoints();
  for (const v of ['AWS_ENDPOINT_URL_EC2', 'AWS_ENDPOINT_URL_STS', 'AWS_ENDPOINT_URL_IAM']) {
    assert.equal(endpoints[v], endpoint, `${v} in eucarc`);
    assert.equal(env[v], endpoint, `${v} in the environment npm test sourced from eucarc`);
  }
  const me = await awsByEnv(['sts', 'get-caller-identity'], endpoints);
  assert.equal(me.Arn, `arn:aws:iam::${account}:user/admin`);
  const { User } = await awsByEnv(['iam', 'get-user'], endpoints);
  assert.equal(User.UserId, me.UserId);
  const zones = await awsByEnv(['ec2', 'describe-availability-zones'], endpoints);
  assert.ok(zones.AvailabilityZones.length >= 1);
});

test('boto3: sts.get_caller_identity() and iam.get_user()', { skip }, async () => {
  const script = `
import boto3, json, sys
name = sys.argv[1]
# no endpoint_url: botocore reads AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL_IAM
sts, iam = boto3.client('sts'), boto3.client('iam')
out = {'me': sts.get_caller_identity()}
out['me'].pop('ResponseMetadata')
u = iam.get_user()['User']
out['user'] = [u['Path'], u['UserName'], u['UserId'], u['Arn'], u['CreateDate'].isoformat()]
out['alice'] = boto3.client('iam', endpoint_url=sys.argv[2]).get_user(UserName=name)['User']['Arn']
try:
    iam.get_user(UserName='nobody-' + name)
except iam.exceptions.NoSuchEntityException as e:
    out['missing'] = [e.response['Error']['Code'], e.response['Error']['Message'], e.response['ResponseMetadata']['HTTPStatusCode']]
print(json.dumps(out))
`;
  const e: NodeJS.ProcessEnv = { ...process.env, ...eucarcEndpoints(), AWS_ACCESS_KEY_ID: adminCreds.accessKeyId, AWS_SECRET_ACCESS_KEY: adminCreds.secretAccessKey, AWS_DEFAULT_REGION: region, AWS_MAX_ATTEMPTS: '1' };
  delete e.AWS_ENDPOINT_URL;
  const { stdout } = await run('python3', ['-c', script, aliceName, endpoint], { env: e, timeout: 60_000 });
  const out = JSON.parse(stdout);
  assert.equal(out.me.Account, account);
  assert.equal(out.me.Arn, `arn:aws:iam::${account}:user/admin`);
  assert.match(out.me.UserId, USER_ID);
  assert.deepEqual(out.user.slice(0, 4), ['/', 'admin', out.me.UserId, out.me.Arn]);
  assert.match(out.user[4], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/);
  assert.equal(out.alice, `arn:aws:iam::${account}:user/${aliceName}`);
  assert.deepEqual(out.missing, ['NoSuchEntity', `The user with name nobody-${aliceName} cannot be found.`, 404]);
});

test('a second account sees only itself', { skip }, async () => {
  const mine = await aws(['sts', 'get-caller-identity']);
  const theirs = await aws(['sts', 'get-caller-identity'], other);
  assert.equal(theirs.Account, otherAccount);
  assert.equal(theirs.Arn, `arn:aws:iam::${otherAccount}:user/admin`);
  assert.match(theirs.UserId, USER_ID);
  assert.notEqual(theirs.UserId, mine.UserId);
  const { User } = await aws(['iam', 'get-user'], other);
  assert.deepEqual([User.UserName, User.UserId, User.Arn], ['admin', theirs.UserId, theirs.Arn]);
  // The admin account's other user does not exist for them, by any spelling.
  for (const name of [aliceName, aliceName.toUpperCase()]) {
    const err = await awsFails(['iam', 'get-user', '--user-name', name], other);
    assert.match(err, /NoSuchEntity/);
    assert.match(err, new RegExp(`The user with name ${name} cannot be found\\.`));
  }
  const r = await raw('iam', { Action: 'GetUser', ...IAM, UserName: aliceName }, other);
  assert.equal(r.status, 404);
  assert.ok(!r.text.includes(account), 'nothing of the other account in the answer');
});

test('authentication failures in STS and IAM terms', { skip }, async () => {
  const wrong = await raw('sts', { Action: 'GetCallerIdentity', ...STS }, { accessKeyId: adminCreds.accessKeyId, secretAccessKey: 'not-the-secret' });
  assert.equal(wrong.status, 403);
  assert.equal(wrong.code, 'SignatureDoesNotMatch');
  assert.match(wrong.text, /<ErrorResponse[^>]*><Error><Type>Sender<\/Type><Code>SignatureDoesNotMatch</);
  assert.match(await awsFails(['sts', 'get-caller-identity'], { accessKeyId: adminCreds.accessKeyId, secretAccessKey: 'not-the-secret' }), /SignatureDoesNotMatch/);

  for (const service of ['sts', 'iam']) {
    const params = service === 'sts' ? { Action: 'GetCallerIdentity', ...STS } : { Action: 'GetUser', ...IAM };
    const unknown = await raw(service, params, { accessKeyId: 'AKIDOESNOTEXIST00000', secretAccessKey: 'x' });
    assert.equal(unknown.status, 403, service);
    assert.equal(unknown.code, 'InvalidClientTokenId', service);
    assert.equal(unknown.message, 'The security token included in the request is invalid.');
  }
  assert.match(await awsFails(['iam', 'get-user'], { accessKeyId: 'AKIDOESNOTEXIST00000', secretAccessKey: 'x' }), /InvalidClientTokenId/);
});

test('GetUser of a missing user is NoSuchEntity (404)', { skip }, async () => {
  const err = await awsFails(['iam', 'get-user', '--user-name', 'no-such-user']);
  assert.match(err, /\(NoSuchEntity\).*The user with name no-such-user cannot be found\./);
  const r = await raw('iam', { Action: 'GetUser', ...IAM, UserName: 'no-such-user' });
  assert.equal(r.status, 404);
  assert.equal(r.code, 'NoSuchEntity');
  assert.equal(r.message, 'The user with name no-such-user cannot be found.');
  const bad = await raw('iam', { Action: 'GetUser', ...IAM, UserName: 'not a name' });
  assert.deepEqual([bad.status, bad.code], [400, 'ValidationError']);
});

test('an STS request signed with scope ec2 reaches EC2 (InvalidAction)', { skip }, async () => {
  const r = await raw('ec2', { Action: 'GetCallerIdentity', ...STS });
  assert.equal(r.status, 400);
  assert.equal(r.code, 'InvalidAction');
  assert.match(r.text, /<Response><Errors><Error><Code>InvalidAction<\/Code>/);
  // and the other way round: an EC2 action signed for sts is not an STS action
  const back = await raw('sts', { Action: 'DescribeInstances', Version: '2016-11-15' });
  assert.equal(back.code, 'InvalidAction');
  assert.match(back.text, /<ErrorResponse/);
});
