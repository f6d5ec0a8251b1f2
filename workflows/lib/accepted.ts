// The API waits on `accepted` until the operation has made its first state
// change (AWS answers Stop/Start/Terminate with previous and current state).
import { defineUpdate, setHandler, condition, ApplicationFailure } from '@temporalio/workflow';
import type { StateChange } from '../types';

export const acceptedUpdate = defineUpdate<StateChange, []>('accepted');

export function acceptance() {
  let result: StateChange | undefined;
  let failure: ApplicationFailure | undefined;
  setHandler(acceptedUpdate, async () => {
    await condition(() => result !== undefined || failure !== undefined);
    if (failure) throw failure;
    return result!;
  });
  return {
    accept(change: StateChange) { result = change; },
    reject(code: string, message: string) {
      failure = ApplicationFailure.create({ type: code, message, nonRetryable: true });
      return failure;
    },
  };
}
