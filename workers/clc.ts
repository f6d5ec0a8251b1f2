// The CLC worker: runs every workflow and the database activities (task queue `clc`).
import { temporalClient } from '../lib/temporal';
import { createClcActivities } from '../activities/clc';
import { runWorker } from './common';
import { ensureLifecycleSchedule } from '../walrus/lifecycleSchedule';
import { makeLogger } from '../lib/log';

async function main() {
  const client = await temporalClient();
  await runWorker('clc', {
    taskQueue: 'clc',
    workflowsPath: require.resolve('../workflows'),
    activities: createClcActivities(client),
    maxConcurrentActivityTaskExecutions: 20,
  }, async () => {
    // Walrus' S3 lifecycle runs on a Temporal Schedule (EUCA_LIFECYCLE_INTERVAL_S): made sure of at every start.
    const log = makeLogger('clc');
    for (let attempt = 1; ; attempt++) {
      try {
        log.info({ scheduleId: await ensureLifecycleSchedule(client) }, 'lifecycle schedule in place');
        return;
      } catch (err) {
        if (attempt >= 10) throw err;
        log.warn({ err: String(err), attempt }, 'lifecycle schedule not in place yet; retrying');
        await new Promise((r) => setTimeout(r, 1000 * attempt));
      }
    }
  });
}
main().catch((err) => { console.error(err); process.exit(1); });
