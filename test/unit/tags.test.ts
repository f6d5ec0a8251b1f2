// Tag validation (the one set of checks every tag goes through), resource ids by
// prefix, TagSpecifications, and the Describe* filter tables: every filter name
// EC2 documents is accepted, the ones that cannot apply here match nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ec2Error } from '../../api/ec2/errors';
import {
  checkTagKey, checkTagValue, checkTags, tagSpecifications, tagsForType, taggedResources, inputFilters, maxResultsOf,
  checkDescribeTagsFilters, tagSetIfAny,
} from '../../api/ec2/actions/tags';
import {
  instanceFilters, imageFilters, addressFilters, keyPairFilters, INSTANCE_FILTERS_NOT_APPLICABLE, IMAGE_FILTERS_NOT_APPLICABLE,
  type TaggedImage, type TaggedAddress,
} from '../../api/ec2/actions/resourceFilters';
import { applyFilters } from '../../api/ec2/actions/filters';
import { resourceTypeOf, notFoundError } from '../../db/tags';
import type { InstanceRow } from '../../db/instances';
import type { KeyPairRow } from '../../db/keyPairs';
import type { InputObject } from '../../api/model/queryInput';

const code = (c: string, msg?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof Ec2Error, String(e));
  assert.equal(e.code, c, e.message);
  if (msg) assert.match(e.message, msg);
  return true;
};
const tag = (Key?: string, Value?: string): InputObject => {
  const t: InputObject = {};
  if (Key !== undefined) t.Key = Key;
  if (Value !== undefined) t.Value = Value;
  return t;
};

test('tag keys: 1-128 characters (code points), aws: reserved in any case', () => {
  assert.equal(checkTagKey('Name'), 'Name');
  assert.equal(checkTagKey('k'.repeat(128)), 'k'.repeat(128));
  assert.equal(checkTagKey('🚀'.repeat(128)), '🚀'.repeat(128), '128 emoji are 256 UTF-16 units but 128 characters');
  assert.equal(checkTagKey('awsome'), 'awsome');
  assert.equal(checkTagKey('my:aws:key'), 'my:aws:key');
  assert.throws(() => checkTagKey('k'.repeat(129)), code('InvalidParameterValue', /maximum length of 128/));
  assert.throws(() => checkTagKey(''), code('InvalidParameterValue', /cannot be null or empty/));
  assert.throws(() => checkTagKey(undefined), code('InvalidParameterValue', /cannot be null or empty/));
  for (const k of ['aws:x', 'AWS:x', 'Aws:cloudformation:stack', 'aws:']) {
    assert.throws(() => checkTagKey(k), code('InvalidParameterValue', /reserved for internal use/), k);
  }
});

test('tag values: 0-256 characters, required only where EC2 requires it', () => {
  assert.equal(checkTagValue(''), '');
  assert.equal(checkTagValue('v'.repeat(256)), 'v'.repeat(256));
  assert.equal(checkTagValue('é'.repeat(256)), 'é'.repeat(256));
  assert.throws(() => checkTagValue('v'.repeat(257)), code('InvalidParameterValue', /maximum length of 256/));
  assert.throws(() => checkTagValue(undefined), code('InvalidParameterValue', /cannot be null/));
  assert.deepEqual(checkTags([tag('a')]), [{ key: 'a', value: '' }], 'TagSpecifications: a missing value is empty');
  assert.throws(() => checkTags([tag('a')], { valueRequired: true }), code('InvalidParameterValue'), 'CreateTags: "the value parameter is required"');
  assert.deepEqual(checkTags([tag('a', '')], { valueRequired: true }), [{ key: 'a', value: '' }]);
});

test('a request tags a resource at most 50 times, each key once', () => {
  const fifty = Array.from({ length: 50 }, (_, i) => tag(`k${i}`, `v${i}`));
  assert.equal(checkTags(fifty).length, 50);
  assert.throws(() => checkTags([...fifty, tag('k50', 'x')]), code('TagLimitExceeded'));
  assert.throws(() => checkTags([tag('a', '1'), tag('a', '2')]), code('InvalidParameterValue', /Duplicate tag key 'a'/));
  assert.deepEqual(checkTags(undefined), []);
});

