// An NC worker (task queue `nc.<node>`): runs VMs in its host's namespace.
// It registers the node's capacity, heartbeats, and on start destroys any VM
// the database does not place here.
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/client';
import { config, names, paths } from '../lib/config';
import { temporalClient } from '../lib/temporal';
import { makeLogger } from '../lib/log';
import { planHosts } from '../activities/network/hosts';
import { createNcActivities } from '../activities/hypervisor/nc';
import { resolveAccel } from '../activities/hypervisor/qemu';
import { registerNode, heartbeatNode } from '../db/nodes';
import { reconcileNode } from '../workflows/reconcile';
import { instanceInitiatedShutdown } from '../workflows/instanceInitiatedShutdown';
import { startGuestWatch } from '../activities/hypervisor/guestWatch';
import { argValue, runWorker } from './common';

async function main() {
  const node = argValue('node') ?? config.nodes[0];
  const zone = argValue('zone') ?? config.zone;
  const log = makeLogger(`nc.${node}`);
  const plan = planHosts(config.prefix, config.underlayCidr, zone, config.nodes);
  const me = plan.nodes.find((n) => n.name === node);
  if (!me) throw new Error(`node ${node} is not in EUCA_NODES (${config.nodes.join(',')})`);
  const accel = await resolveAccel(config.accel);
  await registerNode({ name: node, zone, underlayIp: me.underlayIp, vcpus: config.nodeVcpus, memoryMiB: config.nodeMemoryMiB, diskGiB: config.nodeDiskGiB });
  log.info({ accel, underlayIp: me.underlayIp }, 'node registered');
  const beat = setInterval(() => heartbeatNode(node).catch((err) => log.warn({ err: String(err) }, 'heartbeat failed')), config.nodeHeartbeatMs);
  const client = await temporalClient();
  // A guest that powers itself off: its InstanceInitiatedShutdownBehavior (stop or terminate) applies.
  const stopWatch = startGuestWatch({
    runRoot: paths.hostDir(node), intervalMs: config.nodeHeartbeatMs,
    report: async (instanceId) => {
      log.info({ instanceId }, 'guest powered itself off');
      await client.workflow.start(instanceInitiatedShutdown, {
        taskQueue: names.clcQueue, workflowId: `shutdown-${instanceId}`, args: [{ instanceId, node }],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING, workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        searchAttributes: { InstanceId: [instanceId], Operation: ['InstanceInitiatedShutdown'] },
      });
    },
    onError: (instanceId, err) => log.warn({ instanceId, err: String(err) }, 'guest watch failed'),
  });
  await runWorker(`nc.${node}`, {
    taskQueue: names.ncQueue(node),
    activities: createNcActivities({ node, netns: names.netns(node), runRoot: paths.hostDir(node), cacheDir: paths.cacheDir(node), accel }),
    maxConcurrentActivityTaskExecutions: 20,
  }, async () => {
    const result = await client.workflow.execute(reconcileNode, {
      taskQueue: names.clcQueue, workflowId: `reconcile-node-${node}`, args: [node],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    });
    log.info(result, 'node reconciled with the database');
  });
  clearInterval(beat);
  stopWatch();
}
main().catch((err) => { console.error(err); process.exit(1); });
