// Names and values in other scripts than ASCII (Latin with accents, CJK,
// Cyrillic, Greek, Hebrew, emoji) answer like any other name: NotFound for a
// group or key pair that does not exist, InvalidParameterValue where AWS refuses
// the characters on create, never a 500 ("Illegal mix of collations" from a
// column in another character set). And what the one collation of the schema
// (utf8mb4_bin, db/migrations/007_utf8mb4.sql) must keep: group names unique and
// found regardless of ASCII case, key pair names case-sensitive, tags in any
// script stored and given back as sent.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { aws, awsFails, stackUp, rawEc2, imageId, query, closeDb } from './helpers';

const skip = stackUp ? false : 'the test cloud is not up (run through npm test)';
after(closeDb);

const V = { Version: '2016-11-15' };
const sfx = crypto.randomBytes(4).toString('hex');

const NAMES = [
  'café', 'Ünïcödé-grüße', 'naïve façade', '中文名', 'グループ', '보안그룹', 'Привет-мир', 'Γειά σου', 'עברית',
  '🚀', 'web-🔥-servers', 'mixed ascii и кириллица 名', '\u212Aelvin',   // KELVIN SIGN, lower-cases to an ASCII 'k'
];

async function expectCode(params: Record<string, string>, code: string, status?: number) {
  const r = await rawEc2({ ...V, ...params });
  assert.ok(r.status < 500, `${JSON.stringify(params)} -> HTTP ${r.status}: ${r.text}`);
  assert.equal(r.code, code, `${JSON.stringify(params)} -> ${r.text}`);
  if (status !== undefined) assert.equal(r.status, status, r.text);
  return r;
}

test('the whole schema is on one character set and collation, the database default too', { skip }, async () => {
  const [db] = await query('SELECT DEFAULT_CHARACTER_SET_NAME cs, DEFAULT_COLLATION_NAME co FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()');
  assert.deepEqual({ ...db }, { cs: 'utf8mb4', co: 'utf8mb4_bin' });
  const tables = await query("SELECT TABLE_NAME t, TABLE_COLLATION c FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'");
  assert.ok(tables.length >= 20);
  assert.deepEqual(tables.filter((r) => r.c !== 'utf8mb4_bin'), []);
  const cols = await query(`SELECT TABLE_NAME t, COLUMN_NAME c, CHARACTER_SET_NAME cs, COLLATION_NAME co FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = DATABASE() AND COLLATION_NAME IS NOT NULL AND (CHARACTER_SET_NAME <> 'utf8mb4' OR COLLATION_NAME <> 'utf8mb4_bin')`);
  assert.deepEqual(cols, []);
});

