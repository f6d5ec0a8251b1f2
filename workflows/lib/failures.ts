import { ActivityFailure, ApplicationFailure, TimeoutFailure, CancelledFailure, isCancellation } from '@temporalio/workflow';

/**
 * A host that never picked the task up or stopped heartbeating: try elsewhere.
 * So is a host whose agent shut down (restart, redeploy) with the step still
 * running: the SDK core then fails the attempt as ApplicationFailure 'WorkerShutdown'.
 */
export function isHostGone(err: unknown): boolean {
  if (!(err instanceof ActivityFailure)) return false;
  return err.cause instanceof TimeoutFailure || (err.cause instanceof ApplicationFailure && err.cause.type === 'WorkerShutdown');
}

/** The EC2 error code carried by a failure, if any (ApplicationFailure type). */
export function ec2Code(err: unknown): string | undefined {
  let e: any = err;
  while (e) { if (e instanceof ApplicationFailure && e.type) return e.type; e = e.cause; }
  return undefined;
}

export function describeFailure(err: unknown): string {
  let e: any = err; const parts: string[] = [];
  while (e) { if (e.message) parts.push(e.message); e = e.cause; }
  return parts.join(': ') || String(err);
}

export { isCancellation, CancelledFailure };
