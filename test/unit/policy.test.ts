// The policy engine (api/auth/policy/): parsing with AWS's error messages, the
// evaluation rules (explicit deny wins, wildcards, Not* elements, principals,
// every condition operator family with IfExists / Null / set qualifiers, policy
// variables), the public-policy test, and S3's bucket-policy rules on top.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parsePolicy, PolicyError, evaluatePolicy, evaluatePolicies, isPublicPolicy, compileWildcard, parseCidr, parseIp, cidrContains,
  type ParseOptions, type Principal, type RequestContext,
} from '../../api/auth/policy';
import { parseBucketPolicy } from '../../api/s3/access';
import { S3Error } from '../../api/s3/errors';

const RES: ParseOptions = { kind: 'resource' };
const A: Principal = { account: '111111111111', arn: 'arn:aws:iam::111111111111:user/alice', canonicalId: '111111111111' };
const B: Principal = { account: '222222222222', arn: 'arn:aws:iam::222222222222:user/admin', canonicalId: '222222222222' };

const doc = (statements: object | object[], version = '2012-10-17') => JSON.stringify({ Version: version, Statement: statements });
const stmt = (over: object = {}) => ({ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/*', ...over });

function req(over: Omit<Partial<RequestContext>, 'keys'> & { keys?: Record<string, string | string[]> } = {}): RequestContext {
  const keys = over.keys ?? {};
  const lower: Record<string, string | string[]> = Object.fromEntries(Object.entries(keys).map(([k, v]) => [k.toLowerCase(), v]));
  return { principal: over.principal === undefined ? A : over.principal, action: over.action ?? 's3:GetObject', resource: over.resource ?? 'arn:aws:s3:::b/k', keys: (k) => lower[k.toLowerCase()] };
}

function decide(statements: object | object[], r: RequestContext = req(), version?: string) {
  return evaluatePolicy(parsePolicy(doc(statements, version), RES), r);
}

const policyError = (text: string, message: string | RegExp, opts: ParseOptions = RES) =>
  assert.throws(() => parsePolicy(text, opts), (e: unknown) => e instanceof PolicyError && (typeof message === 'string' ? e.message === message : message.test(e.message)), `${text} -> ${message}`);

// ------------------------------------------------------------------ parsing

test('malformed documents are refused with AWS messages', () => {
  policyError('not json', "Policies must be valid JSON and the first byte must be '{'");
  policyError('{"Version": "2012-10-17", "Statement": [', 'This policy contains invalid Json');
  policyError('{"Version": "2012-10-18", "Statement": []}', 'The policy must contain a valid version string');
  policyError('{"Version": "2012-10-17"}', 'Missing required field Statement');
  policyError('{"Version": "2012-10-17", "Statement": []}', 'Could not parse the policy: Statement is empty!');
  policyError('{"Version": "2012-10-17", "Statements": []}', 'Unknown field Statements');
  policyError(doc(stmt({ Effect: 'Allw' })), 'Invalid effect: Allw');
  policyError(doc({ Principal: '*', Action: 's3:GetObject', Resource: '*' }), 'Missing required field Effect');
  policyError(doc(stmt({ Actions: ['s3:GetObject'] })), 'Unknown field Actions');
  const noPrincipal = stmt(); delete (noPrincipal as any).Principal;
  policyError(doc(noPrincipal), 'Missing required field Principal');
  policyError(doc(stmt()), 'Policy document should not specify a principal.', { kind: 'identity' });
  policyError(doc(stmt({ Principal: { AWS: 'alice' } })), 'Invalid principal in policy');
  policyError(doc(stmt({ Principal: { Someone: '111111111111' } })), 'Invalid principal in policy');
  policyError(doc(stmt({ Principal: {} })), 'Invalid principal in policy');
  policyError(doc(stmt({ NotAction: 's3:PutObject' })), 'Policy has invalid action');
  policyError(doc(stmt({ Action: 'GetObject' })), 'Policy has invalid action');
  policyError(doc(stmt({ Action: [] })), 'Policy has invalid action');
  policyError(doc(stmt({ Resource: 'bucket/key' })), 'Policy has invalid resource');
  policyError(doc(stmt({ Condition: { StringEqual: { 'aws:username': 'x' } } })), 'Invalid Condition type : StringEqual');
  policyError(doc(stmt({ Condition: { NullIfExists: { 'aws:username': 'true' } } })), 'Invalid Condition type : NullIfExists');
  policyError(doc(stmt({ Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.300/8' } } })), 'Invalid IP address in Conditions');
  policyError(doc(stmt({ Condition: { StringEquals: { 'aws:username': { nested: 1 } } } })), /Invalid Condition value/);
  policyError(doc([stmt({ Sid: 'x' }), stmt({ Sid: 'x' })]), 'Statement IDs (SID) in a single policy must be unique');
  // what the service says through the options
  policyError(doc(stmt()), 'Policy has invalid action', { kind: 'resource', validAction: () => false });
  policyError(doc(stmt()), 'Policy has invalid resource', { kind: 'resource', validResource: () => false });
  policyError(doc(stmt({ Condition: { StringEquals: { 's3:nope': 'x' } } })), 'Policy has an invalid condition key', { kind: 'resource', checkConditionKey: () => 'Policy has an invalid condition key' });
});

test('accepted shapes: one statement or a list, values as strings, numbers or booleans, Version defaulting to 2008-10-17', () => {
  const p = parsePolicy(JSON.stringify({ Statement: stmt({ Condition: { Bool: { 'aws:SecureTransport': false }, NumericLessThan: { 's3:max-keys': 10 } } }) }), RES);
  assert.equal(p.version, '2008-10-17');
  assert.equal(p.statements.length, 1);
  assert.deepEqual(p.statements[0].conditions.map((c) => c.values), [['false'], ['10']]);
  assert.equal(parsePolicy(' \n' + doc(stmt()), RES).statements.length, 1, 'leading whitespace is fine');
});

// ------------------------------------------------------------------ evaluation

test('an applicable Deny wins over any Allow, in either order and across policies', () => {
  const allow = stmt(); const deny = stmt({ Effect: 'Deny' });
  assert.equal(decide([allow]), 'Allow');
  assert.equal(decide([allow, deny]), 'Deny');
  assert.equal(decide([deny, allow]), 'Deny');
  assert.equal(decide([stmt({ Action: 's3:PutObject' })]), 'NoMatch', 'nothing said: the implicit deny');
  const p1 = parsePolicy(doc(allow), RES), p2 = parsePolicy(doc(deny), RES);
  assert.equal(evaluatePolicies([p1, undefined, p2], req()), 'Deny');
  assert.equal(evaluatePolicies([p1], req()), 'Allow');
  assert.equal(evaluatePolicies([], req()), 'NoMatch');
});

test('actions: wildcards, case-insensitive; NotAction', () => {
  assert.equal(decide(stmt({ Action: 's3:Get*' })), 'Allow');
  assert.equal(decide(stmt({ Action: 'S3:getobject' })), 'Allow');
  assert.equal(decide(stmt({ Action: 's3:Get?bject' })), 'Allow');
  assert.equal(decide(stmt({ Action: '*' })), 'Allow');
  assert.equal(decide(stmt({ Action: ['s3:PutObject', 's3:GetObject'] })), 'Allow');
  assert.equal(decide(stmt({ Action: 's3:GetObjectAcl' })), 'NoMatch');
  assert.equal(decide(stmt({ Action: 's3:*Acl' })), 'NoMatch');
  assert.equal(decide(stmt({ Action: undefined, NotAction: 's3:PutObject' })), 'Allow');
  assert.equal(decide(stmt({ Action: undefined, NotAction: 's3:Get*' })), 'NoMatch');
});

test('resources: wildcards, case-sensitive; NotResource', () => {
  assert.equal(decide(stmt({ Resource: 'arn:aws:s3:::b/*' })), 'Allow');
  assert.equal(decide(stmt({ Resource: 'arn:aws:s3:::b/k' })), 'Allow');
  assert.equal(decide(stmt({ Resource: 'arn:aws:s3:::b/K' })), 'NoMatch');
  assert.equal(decide(stmt({ Resource: 'arn:aws:s3:::b/?' })), 'Allow');
  assert.equal(decide(stmt({ Resource: 'arn:aws:s3:::b' })), 'NoMatch');
  assert.equal(decide(stmt({ Resource: '*' })), 'Allow');
  assert.equal(decide(stmt({ Resource: ['arn:aws:s3:::other/*', 'arn:aws:s3:::b/*'] })), 'Allow');
  assert.equal(decide(stmt({ Resource: undefined, NotResource: 'arn:aws:s3:::b/secret/*' })), 'Allow');
  assert.equal(decide(stmt({ Resource: undefined, NotResource: 'arn:aws:s3:::b/*' })), 'NoMatch');
});

test('principals: *, accounts (bare and root ARN), user ARNs, CanonicalUser, Service; NotPrincipal; anonymous', () => {
  const anon = req({ principal: null });
  assert.equal(decide(stmt({ Principal: '*' }), anon), 'Allow', '* includes anonymous callers');
  assert.equal(decide(stmt({ Principal: { AWS: '*' } }), anon), 'Allow');
  assert.equal(decide(stmt({ Principal: { AWS: '111111111111' } })), 'Allow', 'an account: every principal of it');
  assert.equal(decide(stmt({ Principal: { AWS: '111111111111' } }), anon), 'NoMatch');
  assert.equal(decide(stmt({ Principal: { AWS: 'arn:aws:iam::111111111111:root' } })), 'Allow');
  assert.equal(decide(stmt({ Principal: { AWS: 'arn:aws:iam::111111111111:root' } }), req({ principal: B })), 'NoMatch');
  assert.equal(decide(stmt({ Principal: { AWS: ['arn:aws:iam::333333333333:root', 'arn:aws:iam::111111111111:user/alice'] } })), 'Allow');
  assert.equal(decide(stmt({ Principal: { AWS: 'arn:aws:iam::111111111111:user/bob' } })), 'NoMatch');
  assert.equal(decide(stmt({ Principal: { CanonicalUser: '111111111111' } })), 'Allow');
  assert.equal(decide(stmt({ Principal: { Service: 'cloudtrail.amazonaws.com' } })), 'NoMatch', 'no service calls us');
  assert.equal(decide(stmt({ Principal: undefined, NotPrincipal: { AWS: '111111111111' }, Effect: 'Deny' })), 'NoMatch');
  assert.equal(decide(stmt({ Principal: undefined, NotPrincipal: { AWS: '111111111111' }, Effect: 'Deny' }), req({ principal: B })), 'Deny');
  assert.equal(decide(stmt({ Principal: undefined, NotPrincipal: { AWS: '111111111111' }, Effect: 'Deny' }), anon), 'Deny');
  // identity policies have no principal at all
  assert.equal(evaluatePolicy(parsePolicy(doc({ Effect: 'Allow', Action: 's3:*', Resource: '*' }), { kind: 'identity' }), req({ principal: B })), 'Allow');
});

const cond = (c: object, keys: Record<string, string | string[]> = {}, version?: string) => decide(stmt({ Condition: c }), req({ keys }), version) === 'Allow';

test('string operators: case, wildcards, missing keys, IfExists, several values (OR, NOR when negated)', () => {
  assert.equal(cond({ StringEquals: { 's3:prefix': 'home/' } }, { 's3:prefix': 'home/' }), true);
  assert.equal(cond({ StringEquals: { 's3:prefix': 'home/' } }, { 's3:prefix': 'Home/' }), false);
  assert.equal(cond({ StringEquals: { 'S3:Prefix': 'home/' } }, { 's3:prefix': 'home/' }), true, 'key names are case-insensitive');
  assert.equal(cond({ StringEquals: { 's3:prefix': 'home/*' } }, { 's3:prefix': 'home/x' }), false, 'no wildcards in StringEquals');
  assert.equal(cond({ StringEqualsIgnoreCase: { 's3:prefix': 'HOME/' } }, { 's3:prefix': 'home/' }), true);
  assert.equal(cond({ StringNotEqualsIgnoreCase: { 's3:prefix': 'HOME/' } }, { 's3:prefix': 'home/' }), false);
  assert.equal(cond({ StringLike: { 's3:prefix': 'home/*' } }, { 's3:prefix': 'home/x/y' }), true);
  assert.equal(cond({ StringLike: { 's3:prefix': 'home/?' } }, { 's3:prefix': 'home/xy' }), false);
  assert.equal(cond({ StringNotLike: { 's3:prefix': 'home/*' } }, { 's3:prefix': 'tmp/' }), true);
  assert.equal(cond({ StringEquals: { 's3:prefix': ['a', 'b'] } }, { 's3:prefix': 'b' }), true, 'values OR');
  assert.equal(cond({ StringNotEquals: { 's3:prefix': ['a', 'b'] } }, { 's3:prefix': 'b' }), false, 'negated values NOR');
  assert.equal(cond({ StringNotEquals: { 's3:prefix': ['a', 'b'] } }, { 's3:prefix': 'c' }), true);
  // a key the request lacks
  assert.equal(cond({ StringEquals: { 's3:prefix': 'a' } }), false, 'positive operator, missing key: false');
  assert.equal(cond({ StringNotEquals: { 's3:prefix': 'a' } }), true, 'negated operator, missing key: true');
  assert.equal(cond({ StringEqualsIfExists: { 's3:prefix': 'a' } }), true, 'IfExists, missing key: true');
  assert.equal(cond({ StringEqualsIfExists: { 's3:prefix': 'a' } }, { 's3:prefix': 'b' }), false, 'IfExists, present key: checked');
  // AND across keys and operators
  assert.equal(cond({ StringEquals: { 's3:prefix': 'a', 's3:delimiter': '/' } }, { 's3:prefix': 'a' }), false);
  assert.equal(cond({ StringEquals: { 's3:prefix': 'a' }, StringLike: { 's3:delimiter': '*' } }, { 's3:prefix': 'a', 's3:delimiter': '/' }), true);
});

test('Null, Bool, numeric, date, binary and ARN operators', () => {
  assert.equal(cond({ Null: { 's3:x-amz-acl': 'true' } }), true, 'Null true: the key is absent');
  assert.equal(cond({ Null: { 's3:x-amz-acl': 'true' } }, { 's3:x-amz-acl': 'private' }), false);
  assert.equal(cond({ Null: { 's3:x-amz-acl': 'false' } }, { 's3:x-amz-acl': 'private' }), true);
  assert.equal(cond({ Bool: { 'aws:SecureTransport': 'false' } }, { 'aws:SecureTransport': 'false' }), true);
  assert.equal(cond({ Bool: { 'aws:SecureTransport': 'true' } }, { 'aws:SecureTransport': 'false' }), false);
  assert.equal(cond({ Bool: { 'aws:SecureTransport': true } }, { 'aws:SecureTransport': 'TRUE' }), true);
  assert.equal(cond({ NumericLessThanEquals: { 's3:max-keys': '10' } }, { 's3:max-keys': '10' }), true);
  assert.equal(cond({ NumericLessThan: { 's3:max-keys': '10' } }, { 's3:max-keys': '10' }), false);
  assert.equal(cond({ NumericGreaterThan: { 's3:max-keys': 5 } }, { 's3:max-keys': '6.5' }), true);
  assert.equal(cond({ NumericNotEquals: { 's3:max-keys': 5 } }, { 's3:max-keys': '5' }), false);
  assert.equal(cond({ NumericEquals: { 's3:max-keys': 5 } }, { 's3:max-keys': 'five' }), false);
  assert.equal(cond({ DateLessThan: { 'aws:CurrentTime': '2030-01-01T00:00:00Z' } }, { 'aws:CurrentTime': '2029-12-31T23:59:59Z' }), true);
  assert.equal(cond({ DateLessThan: { 'aws:CurrentTime': '2030-01-01T00:00:00Z' } }, { 'aws:CurrentTime': '2030-01-01T00:00:00Z' }), false);
  assert.equal(cond({ DateGreaterThan: { 'aws:CurrentTime': '2020-01-01T00:00:00Z' } }, { 'aws:CurrentTime': '2024-06-01T00:00:00Z' }), true);
  assert.equal(cond({ DateGreaterThanEquals: { 'aws:EpochTime': '1700000000' } }, { 'aws:EpochTime': '1700000000' }), true, 'epoch seconds');
  assert.equal(cond({ DateLessThan: { 'aws:EpochTime': '2030-01-01T00:00:00Z' } }, { 'aws:EpochTime': '1700000000' }), true, 'ISO against epoch');
  assert.equal(cond({ DateEquals: { 'aws:CurrentTime': 'never' } }, { 'aws:CurrentTime': '2024-01-01T00:00:00Z' }), false);
  assert.equal(cond({ DateNotEquals: { 'aws:CurrentTime': '2024-01-01T00:00:00Z' } }, { 'aws:CurrentTime': '2024-01-01T00:00:00.000Z' }), false);
  assert.equal(cond({ BinaryEquals: { 's3:x-amz-content-sha256': Buffer.from('hi').toString('base64') } }, { 's3:x-amz-content-sha256': 'aGk=' }), true);
  assert.equal(cond({ ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::111111111111:user/*' } }, { 'aws:PrincipalArn': A.arn }), true);
  assert.equal(cond({ ArnEquals: { 'aws:PrincipalArn': 'arn:aws:iam::*:user/alice' } }, { 'aws:PrincipalArn': A.arn }), true);
  assert.equal(cond({ ArnNotLike: { 'aws:PrincipalArn': 'arn:aws:iam::111111111111:*' } }, { 'aws:PrincipalArn': B.arn }), true);
  assert.equal(cond({ ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::111111111111:user/*' } }, { 'aws:PrincipalArn': 'not-an-arn' }), false);
});

test('IpAddress / NotIpAddress: IPv4, IPv6, single addresses, IPv4-mapped addresses', () => {
  assert.equal(cond({ IpAddress: { 'aws:SourceIp': '10.1.0.0/16' } }, { 'aws:SourceIp': '10.1.200.3' }), true);
  assert.equal(cond({ IpAddress: { 'aws:SourceIp': '10.1.0.0/16' } }, { 'aws:SourceIp': '10.2.0.1' }), false);
  assert.equal(cond({ IpAddress: { 'aws:SourceIp': ['192.0.2.0/24', '127.0.0.1'] } }, { 'aws:SourceIp': '127.0.0.1' }), true);
  assert.equal(cond({ NotIpAddress: { 'aws:SourceIp': '127.0.0.0/8' } }, { 'aws:SourceIp': '127.0.0.1' }), false);
  assert.equal(cond({ NotIpAddress: { 'aws:SourceIp': '192.0.2.0/24' } }, { 'aws:SourceIp': '127.0.0.1' }), true);
  assert.equal(cond({ IpAddress: { 'aws:SourceIp': '2001:db8::/32' } }, { 'aws:SourceIp': '2001:db8:1::5' }), true);
  assert.equal(cond({ IpAddress: { 'aws:SourceIp': '2001:db8::/32' } }, { 'aws:SourceIp': '2001:db9::5' }), false);
  assert.equal(cond({ IpAddress: { 'aws:SourceIp': '2001:db8::/32' } }, { 'aws:SourceIp': '10.0.0.1' }), false, 'families do not mix');
  assert.equal(cond({ IpAddress: { 'aws:SourceIp': '127.0.0.0/8' } }, { 'aws:SourceIp': '::ffff:127.0.0.1' }), true);
  assert.equal(cond({ IpAddress: { 'aws:SourceIp': '0.0.0.0/0' } }, { 'aws:SourceIp': '8.8.8.8' }), true);
  assert.deepEqual(parseIp('::1')?.bytes, Uint8Array.from([...Array(15).fill(0), 1]));
  assert.equal(parseIp('1:2:3:4:5:6:7:8:9'), undefined);
  assert.equal(parseIp('1::2::3'), undefined);
  assert.equal(parseCidr('10.0.0.0/33'), undefined);
  assert.equal(cidrContains(parseCidr('10.0.0.0/8')!, parseIp('::ffff:10.9.9.9')!), true, 'a mapped address is IPv4');
});

test('set qualifiers: ForAnyValue / ForAllValues over multi-valued keys', () => {
  const keys = { 's3:RequestObjectTagKeys': ['project', 'owner'] };
  assert.equal(cond({ 'ForAnyValue:StringEquals': { 's3:RequestObjectTagKeys': ['owner'] } }, keys), true);
  assert.equal(cond({ 'ForAnyValue:StringEquals': { 's3:RequestObjectTagKeys': ['cost'] } }, keys), false);
  assert.equal(cond({ 'ForAllValues:StringEquals': { 's3:RequestObjectTagKeys': ['owner', 'project', 'cost'] } }, keys), true);
  assert.equal(cond({ 'ForAllValues:StringEquals': { 's3:RequestObjectTagKeys': ['owner'] } }, keys), false);
  assert.equal(cond({ 'ForAllValues:StringEquals': { 's3:RequestObjectTagKeys': ['owner'] } }), true, 'ForAllValues, no values: true');
  assert.equal(cond({ 'ForAnyValue:StringEquals': { 's3:RequestObjectTagKeys': ['owner'] } }), false, 'ForAnyValue, no values: false');
  assert.equal(cond({ 'ForAllValues:StringLike': { 's3:RequestObjectTagKeys': ['*o*'] } }, keys), true);
  assert.equal(cond({ 'ForAnyValue:StringNotEquals': { 's3:RequestObjectTagKeys': ['owner'] } }, keys), true, 'project is not owner');
});

test('policy variables in Resource and conditions (2012-10-17 only), with defaults and literal escapes', () => {
  const r = (resource: string, username?: string) => req({ resource, keys: username ? { 'aws:username': username } : {} });
  const home = stmt({ Resource: 'arn:aws:s3:::b/home/${aws:username}/*' });
  assert.equal(decide(home, r('arn:aws:s3:::b/home/alice/x', 'alice')), 'Allow');
  assert.equal(decide(home, r('arn:aws:s3:::b/home/bob/x', 'alice')), 'NoMatch');
  assert.equal(decide(home, r('arn:aws:s3:::b/home/alice/x')), 'NoMatch', 'an unresolved variable matches nothing');
  assert.equal(decide(home, r('arn:aws:s3:::b/home/${aws:username}/x', 'alice'), '2008-10-17'), 'Allow', '2008-10-17: literal text');
  assert.equal(decide(stmt({ Resource: "arn:aws:s3:::b/home/${aws:username, 'guest'}/*" }), r('arn:aws:s3:::b/home/guest/x')), 'Allow', 'a default');
  assert.equal(decide(stmt({ Resource: 'arn:aws:s3:::b/${*}' }), r('arn:aws:s3:::b/*')), 'Allow', '${*} is a literal star');
  assert.equal(decide(stmt({ Resource: 'arn:aws:s3:::b/${*}' }), r('arn:aws:s3:::b/k')), 'NoMatch');
  // a value with wildcard characters is not a pattern
  assert.equal(decide(home, r('arn:aws:s3:::b/home/al*/x', 'al*')), 'Allow');
  assert.equal(decide(home, r('arn:aws:s3:::b/home/alice/x', 'al*')), 'NoMatch');
  assert.equal(cond({ StringLike: { 's3:prefix': 'home/${aws:username}/*' } }, { 's3:prefix': 'home/alice/docs', 'aws:username': 'alice' }), true);
  assert.equal(cond({ StringEquals: { 'aws:PrincipalAccount': '${aws:ResourceAccount}' } }, { 'aws:PrincipalAccount': '1', 'aws:ResourceAccount': '1' }), true);
});