test('TagSpecifications: the types an operation makes, at least one tag, the same checks', () => {
  const spec = (ResourceType: string | undefined, tags: InputObject[]): InputObject => {
    const s: InputObject = { Tags: tags };
    if (ResourceType !== undefined) s.ResourceType = ResourceType;
    return s;
  };
  assert.deepEqual(tagsForType({}, 'instance'), []);
  assert.deepEqual(tagsForType({ TagSpecifications: [spec('instance', [tag('Name', 'web')])] }, 'instance'), [{ key: 'Name', value: 'web' }]);
  // two specs of one type are one resource's tags
  const merged = tagSpecifications({ TagSpecifications: [spec('key-pair', [tag('a', '1')]), spec('key-pair', [tag('b', '2')])] }, ['key-pair']);
  assert.deepEqual(merged.get('key-pair'), [{ key: 'a', value: '1' }, { key: 'b', value: '2' }]);
  assert.throws(() => tagSpecifications({ TagSpecifications: [spec('key-pair', [tag('a', '1')]), spec('key-pair', [tag('a', '2')])] }, ['key-pair']),
    code('InvalidParameterValue', /Duplicate/));
  assert.throws(() => tagsForType({ TagSpecifications: [spec('volume', [tag('a', '1')])] }, 'instance'),
    code('InvalidParameterValue', /^'volume' is not a valid taggable resource type for this operation\.$/));
  assert.throws(() => tagsForType({ TagSpecifications: [spec(undefined, [tag('a', '1')])] }, 'instance'), code('InvalidParameterValue', /resource type must have a value/));
  assert.throws(() => tagsForType({ TagSpecifications: [spec('instance', [])] }, 'instance'), code('InvalidParameterValue', /at least one tag/));
  assert.throws(() => tagsForType({ TagSpecifications: [spec('security-group', [tag('aws:x', '1')])] }, 'security-group'), code('InvalidParameterValue', /reserved/));
  const many = Array.from({ length: 51 }, (_, i) => tag(`k${i}`, ''));
  assert.throws(() => tagsForType({ TagSpecifications: [spec('elastic-ip', many)] }, 'elastic-ip'), code('TagLimitExceeded'));
});

test('resource ids by prefix: taggable, absent here, or invalid', () => {
  const types = Object.fromEntries([
    'i-0123abcd', 'i-0123456789abcdef0', 'emi-0123abcd', 'eki-0123abcd', 'eri-0123abcd', 'ami-0123abcd', 'sg-0123456789abcdef0',
    'sgr-0123456789abcdef0', 'key-0123456789abcdef0', 'eipalloc-0123456789abcdef0',
  ].map((id) => [id, (resourceTypeOf(id) as { type?: string }).type]));
  assert.deepEqual(types, {
    'i-0123abcd': 'instance', 'i-0123456789abcdef0': 'instance', 'emi-0123abcd': 'image', 'eki-0123abcd': 'image', 'eri-0123abcd': 'image',
    'ami-0123abcd': 'image', 'sg-0123456789abcdef0': 'security-group', 'sgr-0123456789abcdef0': 'security-group-rule',
    'key-0123456789abcdef0': 'key-pair', 'eipalloc-0123456789abcdef0': 'elastic-ip',
  });
  for (const id of ['i-123', 'i-0123ABCD', 'r-0123abcd', 'foo', '', 'i-0123abcd ', 'eipassoc-0123456789abcdef0', 'sg-xyz']) {
    assert.deepEqual(resourceTypeOf(id), { kind: 'invalid' }, id);
  }
  assert.throws(() => taggedResources(['i-0123abcd', 'r-0123abcd']), code('InvalidID', /^The ID 'r-0123abcd' is not valid$/));
  assert.throws(() => taggedResources(['vol-0123abcd']), code('InvalidVolume.NotFound'));
  assert.throws(() => taggedResources(['vpc-0123abcd']), code('InvalidVpcID.NotFound'));
  assert.throws(() => taggedResources([]), code('MissingParameter'));
  assert.throws(() => taggedResources(Array.from({ length: 1001 }, (_, i) => `i-${i.toString(16).padStart(8, '0')}`)), code('InvalidParameterValue'));
  assert.equal(taggedResources(Array.from({ length: 1000 }, (_, i) => `i-${i.toString(16).padStart(8, '0')}`)).length, 1000);
  assert.deepEqual(taggedResources(['sg-0123abcd', 'sg-0123abcd']), [{ id: 'sg-0123abcd', type: 'security-group' }], 'duplicates once');
  assert.deepEqual(notFoundError('instance', ['i-1']), { code: 'InvalidInstanceID.NotFound', message: "The instance ID 'i-1' does not exist" });
  assert.equal(notFoundError('image', ['emi-1']).code, 'InvalidAMIID.NotFound');
  assert.equal(notFoundError('security-group', ['sg-1']).code, 'InvalidGroup.NotFound');
  assert.equal(notFoundError('key-pair', ['key-1']).code, 'InvalidKeyPair.NotFound');
  assert.equal(notFoundError('elastic-ip', ['eipalloc-1']).code, 'InvalidAllocationID.NotFound');
  assert.equal(notFoundError('security-group-rule', ['sgr-1']).code, 'InvalidSecurityGroupRuleId.NotFound');
});

