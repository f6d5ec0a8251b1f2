// The metadata document of an instance, assembled from the database (what the
// CC writes for the metadata service to serve to the guest).
import * as instances from '../../db/instances';
import { getZone } from '../../db/catalog';
import { getNetwork } from '../../db/networks';
import { getKeyPair } from '../../db/keyPairs';
import { groupsOfInstance } from '../../db/securityGroups';
import { config } from '../../lib/config';
import { ec2Failure } from '../../db/errors';
import type { InstanceMetadataDoc } from '../../metadata/doc';

export async function metadataDoc(instanceId: string): Promise<InstanceMetadataDoc> {
  const i = await instances.getInstance(instanceId);
  if (!i || !i.privateIp || !i.mac) throw ec2Failure('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
  const zone = await getZone(i.zone);
  const key = i.keyName ? await getKeyPair(i.accountId, i.keyName) : undefined;
  const groups = await groupsOfInstance(instanceId).catch(() => []);
  return {
    instanceId: i.id, imageId: i.imageId, instanceType: i.instanceType, reservationId: i.reservationId, launchIndex: i.launchIndex,
    accountId: i.accountId, region: zone?.region ?? config.region, zone: i.zone, privateIp: i.privateIp, mac: i.mac, publicIp: i.publicIp ?? undefined,
    hostname: `ip-${i.privateIp.replace(/\./g, '-')}.${zone?.region ?? config.region}.compute.internal`,
    securityGroups: groups.length ? groups.map((g: any) => g.name) : ['default'],
    userData: i.userData ?? undefined, keyName: key?.name, openSshKey: key?.publicKey, subnetCidr: i.networkId ? (await getNetwork(i.networkId))?.subnet : undefined,
    launchedAt: i.launchedAt.toISOString(),
  };
}

/** Documents of every instance holding an address on the network (reconcile). */
export async function metadataDocsInNetwork(networkId: string): Promise<InstanceMetadataDoc[]> {
  const docs: InstanceMetadataDoc[] = [];
  for (const a of await instances.addressesInNetwork(networkId)) docs.push(await metadataDoc(a.instanceId));
  return docs;
}
