// CLC activities: the database side of every workflow (task queue `clc`).
// Thin wrappers over db/; each is idempotent because the db functions are.
import { Client } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import * as instances from '../../db/instances';
import { getZone, getImage, type ImageRow } from '../../db/catalog';
import { config } from '../../lib/config';
import { presignUrl } from '../../walrus/presign';
import { listNodes } from '../../db/nodes';
import { getPool } from '../../db/pool';
import { ec2Failure } from '../../db/errors';
import { zoneRuleSet } from '../../db/securityRules';
import { metadataDoc, metadataDocsInNetwork } from './metadata';
import { addressActivities } from '../../db/addresses';
import { getNetwork, networksInZone, retireNetworkIfUnused, deleteNetwork } from '../../db/networks';
import { gatewayOf } from '../../lib/ipv4';
import { createLifecycleActivities } from './lifecycle';
import type { RunInstancesInput, Admission, BootPlan, ZoneNetworkPlan, ImageFileRef, ShutdownPlan } from '../../workflows/types';

/** Where nodes reach Walrus (the S3 listener); EUCA_WALRUS_INTERNAL_URL overrides. */
export function walrusInternalUrl(): string {
  if (process.env.EUCA_WALRUS_INTERNAL_URL) return process.env.EUCA_WALRUS_INTERNAL_URL;
  const host = config.s3Host === '0.0.0.0' || config.s3Host === '::' ? '127.0.0.1' : config.s3Host;
  return `http://${host}:${config.s3Port}`;
}

/** A presigned, short-lived GET of the object holding an image's bytes, signed with the image owner's key. */
async function walrusRef(img: ImageRow): Promise<ImageFileRef | undefined> {
  if (!img.objectBucket || !img.objectKey || !img.sha256) return undefined;
  const [keys] = await getPool().query<any[]>(
    'SELECT access_key_id, secret_key FROM access_keys WHERE account_id = ? AND active ORDER BY created_at, access_key_id LIMIT 1', [img.accountId]);
  if (!keys[0]) throw ec2Failure('InvalidAMIID.Unavailable', `The image '${img.id}' is unavailable: its owner has no active key to read it from Walrus`);
  const url = presignUrl({
    endpoint: walrusInternalUrl(), bucket: img.objectBucket, key: img.objectKey, accessKeyId: keys[0].access_key_id,
    secretAccessKey: keys[0].secret_key, region: config.region, expiresSeconds: config.imageUrlExpirySeconds,
  });
  return { url, sha256: img.sha256, size: img.sizeBytes ?? null, imageId: img.id };
}

/** The files a node needs for an EMI: its EKI/ERI from Walrus, or the local files of an image registered from disk. */
async function imageFiles(img: ImageRow): Promise<Pick<BootPlan, 'kernelPath' | 'ramdiskPath' | 'kernelSha256' | 'ramdiskSha256' | 'kernel' | 'ramdisk' | 'disk'> | undefined> {
  const out: Pick<BootPlan, 'kernelPath' | 'ramdiskPath' | 'kernelSha256' | 'ramdiskSha256' | 'kernel' | 'ramdisk' | 'disk'> = {
    kernelPath: img.kernelPath ?? '', ramdiskPath: img.ramdiskPath ?? '', kernelSha256: img.kernelSha256, ramdiskSha256: img.ramdiskSha256,
  };
  for (const [which, id] of [['kernel', img.kernelId], ['ramdisk', img.ramdiskId]] as const) {
    if (!id) continue;
    const part = await getImage(id);
    if (!part || part.state === 'failed') throw ec2Failure('InvalidAMIID.Unavailable', `The ${which} image '${id}' of '${img.id}' is unavailable`);
    const ref = await walrusRef(part);
    if (ref) out[which] = ref;
    else if (which === 'kernel' && part.kernelPath) { out.kernelPath = part.kernelPath; out.kernelSha256 = part.kernelSha256; }
    else if (which === 'ramdisk' && part.ramdiskPath) { out.ramdiskPath = part.ramdiskPath; out.ramdiskSha256 = part.ramdiskSha256; }
  }
  if (img.imageType === 'machine' && img.objectBucket) {
    const ref = await walrusRef(img);
    if (ref) out.disk = { ...ref, format: img.diskFormat === 'qcow2' ? 'qcow2' : 'raw' };
  }
  if (!(out.kernel || out.kernelPath) || !(out.ramdisk || out.ramdiskPath)) return undefined;
  return out;
}