test('filters from the model input; MaxResults ranges; DescribeTags filter names', () => {
  assert.deepEqual(inputFilters({ Filters: [{ Name: 'key', Values: ['a', 'b'] }, { Name: 'value' }] }),
    [{ name: 'key', values: ['a', 'b'] }, { name: 'value', values: [] }]);
  assert.deepEqual(inputFilters({}), []);
  assert.throws(() => inputFilters({ Filters: [{ Values: ['x'] }] }), code('MissingParameter', /Filter\.1\.Name/));
  assert.equal(maxResultsOf({}, 5, 1000), undefined);
  assert.equal(maxResultsOf({ MaxResults: 5 }, 5, 1000), 5);
  assert.throws(() => maxResultsOf({ MaxResults: 4 }, 5, 1000), code('InvalidParameterValue'));
  assert.throws(() => maxResultsOf({ MaxResults: 1001 }, 5, 1000), code('InvalidParameterValue'));
  checkDescribeTagsFilters([{ name: 'key', values: [] }, { name: 'value', values: [] }, { name: 'resource-id', values: [] },
    { name: 'resource-type', values: [] }, { name: 'tag:Name', values: [] }]);
  for (const bad of ['tag-key', 'tag-value', 'Key', 'resource', 'constructor']) {
    assert.throws(() => checkDescribeTagsFilters([{ name: bad, values: ['x'] }]), code('InvalidParameterValue', new RegExp(`^The filter '${bad}' is invalid$`)));
  }
  assert.equal(tagSetIfAny([]), undefined);
  assert.deepEqual(tagSetIfAny([{ key: 'a', value: '' }]), [{ key: 'a', value: '' }]);
});

// ---------------------------------------------------------------- Describe* filter tables