test('public policies: the meaning of public', () => {
  const pub = (statements: object | object[]) => isPublicPolicy(parsePolicy(doc(statements), RES));
  assert.equal(pub(stmt()), true, 'Principal *');
  assert.equal(pub(stmt({ Principal: { AWS: '111111111111' } })), false, 'a named account');
  assert.equal(pub(stmt({ Effect: 'Deny' })), false, 'a Deny grants nothing');
  assert.equal(pub(stmt({ Principal: undefined, NotPrincipal: { AWS: '111111111111' } })), true, 'Allow with NotPrincipal');
  assert.equal(pub(stmt({ Condition: { IpAddress: { 'aws:SourceIp': '192.0.2.0/24' } } })), false, 'pinned to addresses');
  assert.equal(pub(stmt({ Condition: { IpAddress: { 'aws:SourceIp': '0.0.0.0/1' } } })), true, 'too wide a range');
  assert.equal(pub(stmt({ Condition: { NotIpAddress: { 'aws:SourceIp': '192.0.2.0/24' } } })), true, 'everywhere but');
  assert.equal(pub(stmt({ Condition: { StringEquals: { 'aws:PrincipalAccount': '111111111111' } } })), false);
  assert.equal(pub(stmt({ Condition: { StringLike: { 'aws:PrincipalAccount': '1111*' } } })), true, 'a wildcard value fixes nothing');
  assert.equal(pub(stmt({ Condition: { StringEqualsIfExists: { 'aws:SourceVpce': 'vpce-1' } } })), true, 'IfExists fixes nothing');
  assert.equal(pub(stmt({ Condition: { Bool: { 'aws:SecureTransport': 'true' } } })), true, 'TLS does not make it private');
  assert.equal(pub([stmt({ Principal: { AWS: '111111111111' } }), stmt()]), true, 'one public statement is enough');
});