async function networkPlanOf(networkId: string, zoneName: string): Promise<ZoneNetworkPlan> {
  const [net, zone, nodes] = await Promise.all([getNetwork(networkId), getZone(zoneName), listNodes(zoneName)]);
  if (!net) throw ec2Failure('InvalidParameterValue', `The network '${networkId}' does not exist`);
  if (!zone || !zone.ccUnderlayIp) throw ec2Failure('InvalidParameterValue', `Invalid availability zone: [${zoneName}]`);
  return {
    networkId, zone: zone.name, vni: net.vni, subnet: net.subnet, gatewayIp: gatewayOf(net.subnet), ccUnderlayIp: zone.ccUnderlayIp,
    nodeUnderlayIps: Object.fromEntries(nodes.map((n) => [n.name, n.underlayIp])),
  };
}

export function createClcActivities(client: Client) {
  return {
    zoneRuleSet, // security-group desired state of a zone (workflows/applySecurityRules.ts)
    ...createLifecycleActivities(), // Walrus S3 lifecycle rules (workflows/walrus/lifecycle.ts)
    ...addressActivities, // public addresses (db/addresses.ts, workflows/associateAddress.ts)
    metadataDoc,
    metadataDocsInNetwork,
    async admitReservation(input: RunInstancesInput, reservationId: string, workflowId: string, instanceIds: string[]): Promise<Admission> {
      return instances.admitReservation(input, reservationId, workflowId, instanceIds);
    },
    async placeInstance(instanceId: string, exclude: string[]): Promise<string> {
      return instances.placeInstance(instanceId, exclude);
    },
    async releaseCapacity(instanceId: string): Promise<void> { await instances.releaseCapacity(instanceId); },
    async releaseAll(instanceId: string): Promise<void> { await instances.releaseAll(instanceId); },
    async transition(instanceId: string, from: string[], to: string, reason?: { code?: string; message?: string; transition?: string }) {
      return instances.transition(instanceId, from, to, reason);
    },
    async instanceState(instanceId: string): Promise<{ state: string; node: string | null; zone: string } | undefined> {
      const i = await instances.getInstance(instanceId);
      return i && { state: i.state, node: i.node, zone: i.zone };
    },
    /** A guest powered itself off: where the instance runs and what it becomes (InstanceInitiatedShutdownBehavior). */
    async shutdownPlan(instanceId: string): Promise<ShutdownPlan | undefined> {
      const i = await instances.getInstance(instanceId);
      return i && { state: i.state, node: i.node, zone: i.zone, accountId: i.accountId, behavior: i.shutdownBehavior };
    },
    /** Everything a node needs to boot the instance where the DB placed it. */
    async bootPlan(instanceId: string): Promise<BootPlan> {
      const i = await instances.getInstance(instanceId);
      if (!i) throw ec2Failure('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
      const [[t]] = await getPool().query<any[]>('SELECT * FROM instance_types WHERE name = ?', [i.instanceType]) as any;
      // Admission checked the launch permission; an instance keeps booting (reboot, start,
      // reconcile) from its image even if that is deregistered or unshared later.
      const img = await getImage(i.imageId);
      const notFound = () => ec2Failure('InvalidAMIID.NotFound', `The image id '[${i.imageId}]' does not exist`);
      if (!img || img.state === 'failed') throw notFound();
      // ModifyInstanceAttribute kernel / ramdisk: the instance's own EKI / ERI instead of its image's.
      const files = await imageFiles({ ...img, kernelId: i.kernelId ?? img.kernelId, ramdiskId: i.ramdiskId ?? img.ramdiskId });
      if (!files) throw notFound();
      const net = i.networkId ? await getNetwork(i.networkId) : undefined;
      if (!i.node || !i.mac || !i.privateIp || !net) throw ec2Failure('IncorrectInstanceState', `The instance '${instanceId}' is not placed`);
      return {
        instanceId, accountId: i.accountId, zone: i.zone, node: i.node, vcpus: t.vcpus, memoryMiB: t.memory_mib,
        imageId: img.id, ...files, mac: i.mac, privateIp: i.privateIp, vni: net.vni,
        hostname: 'ip-' + i.privateIp.replace(/\./g, '-'),
      };
    },
    /** MAC, address and network of an instance: what the DHCP and metadata clean-ups need. */
    async addressing(instanceId: string): Promise<{ mac: string | null; privateIp: string | null; networkId: string | null }> {
      const i = await instances.getInstance(instanceId);
      return { mac: i?.mac ?? null, privateIp: i?.privateIp ?? null, networkId: i?.networkId ?? null };
    },
    /** The network an instance lives on, as its zone's CC and NCs build it. */
    async networkPlan(instanceId: string): Promise<ZoneNetworkPlan> {
      const i = await instances.getInstance(instanceId);
      if (!i?.networkId) throw ec2Failure('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
      return networkPlanOf(i.networkId, i.zone);
    },
    /** Every network the zone's CC should carry (reconcile), retired ones flagged for removal. */
    async zoneNetworkPlans(zone: string): Promise<(ZoneNetworkPlan & { retired: boolean })[]> {
      const nets = await networksInZone(zone);
      return Promise.all(nets.map(async (n) => ({ ...(await networkPlanOf(n.id, zone)), retired: n.state === 'deleting' })));
    },
    /** After its last instance: the network leaves its group; returns its plan for tearing it down. */
    async retireNetworkIfUnused(networkId: string, zone: string): Promise<ZoneNetworkPlan | undefined> {
      const n = await retireNetworkIfUnused(networkId);
      return n && networkPlanOf(n.id, zone);
    },
    async deleteNetwork(networkId: string): Promise<void> { await deleteNetwork(networkId); },
    async instancesExpectedOnNode(node: string): Promise<string[]> { return instances.instancesExpectedOnNode(node); },
    async addressesInNetwork(networkId: string) { return instances.addressesInNetwork(networkId); },
    /** Cancels another workflow (a launch or start in flight) and waits until it has closed. */
    async cancelAndWaitClosed(workflowId: string): Promise<void> {
      const handle = client.workflow.getHandle(workflowId);
      try {
        const d = await handle.describe();
        if (d.status.name !== 'RUNNING') return;
        await handle.cancel();
        for (;;) {
          Context.current().heartbeat();
          const s = await handle.describe();
          if (s.status.name !== 'RUNNING') return;
          await new Promise((r) => setTimeout(r, 500));
        }
      } catch (e: any) {
        if (e?.name === 'WorkflowNotFoundError') return;
        throw e;
      }
    },
    async recordOperation(op: { workflowId: string; accountId: string; action: string; resourceId?: string; state: 'running' | 'completed' | 'failed'; error?: string }) {
      await getPool().query(
        `INSERT INTO operations (workflow_id, account_id, action, resource_id, state, error) VALUES (?, ?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE state = VALUES(state), error = VALUES(error), ended_at = IF(VALUES(state) = 'running', NULL, UTC_TIMESTAMP(3))`,
        [op.workflowId, op.accountId, op.action, op.resourceId ?? null, op.state, op.error?.slice(0, 500) ?? null]);
    },
  };
}
export type ClcActivities = ReturnType<typeof createClcActivities>;
