// The filters of DescribeInstances, DescribeImages, DescribeAddresses and
// DescribeKeyPairs: every name EC2 documents for them (the EC2 API reference's
// filter lists), as field getters for applyFilters. tag:KEY, tag-key and
// tag-value come from applyFilters itself (items carry `tags`).
//
// This cloud is EC2-Classic with instance-store images: a filter EC2 documents
// that cannot apply here (network interfaces, EBS block devices, VPCs, Spot,
// Dedicated Hosts, ...) is accepted and matches nothing, as it matches nothing
// for such an instance on EC2; a name EC2 does not have is "The filter 'X' is
// invalid" (applyFilters). Values are the ones Describe* shows, so a filter and
// the answer never disagree. Pure: no database.
import type { FieldGetter } from './filters';
import type { InstanceRow } from '../../../db/instances';
import type { ImageRow } from '../../../db/catalog';
import type { AddressRow } from '../../../db/addresses';
import type { KeyPairRow } from '../../../db/keyPairs';
import { instanceState, privateDnsName, publicDnsName } from './instanceXml';

const none = () => undefined;
const noneFor = <T>(names: readonly string[]): Record<string, FieldGetter<T>> => Object.fromEntries(names.map((n) => [n, none]));

/** DescribeInstances filters about network interfaces: an EC2-Classic instance has none. */
export const NETWORK_INTERFACE_FILTERS = [
  'addresses.association.allocation-id', 'addresses.association.association-id', 'addresses.association.carrier-ip',
  'addresses.association.customer-owned-ip', 'addresses.association.ip-owner-id', 'addresses.association.public-dns-name',
  'addresses.association.public-ip', 'addresses.primary', 'addresses.private-dns-name', 'addresses.private-ip-address',
  'association.allocation-id', 'association.association-id', 'association.carrier-ip', 'association.customer-owned-ip',
  'association.ip-owner-id', 'association.public-dns-name', 'association.public-ip', 'attachment.attach-time',
  'attachment.attachment-id', 'attachment.delete-on-termination', 'attachment.device-index', 'attachment.instance-id',
  'attachment.instance-owner-id', 'attachment.network-card-index', 'attachment.status', 'availability-zone',
  'deny-all-igw-traffic', 'description', 'group-id', 'group-name', 'ipv4-prefixes.ipv4-prefix', 'ipv6-address',
  'ipv6-addresses.ipv6-address', 'ipv6-addresses.is-primary-ipv6', 'ipv6-native', 'ipv6-prefixes.ipv6-prefix', 'mac-address',
  'network-interface-id', 'operator.managed', 'operator.principal', 'outpost-arn', 'owner-id', 'private-dns-name',
  'private-ip-address', 'public-dns-name', 'requester-id', 'requester-managed', 'status', 'source-dest-check', 'subnet-id',
  'tag-key', 'tag-value', 'vpc-id',
].map((n) => `network-interface.${n}`);

/** DescribeInstances filters EC2 documents that nothing here has (no EBS, VPC, Spot, hosts, ...). */
export const INSTANCE_FILTERS_NOT_APPLICABLE = [
  'affinity', 'block-device-mapping.attach-time', 'block-device-mapping.delete-on-termination', 'block-device-mapping.device-name',
  'block-device-mapping.status', 'block-device-mapping.volume-id', 'boot-mode', 'capacity-reservation-id',
  'capacity-reservation-specification.capacity-reservation-preference',
  'capacity-reservation-specification.capacity-reservation-target.capacity-reservation-id',
  'capacity-reservation-specification.capacity-reservation-target.capacity-reservation-resource-group-arn',
  'current-instance-boot-mode', 'enclave-options.enabled', 'hibernation-options.configured', 'host-id', 'iam-instance-profile.arn',
  'iam-instance-profile.id', 'instance-lifecycle', 'ipv6-address', 'maintenance-options.auto-recovery',
  'metadata-options.http-endpoint', 'metadata-options.http-protocol-ipv4', 'metadata-options.http-protocol-ipv6',
  'metadata-options.http-put-response-hop-limit', 'metadata-options.http-tokens', 'metadata-options.instance-metadata-tags',
  'metadata-options.state', 'network-performance-options.bandwidth-weighting', 'operator.managed', 'operator.principal',
  'outpost-arn', 'placement-group-name', 'placement-partition-number', 'platform', 'platform-details',
  'private-dns-name-options.enable-resource-name-dns-a-record', 'private-dns-name-options.enable-resource-name-dns-aaaa-record',
  'private-dns-name-options.hostname-type', 'product-code', 'product-code.type', 'requester-id', 'source-dest-check',
  'spot-instance-request-id', 'subnet-id', 'tpm-support', 'usage-operation', 'usage-operation-update-time', 'vpc-id',
  // the EC2-Classic era's names of the network-interface association filters
  'association.public-ip', 'association.ip-owner-id', 'association.allocation-id', 'association.association-id',
  ...NETWORK_INTERFACE_FILTERS,
];

const groupIds = (i: InstanceRow) => i.groups.map((g) => g.id);
const groupNames = (i: InstanceRow) => i.groups.map((g) => g.name);