test('security groups named in other scripts: NotFound in every action that names one, never a 500', { skip }, async () => {
  const mine = `uni-${sfx}`;
  await aws(['ec2', 'create-security-group', '--group-name', mine, '--description', 'unicode tests']);
  try {
    for (const name of NAMES) {
      await expectCode({ Action: 'DeleteSecurityGroup', GroupName: name }, 'InvalidGroup.NotFound', 400);
      await expectCode({ Action: 'DescribeSecurityGroups', 'GroupName.1': name }, 'InvalidGroup.NotFound', 400);
      const perm = { IpProtocol: 'tcp', FromPort: '22', ToPort: '22', CidrIp: '10.0.0.0/8' };
      await expectCode({ Action: 'AuthorizeSecurityGroupIngress', GroupName: name, ...perm }, 'InvalidGroup.NotFound', 400);
      await expectCode({ Action: 'RevokeSecurityGroupIngress', GroupName: name, ...perm }, 'InvalidGroup.NotFound', 400);
      // a peer group of that name, by the flat parameters and by IpPermissions
      await expectCode({ Action: 'AuthorizeSecurityGroupIngress', GroupName: mine, SourceSecurityGroupName: name }, 'InvalidGroup.NotFound', 400);
      await expectCode({ Action: 'AuthorizeSecurityGroupIngress', GroupName: mine, 'IpPermissions.1.IpProtocol': 'tcp', 'IpPermissions.1.FromPort': '80',
        'IpPermissions.1.ToPort': '80', 'IpPermissions.1.Groups.1.GroupName': name }, 'InvalidGroup.NotFound', 400);
      // RunInstances looks its groups up before DryRun is answered: nothing launches either way
      await expectCode({ Action: 'RunInstances', ImageId: imageId, MinCount: '1', MaxCount: '1', 'SecurityGroup.1': name, DryRun: 'true' }, 'InvalidGroup.NotFound', 400);
      // create: AWS takes ASCII only, for the name and the description
      await expectCode({ Action: 'CreateSecurityGroup', GroupName: name, GroupDescription: 'd' }, 'InvalidParameterValue', 400);
      await expectCode({ Action: 'CreateSecurityGroup', GroupName: `d-${sfx}`, GroupDescription: name }, 'InvalidParameterValue', 400);
      // a filter value in any script just matches nothing
      const f = await rawEc2({ ...V, Action: 'DescribeSecurityGroups', 'Filter.1.Name': 'group-name', 'Filter.1.Value.1': name });
      assert.equal(f.status, 200, f.text);
      assert.doesNotMatch(f.text, /<item>/);
    }
    // the same through the AWS CLI
    for (const name of ['café', '中文名', 'Привет', '🚀']) {
      assert.match(await awsFails(['ec2', 'delete-security-group', '--group-name', name]), /InvalidGroup\.NotFound/);
      assert.match(await awsFails(['ec2', 'authorize-security-group-ingress', '--group-name', name, '--protocol', 'tcp', '--port', '22', '--cidr', '10.0.0.0/8']), /InvalidGroup\.NotFound/);
      assert.match(await awsFails(['ec2', 'revoke-security-group-ingress', '--group-name', name, '--protocol', 'tcp', '--port', '22', '--cidr', '10.0.0.0/8']), /InvalidGroup\.NotFound/);
      assert.match(await awsFails(['ec2', 'run-instances', '--image-id', imageId, '--count', '1', '--security-groups', name, '--dry-run']), /InvalidGroup\.NotFound/);
      assert.match(await awsFails(['ec2', 'create-security-group', '--group-name', name, '--description', 'x']), /InvalidParameterValue/);
    }
    assert.equal((await query('SELECT * FROM security_groups WHERE name = ?', [`d-${sfx}`])).length, 0);
  } finally {
    await aws(['ec2', 'delete-security-group', '--group-name', mine]);
  }
});

test('group names stay unique and found regardless of ASCII case; a look-alike in another script is another name', { skip }, async () => {
  const name = `Kase-${sfx}`;
  const g = (await aws(['ec2', 'create-security-group', '--group-name', name, '--description', 'case'])).GroupId;
  try {
    assert.match(await awsFails(['ec2', 'create-security-group', '--group-name', name.toLowerCase(), '--description', 'x']), /InvalidGroup\.Duplicate/);
    assert.match(await awsFails(['ec2', 'create-security-group', '--group-name', name.toUpperCase(), '--description', 'x']), /InvalidGroup\.Duplicate/);
    const found = await aws(['ec2', 'describe-security-groups', '--group-names', name.toUpperCase()]);
    assert.equal(found.SecurityGroups[0].GroupId, g);
    assert.equal(found.SecurityGroups[0].GroupName, name, 'the name as created');
    await aws(['ec2', 'authorize-security-group-ingress', '--group-name', name.toLowerCase(), '--protocol', 'tcp', '--port', '443', '--cidr', '10.0.0.0/8']);
    await aws(['ec2', 'revoke-security-group-ingress', '--group-name', name.toUpperCase(), '--protocol', 'tcp', '--port', '443', '--cidr', '10.0.0.0/8']);
    const dry = await rawEc2({ ...V, Action: 'RunInstances', ImageId: imageId, MinCount: '1', MaxCount: '1', 'SecurityGroup.1': name.toLowerCase(), DryRun: 'true' });
    assert.equal(dry.code, 'DryRunOperation', dry.text);
    // KELVIN SIGN K (U+212A) lower-cases to ASCII k in Unicode; it is not this group
    const kelvin = `\u212Aase-${sfx}`;
    await expectCode({ Action: 'DescribeSecurityGroups', 'GroupName.1': kelvin }, 'InvalidGroup.NotFound', 400);
    await expectCode({ Action: 'DeleteSecurityGroup', GroupName: kelvin }, 'InvalidGroup.NotFound', 400);
    await expectCode({ Action: 'RunInstances', ImageId: imageId, MinCount: '1', MaxCount: '1', 'SecurityGroup.1': kelvin, DryRun: 'true' }, 'InvalidGroup.NotFound', 400);
    // 'default' in any ASCII case is the default group
    const def = await aws(['ec2', 'describe-security-groups', '--group-names', 'DEFAULT']);
    assert.equal(def.SecurityGroups[0].GroupName, 'default');
  } finally {
    const del = await rawEc2({ ...V, Action: 'DeleteSecurityGroup', GroupName: name.toUpperCase() });
    assert.equal(del.status, 200, del.text);
    assert.match(del.text, new RegExp(`<groupId>${g}</groupId>`));
  }
});

