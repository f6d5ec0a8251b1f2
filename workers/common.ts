// What every worker process shares: one Temporal connection, graceful shutdown
// (in-flight activities get time to finish), one bounded DB pool where used.
import { Worker, WorkerOptions, Runtime, DefaultLogger, makeTelemetryFilterString } from '@temporalio/worker';
import { workerConnection } from '../lib/temporal';
import { config } from '../lib/config';
import { makeLogger } from '../lib/log';
import { closePool } from '../db/pool';

export function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

let runtimeInstalled = false;
export async function runWorker(component: string, options: Omit<WorkerOptions, 'connection' | 'namespace'>, onStarted?: () => Promise<void>) {
  const log = makeLogger(component);
  if (!runtimeInstalled) {
    // SDK, workflow and activity logs become pino lines of this process too:
    // one JSON line per step, with the workflow id (and our instanceId fields).
    const levels = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;
    Runtime.install({
      logger: new DefaultLogger('INFO', (entry) => {
        const { sdkComponent, taskQueue, namespace, ...rest } = (entry.meta ?? {}) as Record<string, unknown>;
        void namespace; void taskQueue;
        log[levels[entry.level]]({ sdk: sdkComponent, ...rest }, entry.message);
      }),
      telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } },
    });
    runtimeInstalled = true;
  }
  const connection = await workerConnection();
  const worker = await Worker.create({
    connection, namespace: config.temporalNamespace, shutdownGraceTime: '20 seconds', maxCachedWorkflows: 200, ...options,
  });
  log.info({ taskQueue: options.taskQueue }, 'worker starting');
  const running = worker.run();
  if (onStarted) onStarted().catch((err) => log.error({ err: String(err) }, 'start-up step failed'));
  await running;
  await connection.close();
  await closePool();
  log.info('worker stopped');
}
