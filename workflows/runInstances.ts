// RunInstances: admit the reservation (validate, pick zone and nodes, hold
// capacity, addresses and MACs, write the rows), answer the API, then launch
// each instance in its own child workflow.
import {
  defineUpdate, setHandler, condition, uuid4, workflowInfo, startChild, ParentClosePolicy, ApplicationFailure,
  allHandlersFinished, upsertSearchAttributes,
} from '@temporalio/workflow';
import { clc } from './lib/hosts';
import { ec2Code, describeFailure } from './lib/failures';
import { idFromUuid } from '../lib/ids';
import { launchInstance } from './launchInstance';
import type { RunInstancesInput, Admission } from './types';

/** The API waits on this update: it returns once the instance rows exist (AWS answers while they are pending). */
export const admissionUpdate = defineUpdate<Admission, [string]>('admission');

export async function runInstances(input: RunInstancesInput): Promise<Admission> {
  let admission: Admission | undefined;
  let failure: ApplicationFailure | undefined;
  setHandler(admissionUpdate, async (paramsHash: string) => {
    if (paramsHash !== input.paramsHash) {
      throw ApplicationFailure.create({ type: 'IdempotentParameterMismatch', nonRetryable: true,
        message: 'Arguments on this idempotent request are inconsistent with arguments used in previous request(s).' });
    }
    await condition(() => admission !== undefined || failure !== undefined);
    if (failure) throw failure;
    return admission!;
  });

  const { workflowId } = workflowInfo();
  const reservationId = idFromUuid('r', uuid4());
  const instanceIds = Array.from({ length: input.maxCount }, () => idFromUuid('i', uuid4()));
  await clc.recordOperation({ workflowId, accountId: input.accountId, action: 'RunInstances', resourceId: reservationId, state: 'running' });
  try {
    admission = await clc.admitReservation(input, reservationId, workflowId, instanceIds);
  } catch (err) {
    failure = ApplicationFailure.create({ type: ec2Code(err) ?? 'InternalError', message: describeFailure(err).replace(/^Activity task failed: /, ''), nonRetryable: true });
    await clc.recordOperation({ workflowId, accountId: input.accountId, action: 'RunInstances', resourceId: reservationId, state: 'failed', error: failure.message });
    await condition(allHandlersFinished);
    throw failure;   // a failed admission frees the ClientToken for a retry
  }
  upsertSearchAttributes({ Zone: [admission.zone] });

  const children = await Promise.all(admission.instanceIds.map((instanceId) => startChild(launchInstance, {
    workflowId: `launch-${instanceId}`,
    args: [{ instanceId, accountId: input.accountId, zone: admission!.zone }],
    parentClosePolicy: ParentClosePolicy.ABANDON,
    searchAttributes: { InstanceId: [instanceId], AccountId: [input.accountId], Zone: [admission!.zone], Operation: ['RunInstances'] },
  })));
  await Promise.allSettled(children.map((c) => c.result()));
  await clc.recordOperation({ workflowId, accountId: input.accountId, action: 'RunInstances', resourceId: reservationId, state: 'completed' });
  await condition(allHandlersFinished);
  return admission;
}
