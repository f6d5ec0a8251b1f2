// Compensations registered next to the step they undo, run newest first.
import { CancellationScope, log } from '@temporalio/workflow';

export class Saga {
  private undo: { name: string; fn: () => Promise<unknown> }[] = [];
  add(name: string, fn: () => Promise<unknown>): void { this.undo.push({ name, fn }); }
  /** Runs every compensation even if the workflow is being cancelled; one failing does not stop the rest. */
  async compensate(): Promise<void> {
    await CancellationScope.nonCancellable(async () => {
      for (const { name, fn } of this.undo.reverse()) {
        try { await fn(); } catch (err) { log.warn('compensation failed', { step: name, error: String(err) }); }
      }
    });
    this.undo = [];
  }
}
