// A CC worker (task queue `cc.<zone>`): owns the zone's network in the CC host's namespace.
// On start it asks for the zone's data plane to be rebuilt from the database.
import { WorkflowIdConflictPolicy } from '@temporalio/client';
import { config, names, paths } from '../lib/config';
import { temporalClient } from '../lib/temporal';
import { makeLogger } from '../lib/log';
import { createCcActivities } from '../activities/network/cc';
import { reconcileZone } from '../workflows/reconcile';
import { argValue, runWorker } from './common';

async function main() {
  const zone = argValue('zone') ?? config.zone;
  const host = names.ccHost(zone);
  const log = makeLogger(`cc.${zone}`);
  const client = await temporalClient();
  await runWorker(`cc.${zone}`, {
    taskQueue: names.ccQueue(zone),
    activities: createCcActivities({ zone, netns: names.netns(host), stateDirFor: (vni) => paths.netDir(host, vni), hostDir: paths.hostDir(host) }),
  }, async () => {
    const r = await client.workflow.execute(reconcileZone, {
      taskQueue: names.clcQueue, workflowId: `reconcile-zone-${zone}`, args: [zone],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    });
    log.info(r, 'zone network reconciled from the database');
  });
}
main().catch((err) => { console.error(err); process.exit(1); });
