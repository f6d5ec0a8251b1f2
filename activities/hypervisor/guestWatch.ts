// Guests that power themselves off. QEMU runs with -no-shutdown, so a guest's
// own `poweroff` leaves its QEMU process in the 'shutdown' run state rather
// than gone: unambiguous, unlike a missing process (killed, host rebooted,
// destroyed by a workflow). The NC worker polls its VMs and reports each such
// guest; the report starts a workflow (workflows/instanceInitiatedShutdown.ts)
// that applies the instance's InstanceInitiatedShutdownBehavior. Reports are
// idempotent (one workflow per instance at a time), so a report repeated on a
// later tick, or after an agent restart, does no harm.
import path from 'node:path';
import * as qemu from './qemu';
import { qmpExecute } from './qmp';

export interface GuestWatchOptions {
  /** the node's run root (VMs live in <runRoot>/vms/<instanceId>) */
  runRoot: string;
  intervalMs: number;
  /** called for a guest found powered off; rejections are logged by `onError` and retried on a later tick */
  report: (instanceId: string) => Promise<void>;
  onError?: (instanceId: string | undefined, err: unknown) => void;
  /** a guest reported is not reported again for this long (its workflow is at work) */
  quietMs?: number;
}

/**
 * Instance ids of the VMs on this node whose guest has powered off: QEMU's run
 * state is exactly 'shutdown' (not an internal or I/O error, which vmStatus
 * also reports as 'shutdown').
 */
export async function poweredOffGuests(runRoot: string): Promise<string[]> {
  const off: string[] = [];
  for (const id of await qemu.listVms(runRoot)) {
    try {
      const r = await qmpExecute<{ status: string }>(path.join(runRoot, 'vms', id, 'qmp.sock'), 'query-status', undefined, 2000);
      if (r.status === 'shutdown') off.push(id);
    } catch { /* QMP busy or the VM going away: look again next time */ }
  }
  return off;
}

/** Starts polling; returns the stop function. */
export function startGuestWatch(o: GuestWatchOptions): () => void {
  const reportedAt = new Map<string, number>();
  const quiet = o.quietMs ?? 30_000;
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const now = Date.now();
      const off = await poweredOffGuests(o.runRoot);
      for (const [id, t] of reportedAt) if (!off.includes(id) || now - t > quiet) reportedAt.delete(id);
      for (const id of off) {
        if (reportedAt.has(id)) continue;
        reportedAt.set(id, now);
        await o.report(id).catch((err) => { reportedAt.delete(id); o.onError?.(id, err); });
      }
    } catch (err) {
      o.onError?.(undefined, err);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), o.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
