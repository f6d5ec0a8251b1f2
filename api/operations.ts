// Starting an EC2 operation as a Temporal workflow and waiting for its first
// answer (an Update). The API only translates: every decision is in the workflow.
import { randomUUID } from 'node:crypto';
import {
  Client, WithStartWorkflowOperation, WorkflowIdConflictPolicy, WorkflowIdReusePolicy,
  WorkflowExecutionAlreadyStartedError, WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Workflow, UpdateDefinition } from '@temporalio/common';
import { Ec2Error, ec2Errors } from './ec2/errors';

let client: Client | undefined;
export function setTemporalClient(c: Client) { client = c; }
export function temporal(): Client {
  if (!client) throw new Error('Temporal client not set');
  return client;
}

const passThrough = new Set(['InvalidAMIID.NotFound', 'InvalidParameterValue', 'InsufficientInstanceCapacity',
  'IdempotentParameterMismatch', 'IncorrectInstanceState', 'InvalidInstanceID.NotFound', 'Unsupported']);

/** Maps a workflow/update failure to the EC2 error it carries (an ApplicationFailure type), else InternalError. */
export function toEc2Error(err: unknown): Ec2Error {
  let e: any = err;
  while (e) {
    if (e instanceof ApplicationFailure && e.type && passThrough.has(e.type)) {
      const msg = String(e.message).replace(/^Activity task failed: /, '');
      return new Ec2Error(e.type, msg);
    }
    e = e.cause;
  }
  return ec2Errors.internal();
}

export interface StartOptions<A extends any[]> {
  workflowId: string;
  args: A;
  operation: string;
  accountId: string;
  instanceId?: string;
  zone?: string;
  reuse?: WorkflowIdReusePolicy;
}

/**
 * Starts the workflow (or joins the one already running under that id) and
 * runs `update` on it. Throws WorkflowExecutionAlreadyStartedError when the id
 * belongs to a closed workflow that may not be reused.
 */
export async function startWithUpdate<W extends Workflow, R, UA extends any[]>(
  workflow: W, update: UpdateDefinition<R, UA>, updateArgs: UA, o: StartOptions<Parameters<W>>,
): Promise<R> {
  const searchAttributes: Record<string, string[]> = { AccountId: [o.accountId], Operation: [o.operation] };
  if (o.instanceId) searchAttributes.InstanceId = [o.instanceId];
  if (o.zone) searchAttributes.Zone = [o.zone];
  const startWorkflowOperation = new WithStartWorkflowOperation(workflow, {
    workflowId: o.workflowId, taskQueue: 'clc', args: o.args,
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: o.reuse ?? WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    searchAttributes,
  } as any);
  try {
    return await temporal().workflow.executeUpdateWithStart(update, { args: updateArgs, startWorkflowOperation });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw err;
    if (err instanceof WorkflowUpdateFailedError) throw toEc2Error(err);
    throw err;
  }
}

export function newWorkflowSuffix(): string { return randomUUID(); }
