// The CLC worker: runs every workflow and the database activities (task queue `clc`).
import { temporalClient } from '../lib/temporal';
import { createClcActivities } from '../activities/clc';
import { runWorker } from './common';

async function main() {
  const client = await temporalClient();
  await runWorker('clc', {
    taskQueue: 'clc',
    workflowsPath: require.resolve('../workflows'),
    activities: createClcActivities(client),
    maxConcurrentActivityTaskExecutions: 20,
  });
}
main().catch((err) => { console.error(err); process.exit(1); });
