import { ActivityFailure, ApplicationFailure, TimeoutFailure, CancelledFailure, isCancellation } from '@temporalio/workflow';

/** A host that never picked the task up or stopped heartbeating: try elsewhere. */
export function isHostGone(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof TimeoutFailure;
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