test('key pairs named in other scripts: NotFound where looked up, refused on create, delete answers true', { skip }, async () => {
  for (const name of NAMES) {
    await expectCode({ Action: 'CreateKeyPair', KeyName: name }, 'InvalidParameterValue', 400);
    await expectCode({ Action: 'DescribeKeyPairs', 'KeyName.1': name }, 'InvalidKeyPair.NotFound', 400);
    await expectCode({ Action: 'RunInstances', ImageId: imageId, MinCount: '1', MaxCount: '1', KeyName: name, DryRun: 'true' }, 'InvalidKeyPair.NotFound', 400);
    const del = await rawEc2({ ...V, Action: 'DeleteKeyPair', KeyName: name });
    assert.equal(del.status, 200, del.text);
    assert.match(del.text, /<return>true<\/return>/);
  }
  assert.match(await awsFails(['ec2', 'describe-key-pairs', '--key-names', 'clé-😀']), /InvalidKeyPair\.NotFound/);
  // key pair names stay case-sensitive: two pairs
  const a = await aws(['ec2', 'create-key-pair', '--key-name', `Key-${sfx}`]);
  const b = await aws(['ec2', 'create-key-pair', '--key-name', `key-${sfx}`]);
  assert.notEqual(a.KeyPairId, b.KeyPairId);
  assert.match(await awsFails(['ec2', 'describe-key-pairs', '--key-names', `KEY-${sfx}`]), /InvalidKeyPair\.NotFound/);
  await aws(['ec2', 'delete-key-pair', '--key-pair-id', a.KeyPairId]);
  await aws(['ec2', 'delete-key-pair', '--key-pair-id', b.KeyPairId]);
});

test('tags in any script are stored and given back exactly as sent; tag keys differing only in case are two tags', { skip }, async () => {
  const tags = [
    { Key: 'Name', Value: 'café 中文 Привет 🚀' }, { Key: 'チーム', Value: 'インフラ' }, { Key: 'emoji-🔥', Value: '😀😀' },
    { Key: 'env', Value: 'prod' }, { Key: 'ENV', Value: 'PROD' },
  ];
  const spec = JSON.stringify([{ ResourceType: 'security-group', Tags: tags }]);
  const name = `tags-${sfx}`;
  const c = await aws(['ec2', 'create-security-group', '--group-name', name, '--description', 'tags', '--tag-specifications', spec]);
  try {
    const sortTags = (l: { Key: string; Value: string }[]) => [...l].sort((x, y) => (x.Key < y.Key ? -1 : 1));
    assert.deepEqual(sortTags(c.Tags), sortTags(tags));
    const g = (await aws(['ec2', 'describe-security-groups', '--group-ids', c.GroupId])).SecurityGroups[0];
    assert.deepEqual(sortTags(g.Tags), sortTags(tags));
    // filters on them, wildcards counting characters (not bytes)
    const hit = await aws(['ec2', 'describe-security-groups', '--filters',
      JSON.stringify([{ Name: 'tag:チーム', Values: ['イン?ラ'] }, { Name: 'tag:emoji-🔥', Values: ['??'] }])]);
    assert.deepEqual(hit.SecurityGroups.map((x: any) => x.GroupId), [c.GroupId]);
    const none = await aws(['ec2', 'describe-security-groups', '--filters', 'Name=tag:env,Values=PROD']);
    assert.deepEqual(none.SecurityGroups.map((x: any) => x.GroupId), [], 'tag values are case-sensitive');
  } finally {
    await aws(['ec2', 'delete-security-group', '--group-id', c.GroupId]);
  }
});

test('images: a name in another script is refused on register and matches nothing in a filter', { skip }, async () => {
  for (const name of ['中文镜像', 'образ', 'imagé', '🚀-image']) {
    const f = await rawEc2({ ...V, Action: 'DescribeImages', 'Filter.1.Name': 'name', 'Filter.1.Value.1': name });
    assert.equal(f.status, 200, f.text);
    assert.doesNotMatch(f.text, /<imageId>/);
    const r = await rawEc2({ ...V, Action: 'RegisterImage', Name: name, KernelId: 'true', ImageLocation: `nobucket-${sfx}/vmlinuz` });
    assert.ok(r.status >= 400 && r.status < 500, `${name}: ${r.status} ${r.text}`);
  }
});
