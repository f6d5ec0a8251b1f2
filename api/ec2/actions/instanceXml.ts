// The EC2 shape of an instance and a reservation (as botocore's model names them).
import { stateCodes, type InstanceRow } from '../../../db/instances';

export function instanceState(state: string) {
  return { code: stateCodes[state] ?? 0, name: state };
}

export function instanceItem(i: InstanceRow, region: string) {
  const privateDns = i.privateIp ? `ip-${i.privateIp.replace(/\./g, '-')}.${region}.compute.internal` : '';
  return {
    instanceId: i.id,
    imageId: i.imageId,
    instanceState: instanceState(i.state),
    privateDnsName: i.state === 'terminated' ? '' : privateDns,
    dnsName: i.publicIp ? `euca-${i.publicIp.replace(/\./g, '-')}.${region}.compute.amazonaws.com` : '',
    reason: i.stateTransitionReason ?? '',
    keyName: i.keyName ?? undefined,
    amiLaunchIndex: i.launchIndex,
    productCodes: [],
    instanceType: i.instanceType,
    launchTime: i.launchedAt,
    placement: { availabilityZone: i.zone, groupName: '', tenancy: 'default' },
    monitoring: { state: 'disabled' },
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
