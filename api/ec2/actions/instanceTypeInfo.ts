// What DescribeInstanceTypes says about one of the cloud's instance types (the
// `instance_types` table), and the burstable-credit facts of a type name, as
// AWS answers them for the same names. Pure functions; the handlers are in
// catalog.ts (DescribeInstanceTypes) and instanceAttributes.ts (credits).
import type { InstanceTypeDef } from '../../../lib/config';
import type { FieldGetter } from './filters';

/** AWS's previous-generation families (m1.small, c1.medium, t1.micro, ...): currentGeneration false. */
const PREVIOUS_GENERATION = /^(t1|m1|m2|m3|c1|c3|cc1|cc2|cg1|cr1|g2|hi1|hs1|i2|r3)\./;

/** Burstable performance types: the T families. */
export function isBurstable(type: string): boolean {
  return /^t\d+[a-z]*\./.test(type);
}

/**
 * The CPU credit option of an instance of this type, as DescribeInstanceCreditSpecifications
 * answers it: T2 (and T1) launch `standard`, T3 and later `unlimited`; a type that is not
 * burstable is answered `standard` too (AWS does the same for a named non-burstable instance).
 */
export function defaultCpuCredits(type: string): 'standard' | 'unlimited' {
  const m = /^t(\d+)/.exec(type);
  return m && Number(m[1]) >= 3 ? 'unlimited' : 'standard';
}

function networkPerformance(t: InstanceTypeDef): string {
  if (isBurstable(t.name)) return t.vcpus <= 1 ? 'Very Low' : 'Low to Moderate';
  return t.vcpus <= 1 ? 'Low' : t.vcpus <= 2 ? 'Moderate' : 'High';
}

/** One InstanceTypeInfo (EC2's XML names). */
export function instanceTypeInfo(t: InstanceTypeDef) {
  const perf = networkPerformance(t);
  return {
    instanceType: t.name,
    currentGeneration: !PREVIOUS_GENERATION.test(t.name),
    freeTierEligible: false,
    supportedUsageClasses: ['on-demand'],
    supportedRootDeviceTypes: ['instance-store'],
    supportedVirtualizationTypes: ['hvm'],
    bareMetal: false,
    hypervisor: 'xen',   // botocore's enum has nitro and xen; QEMU is neither
    processorInfo: { supportedArchitectures: ['x86_64'] },
    vCpuInfo: { defaultVCpus: t.vcpus, defaultCores: t.vcpus, defaultThreadsPerCore: 1 },
    memoryInfo: { sizeInMiB: t.memoryMiB },
    instanceStorageSupported: true,
    instanceStorageInfo: {
      totalSizeInGB: t.diskGiB, disks: [{ sizeInGB: t.diskGiB, count: 1, type: 'hdd' }],
      nvmeSupport: 'unsupported', encryptionSupport: 'unsupported',
    },
    ebsInfo: { ebsOptimizedSupport: 'unsupported', encryptionSupport: 'unsupported', nvmeSupport: 'unsupported' },
    networkInfo: {
      networkPerformance: perf, maximumNetworkInterfaces: 1, maximumNetworkCards: 1, defaultNetworkCardIndex: 0,
      networkCards: [{ networkCardIndex: 0, networkPerformance: perf, maximumNetworkInterfaces: 1 }],
      ipv4AddressesPerInterface: 1, ipv6AddressesPerInterface: 0, ipv6Supported: false,
      enaSupport: 'unsupported', efaSupported: false, encryptionInTransitSupported: false, enaSrdSupported: false,
    },
    placementGroupInfo: { supportedStrategies: [] },
    hibernationSupported: false,
    burstablePerformanceSupported: isBurstable(t.name),
    dedicatedHostsSupported: false,
    autoRecoverySupported: false,
    supportedBootModes: ['legacy-bios'],
    nitroEnclavesSupport: 'unsupported',
    nitroTpmSupport: 'unsupported',
    phcSupport: 'unsupported',
  };
}

/** DescribeInstanceTypes filters (AWS's names) over the same facts. */
export const instanceTypeFilters: Record<string, FieldGetter<InstanceTypeDef & { tags?: [] }>> = {
  'instance-type': (t) => t.name,
  'current-generation': (t) => String(!PREVIOUS_GENERATION.test(t.name)),
  'free-tier-eligible': () => 'false',
  'bare-metal': () => 'false',
  'burstable-performance-supported': (t) => String(isBurstable(t.name)),
  'hypervisor': () => 'xen',
  'hibernation-supported': () => 'false',
  'dedicated-hosts-supported': () => 'false',
  'auto-recovery-supported': () => 'false',
  'instance-storage-supported': () => 'true',
  'instance-storage-info.total-size': (t) => String(t.diskGiB),
  'instance-storage-info.disk.size-in-gb': (t) => String(t.diskGiB),
  'instance-storage-info.disk.count': () => '1',
  'instance-storage-info.disk.type': () => 'hdd',
  'memory-info.size-in-mib': (t) => String(t.memoryMiB),
  'vcpu-info.default-vcpus': (t) => String(t.vcpus),
  'vcpu-info.default-cores': (t) => String(t.vcpus),
  'vcpu-info.default-threads-per-core': () => '1',
  'processor-info.supported-architecture': () => 'x86_64',
  'supported-root-device-type': () => 'instance-store',
  'supported-usage-class': () => 'on-demand',
  'supported-virtualization-type': () => 'hvm',
  'supported-boot-mode': () => 'legacy-bios',
  'network-info.network-performance': (t) => networkPerformance(t),
  'network-info.maximum-network-interfaces': () => '1',
  'network-info.ipv4-addresses-per-interface': () => '1',
  'network-info.ipv6-supported': () => 'false',
  'network-info.ena-support': () => 'unsupported',
  'ebs-info.ebs-optimized-support': () => 'unsupported',
  'ebs-info.encryption-support': () => 'unsupported',
  'nitro-enclaves-support': () => 'unsupported',
  'nitro-tpm-support': () => 'unsupported',
};