// The filter names the EC2 API reference documents (botocore's model documentation;
// the vendored model has its documentation stripped), tag filters aside.
const DOCUMENTED_INSTANCE_FILTERS = ['affinity', 'architecture', 'availability-zone', 'availability-zone-id', 'block-device-mapping.attach-time', 'block-device-mapping.delete-on-termination', 'block-device-mapping.device-name', 'block-device-mapping.status', 'block-device-mapping.volume-id', 'boot-mode', 'capacity-reservation-id', 'capacity-reservation-specification.capacity-reservation-preference', 'capacity-reservation-specification.capacity-reservation-target.capacity-reservation-id', 'capacity-reservation-specification.capacity-reservation-target.capacity-reservation-resource-group-arn', 'client-token', 'current-instance-boot-mode', 'dns-name', 'ebs-optimized', 'ena-support', 'enclave-options.enabled', 'hibernation-options.configured', 'host-id', 'hypervisor', 'iam-instance-profile.arn', 'iam-instance-profile.id', 'image-id', 'instance-id', 'instance-lifecycle', 'instance-state-code', 'instance-state-name', 'instance-type', 'instance.group-id', 'instance.group-name', 'ip-address', 'ipv6-address', 'kernel-id', 'key-name', 'launch-index', 'launch-time', 'maintenance-options.auto-recovery', 'metadata-options.http-endpoint', 'metadata-options.http-protocol-ipv4', 'metadata-options.http-protocol-ipv6', 'metadata-options.http-put-response-hop-limit', 'metadata-options.http-tokens', 'metadata-options.instance-metadata-tags', 'metadata-options.state', 'monitoring-state', 'network-interface.addresses.association.allocation-id', 'network-interface.addresses.association.association-id', 'network-interface.addresses.association.carrier-ip', 'network-interface.addresses.association.customer-owned-ip', 'network-interface.addresses.association.ip-owner-id', 'network-interface.addresses.association.public-dns-name', 'network-interface.addresses.association.public-ip', 'network-interface.addresses.primary', 'network-interface.addresses.private-dns-name', 'network-interface.addresses.private-ip-address', 'network-interface.association.allocation-id', 'network-interface.association.association-id', 'network-interface.association.carrier-ip', 'network-interface.association.customer-owned-ip', 'network-interface.association.ip-owner-id', 'network-interface.association.public-dns-name', 'network-interface.association.public-ip', 'network-interface.attachment.attach-time', 'network-interface.attachment.attachment-id', 'network-interface.attachment.delete-on-termination', 'network-interface.attachment.device-index', 'network-interface.attachment.instance-id', 'network-interface.attachment.instance-owner-id', 'network-interface.attachment.network-card-index', 'network-interface.attachment.status', 'network-interface.availability-zone', 'network-interface.deny-all-igw-traffic', 'network-interface.description', 'network-interface.group-id', 'network-interface.group-name', 'network-interface.ipv4-prefixes.ipv4-prefix', 'network-interface.ipv6-address', 'network-interface.ipv6-addresses.ipv6-address', 'network-interface.ipv6-addresses.is-primary-ipv6', 'network-interface.ipv6-native', 'network-interface.ipv6-prefixes.ipv6-prefix', 'network-interface.mac-address', 'network-interface.network-interface-id', 'network-interface.operator.managed', 'network-interface.operator.principal', 'network-interface.outpost-arn', 'network-interface.owner-id', 'network-interface.private-dns-name', 'network-interface.private-ip-address', 'network-interface.public-dns-name', 'network-interface.requester-id', 'network-interface.requester-managed', 'network-interface.status', 'network-interface.source-dest-check', 'network-interface.subnet-id', 'network-interface.tag-key', 'network-interface.tag-value', 'network-interface.vpc-id', 'network-performance-options.bandwidth-weighting', 'operator.managed', 'operator.principal', 'outpost-arn', 'owner-id', 'placement-group-name', 'placement-partition-number', 'platform', 'platform-details', 'private-dns-name', 'private-dns-name-options.enable-resource-name-dns-a-record', 'private-dns-name-options.enable-resource-name-dns-aaaa-record', 'private-dns-name-options.hostname-type', 'private-ip-address', 'product-code', 'product-code.type', 'ramdisk-id', 'reason', 'requester-id', 'reservation-id', 'root-device-name', 'root-device-type', 'source-dest-check', 'spot-instance-request-id', 'state-reason-code', 'state-reason-message', 'subnet-id', 'tenancy', 'tpm-support', 'usage-operation', 'usage-operation-update-time', 'virtualization-type', 'vpc-id'];
const DOCUMENTED_IMAGE_FILTERS = ['architecture', 'block-device-mapping.delete-on-termination', 'block-device-mapping.device-name', 'block-device-mapping.snapshot-id', 'block-device-mapping.volume-size', 'block-device-mapping.volume-type', 'block-device-mapping.encrypted', 'creation-date', 'description', 'ena-support', 'free-tier-eligible', 'hypervisor', 'image-allowed', 'image-id', 'image-type', 'is-public', 'kernel-id', 'manifest-location', 'name', 'owner-alias', 'owner-id', 'platform', 'product-code', 'product-code.type', 'ramdisk-id', 'root-device-name', 'root-device-type', 'source-image-id', 'source-image-region', 'source-instance-id', 'state', 'state-reason-code', 'state-reason-message', 'sriov-net-support', 'virtualization-type'];
const DOCUMENTED_ADDRESS_FILTERS = ['allocation-id', 'association-id', 'instance-id', 'network-border-group', 'network-interface-id', 'network-interface-owner-id', 'private-ip-address', 'public-ip'];
const DOCUMENTED_KEY_PAIR_FILTERS = ['key-pair-id', 'fingerprint', 'key-name'];