test('wildcard matching stays linear on hostile patterns', () => {
  const m = compileWildcard('*a*a*a*a*a*a*a*a*a*a*a*a*b');
  const t = Date.now();
  assert.equal(m.test('a'.repeat(5000)), false);
  assert.ok(Date.now() - t < 500, `${Date.now() - t} ms`);
  assert.equal(compileWildcard('a*b?c').test('aXXbYc'), true);
  assert.equal(compileWildcard('*').test(''), true);
  assert.equal(compileWildcard('?').test('🚀'), true, 'code points');
  assert.equal(compileWildcard('ABC', true).test('abc'), true);
});

// ------------------------------------------------------------------ S3's rules for bucket policies

const malformed = (text: string, message: string) =>
  assert.throws(() => parseBucketPolicy(text, 'b'), (e: unknown) => e instanceof S3Error && e.code === 'MalformedPolicy' && e.status === 400 && e.message === message, `${text} -> ${message}`);

test('S3 bucket policies: resources inside the bucket, S3 action names, condition keys, action/resource agreement', () => {
  assert.equal(parseBucketPolicy(doc([stmt(), stmt({ Action: 's3:ListBucket', Resource: 'arn:aws:s3:::b' }), stmt({ Action: 's3:*', Resource: ['arn:aws:s3:::b', 'arn:aws:s3:::b/*'] })]), 'b').statements.length, 3);
  parseBucketPolicy(doc(stmt({ Action: 's3:Get*', Resource: 'arn:aws:s3:::b*' })), 'b');
  malformed(doc(stmt({ Resource: 'arn:aws:s3:::other/*' })), 'Policy has invalid resource');
  malformed(doc(stmt({ Resource: 'arn:aws:s3:::bb/*' })), 'Policy has invalid resource');
  malformed(doc(stmt({ Resource: '*' })), 'Policy has invalid resource');
  malformed(doc(stmt({ Resource: 'arn:aws:ec2:::b/*' })), 'Policy has invalid resource');
  malformed(doc(stmt({ Action: 's3:GetObjekt' })), 'Policy has invalid action');
  malformed(doc(stmt({ Action: 's3:Fly*' })), 'Policy has invalid action');
  malformed(doc(stmt({ Action: 'ec2:RunInstances' })), 'Policy has invalid action');
  malformed(doc(stmt({ Action: 's3:GetObject', Resource: 'arn:aws:s3:::b' })), 'Action does not apply to any resource(s) in statement');
  malformed(doc(stmt({ Action: 's3:ListBucket', Resource: 'arn:aws:s3:::b/*' })), 'Action does not apply to any resource(s) in statement');
  malformed(doc(stmt({ Condition: { StringEquals: { 's3:prefixx': 'a' } } })), 'Policy has an invalid condition key');
  malformed(doc(stmt({ Condition: { StringEquals: { 'aws:Nonsense': 'a' } } })), 'Policy has an invalid condition key');
  malformed(doc(stmt({ Condition: { StringEquals: { 's3:prefix': 'a' } } })), 'Conditions do not apply to combination of actions and resources in statement');
  parseBucketPolicy(doc(stmt({ Condition: { StringEquals: { 's3:ExistingObjectTag/team': 'x', 'AWS:SourceIp': '1.2.3.4' } } })), 'b');
  malformed(doc(stmt({ Effect: 'Permit' })), 'Invalid effect: Permit');
  malformed('{"Version":"2012-10-17","Statement":[{]}', 'This policy contains invalid Json');
  malformed(JSON.stringify({ Version: '2011-01-01', Statement: [stmt()] }), 'The policy must contain a valid version string');
});
