// CLC activities: the database side of every workflow (task queue `clc`).
// Thin wrappers over db/; each is idempotent because the db functions are.
import { Client } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import * as instances from '../../db/instances';
import { getZone, getVisibleImage } from '../../db/catalog';
import { listNodes } from '../../db/nodes';
import { getPool } from '../../db/pool';
import { ec2Failure } from '../../db/errors';
import { gatewayOf } from '../../lib/ipv4';
import type { RunInstancesInput, Admission, BootPlan, ZoneNetworkPlan } from '../../workflows/types';

export function createClcActivities(client: Client) {
  return {
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
    /** Everything a node needs to boot the instance where the DB placed it. */
    async bootPlan(instanceId: string): Promise<BootPlan> {
      const i = await instances.getInstance(instanceId);
      if (!i) throw ec2Failure('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
      const [[t]] = await getPool().query<any[]>('SELECT * FROM instance_types WHERE name = ?', [i.instanceType]) as any;
      const img = await getVisibleImage(i.accountId, i.imageId);
      if (!img || !img.kernelPath || !img.ramdiskPath) throw ec2Failure('InvalidAMIID.NotFound', `The image id '[${i.imageId}]' does not exist`);
      const zone = await getZone(i.zone);
      if (!i.node || !i.mac || !i.privateIp || !zone) throw ec2Failure('IncorrectInstanceState', `The instance '${instanceId}' is not placed`);
      return {
        instanceId, accountId: i.accountId, zone: i.zone, node: i.node, vcpus: t.vcpus, memoryMiB: t.memory_mib,
        imageId: img.id, kernelPath: img.kernelPath, ramdiskPath: img.ramdiskPath, kernelSha256: img.kernelSha256,
        ramdiskSha256: img.ramdiskSha256, mac: i.mac, privateIp: i.privateIp, vni: zone.vni,
        hostname: 'ip-' + i.privateIp.replace(/\./g, '-'),
      };
    },
    async zoneNetworkPlan(zoneName: string): Promise<ZoneNetworkPlan> {
      const zone = await getZone(zoneName);
      if (!zone || !zone.ccUnderlayIp) throw ec2Failure('InvalidParameterValue', `Invalid availability zone: [${zoneName}]`);
      const nodes = await listNodes(zoneName);
      return {
        zone: zone.name, vni: zone.vni, subnet: zone.subnet, gatewayIp: gatewayOf(zone.subnet), ccUnderlayIp: zone.ccUnderlayIp,
        nodeUnderlayIps: Object.fromEntries(nodes.map((n) => [n.name, n.underlayIp])),
      };
    },
    async instancesExpectedOnNode(node: string): Promise<string[]> { return instances.instancesExpectedOnNode(node); },
    async addressesInZone(zone: string) { return instances.addressesInZone(zone); },
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