const inst: InstanceRow = {
  id: 'i-0123abcd', reservationId: 'r-0123abcd', accountId: '123456789012', launchIndex: 0, imageId: 'emi-00000001', instanceType: 'm1.small',
  zone: 'test-1a', node: 'nc1', state: 'running', stateReasonCode: null, stateReasonMessage: null, stateTransitionReason: null,
  privateIp: '10.144.0.10', mac: 'd0:0d:00:00:00:01', userData: null, keyName: 'me', clientToken: 'tok-1',
  launchedAt: new Date('2024-05-06T07:08:09.123Z'), updatedAt: new Date(), tags: [{ key: 'Name', value: 'web-1' }, { key: 'env', value: '' }],
  networkId: 'n-1', groups: [{ id: 'sg-0123abcd', name: 'web' }], publicIp: '100.64.251.10',
  disableApiTermination: false, shutdownBehavior: 'stop', monitoring: 'disabled', kernelId: null, ramdiskId: null,
};
const img: TaggedImage = {
  id: 'emi-00000001', accountId: '123456789012', name: 'guest', description: 'a guest', imageType: 'machine', kernelPath: null, ramdiskPath: null,
  kernelSha256: null, ramdiskSha256: null, architecture: 'x86_64', isPublic: true, state: 'available', createdAt: new Date('2024-01-02T03:04:05.000Z'),
  imageLocation: 'bucket/disk.raw', kernelId: 'eki-00000001', ramdiskId: 'eri-00000001', rootDeviceName: '/dev/vda', tags: [{ key: 'os', value: 'debian' }],
};

const matches = <T extends { tags?: { key: string; value: string }[] }>(items: T[], fields: any, name: string, ...values: string[]) =>
  applyFilters(items, [{ name, values }], fields).length > 0;

test('DescribeInstances: every documented filter is accepted; real ones match what Describe shows, the rest nothing', () => {
  const f = instanceFilters(new Map([[img.id, img]]), 'test-1');
  for (const name of [...DOCUMENTED_INSTANCE_FILTERS, 'group-id', 'group-name', 'tag:Name', 'tag-key', 'tag-value']) {
    assert.doesNotThrow(() => applyFilters([inst], [{ name, values: ['*'] }], f), name);
  }
  for (const name of INSTANCE_FILTERS_NOT_APPLICABLE) assert.equal(matches([inst], f, name, '*'), false, `${name} matches nothing here`);
  assert.throws(() => applyFilters([inst], [{ name: 'bogus', values: ['x'] }], f), code('InvalidParameterValue', /^The filter 'bogus' is invalid$/));
  const yes: Array<[string, string]> = [
    ['dns-name', 'euca-100-64-251-10.test-1.compute.amazonaws.com'], ['private-dns-name', 'ip-10-144-0-10.test-1.compute.internal'],
    ['ip-address', '100.64.251.10'], ['group-id', 'sg-0123abcd'], ['group-name', 'web'], ['instance.group-id', 'sg-*'],
    ['instance.group-name', 'w?b'], ['kernel-id', 'eki-00000001'], ['ramdisk-id', 'eri-00000001'], ['key-name', 'me'],
    ['launch-time', '2024-05-06T07:08:09.123Z'], ['launch-time', '2024-05-06*'], ['reservation-id', 'r-0123abcd'],
    ['owner-id', '123456789012'], ['architecture', 'x86_64'], ['root-device-type', 'instance-store'], ['root-device-name', '/dev/vda'],
    ['hypervisor', 'xen'], ['virtualization-type', 'hvm'], ['monitoring-state', 'disabled'], ['client-token', 'tok-1'],
    ['tenancy', 'default'], ['availability-zone', 'test-1a'], ['instance-state-code', '16'], ['tag:Name', 'web*'], ['tag-key', 'env'],
    ['tag-value', ''], ['ebs-optimized', 'false'], ['launch-index', '0'],
  ];
  for (const [name, v] of yes) assert.ok(matches([inst], f, name, v), `${name}=${v}`);
  for (const name of ['reason', 'state-reason-code', 'state-reason-message', 'instance-lifecycle', 'product-code', 'platform']) {
    assert.equal(matches([inst], f, name, '*'), false, `${name}: nothing to match on a running on-demand instance`);
  }
  // an instance's own kernel (ModifyInstanceAttribute) wins over its image's
  assert.ok(matches([{ ...inst, kernelId: 'eki-00000002' }], f, 'kernel-id', 'eki-00000002'));
  // a stopped instance (no public address) and a terminated one (no private either)
  const stopped = { ...inst, state: 'stopped', publicIp: null };
  assert.equal(matches([stopped], f, 'dns-name', '*'), false);
  assert.ok(matches([stopped], f, 'private-dns-name', 'ip-*'));
  const gone = { ...inst, state: 'terminated', publicIp: null, stateReasonCode: 'Client.UserInitiatedShutdown', stateReasonMessage: 'Client.UserInitiatedShutdown: User initiated shutdown' };
  assert.equal(matches([gone], f, 'private-dns-name', '*'), false);
  assert.ok(matches([gone], f, 'state-reason-code', 'Client.UserInitiatedShutdown'));
  assert.ok(matches([gone], f, 'state-reason-message', 'Client.*'));
  // no image known: nothing from the image
  assert.equal(matches([inst], instanceFilters(new Map(), 'test-1'), 'root-device-name', '*'), false);
});