/**
 * DescribeInstances' filters. `images`: the instances' images by id (for the
 * kernel, ramdisk and root device an instance has from its image).
 */
export function instanceFilters(images: ReadonlyMap<string, ImageRow>, region: string): Record<string, FieldGetter<InstanceRow>> {
  const img = (i: InstanceRow) => images.get(i.imageId);
  return {
    ...noneFor<InstanceRow>(INSTANCE_FILTERS_NOT_APPLICABLE),
    architecture: () => 'x86_64',
    'availability-zone': (i) => i.zone,
    'availability-zone-id': (i) => i.zone,   // zone ids are the zone names here (DescribeAvailabilityZones)
    'client-token': (i) => i.clientToken || undefined,
    'dns-name': (i) => publicDnsName(i, region) || undefined,
    'ebs-optimized': () => 'false',
    'ena-support': () => 'false',
    hypervisor: () => 'xen',
    'image-id': (i) => i.imageId,
    'instance-id': (i) => i.id,
    'instance-state-code': (i) => String(instanceState(i.state).code),
    'instance-state-name': (i) => i.state,
    'instance-type': (i) => i.instanceType,
    'instance.group-id': groupIds,
    'instance.group-name': groupNames,
    // EC2-Classic's names of the same
    'group-id': groupIds,
    'group-name': groupNames,
    'ip-address': (i) => i.publicIp,
    'kernel-id': (i) => i.kernelId ?? img(i)?.kernelId,
    'key-name': (i) => i.keyName,
    'launch-index': (i) => String(i.launchIndex),
    'launch-time': (i) => i.launchedAt.toISOString(),
    'monitoring-state': (i) => i.monitoring ?? 'disabled',
    'owner-id': (i) => i.accountId,
    'private-dns-name': (i) => privateDnsName(i, region) || undefined,
    'private-ip-address': (i) => (i.state === 'terminated' ? null : i.privateIp),
    'ramdisk-id': (i) => i.ramdiskId ?? img(i)?.ramdiskId,
    reason: (i) => i.stateTransitionReason || undefined,
    'reservation-id': (i) => i.reservationId,
    'root-device-name': (i) => img(i)?.rootDeviceName,
    'root-device-type': () => 'instance-store',
    'state-reason-code': (i) => i.stateReasonCode,
    'state-reason-message': (i) => (i.stateReasonCode ? i.stateReasonMessage ?? i.stateReasonCode : undefined),
    tenancy: () => 'default',
    'virtualization-type': () => 'hvm',
  };
}

/** DescribeImages filters EC2 documents that nothing here has (EBS, marketplace, copies, ...). */
export const IMAGE_FILTERS_NOT_APPLICABLE = [
  'block-device-mapping.delete-on-termination', 'block-device-mapping.snapshot-id', 'block-device-mapping.volume-size',
  'block-device-mapping.volume-type', 'block-device-mapping.encrypted', 'ena-support', 'free-tier-eligible', 'image-allowed',
  'owner-alias', 'platform', 'product-code', 'product-code.type', 'source-image-id', 'source-image-region', 'source-instance-id',
  'state-reason-code', 'state-reason-message', 'sriov-net-support',
];

export type TaggedImage = ImageRow & { tags?: { key: string; value: string }[] };

export const imageFilters: Record<string, FieldGetter<TaggedImage>> = {
  ...noneFor<TaggedImage>(IMAGE_FILTERS_NOT_APPLICABLE),
  architecture: (i) => i.architecture,
  'block-device-mapping.device-name': (i) => i.rootDeviceName ?? undefined,
  'creation-date': (i) => i.createdAt.toISOString(),
  description: (i) => i.description,
  hypervisor: () => 'xen',
  'image-id': (i) => i.id,
  'image-type': (i) => i.imageType,
  'is-public': (i) => String(i.isPublic),
  'kernel-id': (i) => i.kernelId ?? undefined,
  'manifest-location': (i) => i.imageLocation ?? undefined,
  name: (i) => i.name,
  'owner-id': (i) => i.accountId,
  'ramdisk-id': (i) => i.ramdiskId ?? undefined,
  'root-device-name': (i) => i.rootDeviceName ?? undefined,
  'root-device-type': () => 'instance-store',
  state: (i) => i.state,
  'virtualization-type': () => 'hvm',
};

export type TaggedAddress = AddressRow & { tags?: { key: string; value: string }[] };

/** DescribeAddresses: elastic IPs here are associated with instances, never with network interfaces. */
export function addressFilters(region: string): Record<string, FieldGetter<TaggedAddress>> {
  return {
    'allocation-id': (r) => r.allocationId,
    'association-id': (r) => r.associationId,
    domain: (r) => r.domain,
    'instance-id': (r) => r.instanceId,
    'network-border-group': () => region,
    'network-interface-id': none,
    'network-interface-owner-id': none,
    'private-ip-address': (r) => r.privateIp,
    'public-ip': (r) => r.publicIp,
    'public-ipv4-pool': () => 'amazon',
  };
}

export const keyPairFilters: Record<string, FieldGetter<KeyPairRow>> = {
  fingerprint: (k) => k.fingerprint,
  'key-name': (k) => k.name,
  'key-pair-id': (k) => k.id,
  'key-type': (k) => k.keyType,
};
