// The EC2 shape of an instance and a reservation (as botocore's model names them).
import { stateCodes, type InstanceRow } from '../../../db/instances';

export function instanceState(state: string) {
  return { code: stateCodes[state] ?? 0, name: state };
}

/**
 * The private DNS name EC2 gives an instance (ip-10-1-2-3.<region>.compute.internal);
 * '' once it has no private address (terminated), as EC2 answers an empty name.
 */
export function privateDnsName(i: InstanceRow, region: string): string {
  return i.privateIp && i.state !== 'terminated' ? `ip-${i.privateIp.replace(/\./g, '-')}.${region}.compute.internal` : '';
}

/** The public DNS name of an instance with a public address (euca-100-64-1-2....); '' without one (stopped, terminated). */
export function publicDnsName(i: InstanceRow, region: string): string {
  return i.publicIp ? `euca-${i.publicIp.replace(/\./g, '-')}.${region}.compute.amazonaws.com` : '';
}

export function instanceItem(i: InstanceRow, region: string) {
  return {
    instanceId: i.id,
    imageId: i.imageId,
    instanceState: instanceState(i.state),
    // always present, '' when there is none, as EC2 answers them
    privateDnsName: privateDnsName(i, region),
    dnsName: publicDnsName(i, region),
    reason: i.stateTransitionReason ?? '',
    keyName: i.keyName ?? undefined,
    amiLaunchIndex: i.launchIndex,
    productCodes: [],
    instanceType: i.instanceType,
    launchTime: i.launchedAt,
    placement: { availabilityZone: i.zone, groupName: '', tenancy: 'default' },
    monitoring: { state: i.monitoring },
    privateIpAddress: i.state === 'terminated' ? undefined : i.privateIp ?? undefined,
    ipAddress: i.publicIp ?? undefined,
    groupSet: i.groups.map((g) => ({ groupId: g.id, groupName: g.name })),
    stateReason: i.stateReasonCode ? { code: i.stateReasonCode, message: i.stateReasonMessage ?? i.stateReasonCode } : undefined,
    architecture: 'x86_64',
    rootDeviceType: 'instance-store',
    blockDeviceMapping: [],
    virtualizationType: 'hvm',
    clientToken: i.clientToken ?? '',
    tagSet: i.tags.length ? i.tags.map((t) => ({ key: t.key, value: t.value })) : undefined,
    hypervisor: 'xen',   // botocore's enum has only ovm and xen
    networkInterfaceSet: [],
    ebsOptimized: false,
    enaSupport: false,
  };
}

export function reservationItems(rows: InstanceRow[], region: string) {
  const byRes = new Map<string, InstanceRow[]>();
  for (const r of rows) { const l = byRes.get(r.reservationId) ?? []; l.push(r); byRes.set(r.reservationId, l); }
  return [...byRes.entries()].map(([reservationId, list]) => ({
    reservationId,
    ownerId: list[0].accountId,
    groupSet: list[0].groups.map((g) => ({ groupId: g.id, groupName: g.name })),
    instancesSet: list.map((i) => instanceItem(i, region)),
  }));
}