test('DescribeImages, DescribeAddresses, DescribeKeyPairs: every documented filter is accepted', () => {
  for (const name of [...DOCUMENTED_IMAGE_FILTERS, 'tag:os', 'tag-key', 'tag-value']) {
    assert.doesNotThrow(() => applyFilters([img], [{ name, values: ['*'] }], imageFilters), name);
  }
  for (const name of IMAGE_FILTERS_NOT_APPLICABLE) assert.equal(matches([img], imageFilters, name, '*'), false, name);
  for (const [name, v] of [['creation-date', '2024-01-02*'], ['hypervisor', 'xen'], ['block-device-mapping.device-name', '/dev/vda'],
    ['tag:os', 'debian'], ['is-public', 'true'], ['kernel-id', 'eki-*']] as const) {
    assert.ok(matches([img], imageFilters, name, v), `${name}=${v}`);
  }
  const addr: TaggedAddress = {
    publicIp: '100.64.251.20', zone: 'test-1a', accountId: '123456789012', domain: 'standard', allocationId: 'eipalloc-0123456789abcdef0',
    associationId: null, instanceId: null, privateIp: null, isLaunchAddress: false, natSeq: 1, allocatedAt: new Date(), associatedAt: null,
    tags: [{ key: 'team', value: 'a' }],
  };
  const af = addressFilters('test-1');
  for (const name of [...DOCUMENTED_ADDRESS_FILTERS, 'domain', 'public-ipv4-pool', 'tag:team', 'tag-key']) {
    assert.doesNotThrow(() => applyFilters([addr], [{ name, values: ['*'] }], af), name);
  }
  assert.equal(matches([addr], af, 'network-interface-id', '*'), false);
  assert.ok(matches([addr], af, 'tag:team', 'a'));
  assert.ok(matches([addr], af, 'network-border-group', 'test-1'));
  const key: KeyPairRow = {
    id: 'key-0123456789abcdef0', accountId: '123456789012', name: 'me', keyType: 'rsa', fingerprint: 'aa:bb', publicKey: 'ssh-rsa AAAA me',
    createdAt: new Date(), tags: [{ key: 'role', value: 'ci' }],
  };
  for (const name of [...DOCUMENTED_KEY_PAIR_FILTERS, 'key-type', 'tag:role', 'tag-key']) {
    assert.doesNotThrow(() => applyFilters([key], [{ name, values: ['*'] }], keyPairFilters), name);
  }
  assert.ok(matches([key], keyPairFilters, 'tag-key', 'role'));
});
