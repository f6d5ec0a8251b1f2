// CLC activities of the Walrus lifecycle run (workflows/walrus/lifecycle.ts):
// which buckets have rules, and applying them to one bucket a page of keys at a
// time (each page its own activity, so a restart resumes at the page it was on).
// Deleting a version removes its file from the Walrus data directory this
// worker shares with the S3 listener (one machine: config.walrusDir).
import { Context } from '@temporalio/activity';
import { config } from '../../lib/config';
import * as db from '../../db/walrus';
import * as cfg from '../../db/walrusConfigs';
import { Walrus } from '../../walrus/engine';
import { applyBatch, abortUploads, daySecondsFromEnv, type LifecycleRule, type LifecycleCounts, zeroCounts } from '../../walrus/lifecycle';

export interface LifecycleActivityOptions {
  /** the Walrus data directory (default config.walrusDir) */
  dataDir?: string;
  /** seconds in a lifecycle day (default EUCA_LIFECYCLE_DAY_SECONDS or 86400) */
  daySeconds?: number;
  /** keys per applyLifecycleBatch */
  pageSize?: number;
}

export interface LifecycleBatchResult { cursor: string | null; counts: LifecycleCounts }

export function createLifecycleActivities(opts: LifecycleActivityOptions = {}) {
  let walrus: Walrus | undefined;
  const engine = () => (walrus ??= new Walrus(opts.dataDir ?? config.walrusDir));
  const daySeconds = () => opts.daySeconds ?? daySecondsFromEnv();
  const heartbeat = () => { try { Context.current().heartbeat(); } catch { /* not in an activity (tests) */ } };
  async function load(bucket: string) {
    const [b, rules] = await Promise.all([db.getBucket(bucket), cfg.getBucketConfig<LifecycleRule[]>(bucket, 'lifecycle')]);
    return b && rules ? { b, rules } : undefined;
  }
  return {
    /** Buckets with a lifecycle configuration (only those of `only` when given). */
    async lifecycleBuckets(only: string[] | null): Promise<string[]> {
      const all = await cfg.bucketsWithConfig('lifecycle');
      return only ? all.filter((b) => only.includes(b)) : all;
    },
    /** Applies a bucket's rules to the page of keys after `cursor`; a bucket gone or without rules is done. */
    async applyLifecycleBatch(bucket: string, now: number, cursor: string | null): Promise<LifecycleBatchResult> {
      const l = await load(bucket);
      if (!l) return { cursor: null, counts: zeroCounts() };
      return applyBatch({ walrus: engine(), bucket: l.b, rules: l.rules, now, daySeconds: daySeconds() }, cursor, opts.pageSize ?? 200, heartbeat);
    },
    /** AbortIncompleteMultipartUpload of a bucket's rules. */
    async abortExpiredUploads(bucket: string, now: number): Promise<number> {
      const l = await load(bucket);
      if (!l) return 0;
      return abortUploads({ walrus: engine(), bucket: l.b, rules: l.rules, now, daySeconds: daySeconds() }, heartbeat);
    },
  };
}

export type LifecycleActivities = ReturnType<typeof createLifecycleActivities>;
