// Instance actions: validate and translate, start the workflow, render the answer.
import crypto from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/client';
import type { Ec2Context } from '../router';
import type { InputObject } from '../../model/queryInput';
import { dryRunCheck } from '../router';
import { Ec2Error, ec2Errors } from '../errors';
import { applyFilters, paginate } from './filters';
import { inputFilters, maxResultsOf, tagsForType } from './tags';
import { instanceFilters } from './resourceFilters';
import { instanceItem, instanceState, reservationItems } from './instanceXml';
import { listInstances, findReservationByToken, type InstanceRow } from '../../../db/instances';
import { getImage, type ImageRow } from '../../../db/catalog';
import { TERMINATED_VISIBLE_MS } from '../../../db/tags';
import { getKeyPair } from '../../../db/keyPairs';
import { config } from '../../../lib/config';
import { instanceIdPattern, imageIdPattern } from '../../../lib/ids';
import { startWithUpdate, temporal, toEc2Error } from '../../operations';
import { runInstances, admissionUpdate } from '../../../workflows/runInstances';
import { terminateInstance } from '../../../workflows/terminateInstance';
import { stopInstance } from '../../../workflows/stopInstance';
import { startInstance } from '../../../workflows/startInstance';
import { rebootInstance } from '../../../workflows/rebootInstance';
import { getConsoleOutput } from '../../../workflows/getConsoleOutput';
import { acceptedUpdate } from '../../../workflows/lib/accepted';
import { resolveRunInstancesGroups } from './securityGroups';
import type { RunInstancesInput, StateChange, TagInput } from '../../../workflows/types';

// AWS keeps terminated instances visible for about an hour (TERMINATED_VISIBLE_MS, db/tags.ts: their tags stay as long).

/** The flat parameters as sent (ctx.params), so a retried launch hashes the same whatever the model makes of them. */
function paramsHash(params: Record<string, string>): string {
  const ignore = /^(Action|Version|ClientToken|DryRun|X-Amz-.*|AWSAccessKeyId|Signature.*|Timestamp|Expires)$/;
  const entries = Object.entries(params).filter(([k]) => !ignore.test(k)).sort(([a], [b]) => a.localeCompare(b));
  return crypto.createHash('sha256').update(JSON.stringify(entries)).digest('hex');
}

/** The InstanceIds of an instance action, well-formed, duplicates dropped; `requiredList`: at least one (MissingParameter). */
export function instanceIds(ctx: Ec2Context, requiredList: boolean): string[] {
  const ids = (ctx.input.InstanceIds ?? []) as string[];   // the model's InstanceId.N of every instance action
  if (requiredList && ids.length === 0) throw ec2Errors.missingParameter('InstanceId');
  for (const id of ids) if (!instanceIdPattern.test(id)) throw ec2Errors.instanceMalformed(id);
  return [...new Set(ids)];
}

/** The caller's instances with these ids; any id not theirs is NotFound (never another account's). */
async function ownInstances(accountId: string, ids: string[]): Promise<InstanceRow[]> {
  const rows = await listInstances(accountId, ids);
  const found = new Set(rows.map((r) => r.id));
  const missing = ids.filter((id) => !found.has(id));
  if (missing.length === 1) throw ec2Errors.instanceNotFound(missing[0]);
  if (missing.length > 1) throw new Ec2Error('InvalidInstanceID.NotFound', `The instance IDs '${missing.join(', ')}' do not exist`);
  return rows;
}

/** MinCount / MaxCount: 1 to 1000 (the model only knows they are integers). */
function countOf(input: InputObject, member: 'MinCount' | 'MaxCount'): number {
  const n = input[member] as number;   // required by the model
  if (n < 1 || n > 1000) {
    throw new Ec2Error('InvalidParameterValue', `Value (${n}) for parameter ${member} is invalid. Expected a value between 1 and 1000.`);
  }
  return n;
}

const visible = (i: InstanceRow) => i.state !== 'terminated' || Date.now() - i.updatedAt.getTime() < TERMINATED_VISIBLE_MS;

export async function RunInstances(ctx: Ec2Context) {
  const input = ctx.input;
  const imageId = input.ImageId as string | undefined;   // not required by the model (launch templates): required here
  if (imageId === undefined) throw ec2Errors.missingParameter('ImageId');
  if (!imageIdPattern.test(imageId)) throw ec2Errors.amiMalformed(imageId);
  const minCount = countOf(input, 'MinCount');
  const maxCount = countOf(input, 'MaxCount');
  if (minCount > maxCount) throw new Ec2Error('InvalidParameterValue', 'MinCount must be less than or equal to MaxCount');
  const instanceType = (input.InstanceType as string | undefined) ?? 'm1.small';
  const zone = ((input.Placement as InputObject | undefined)?.AvailabilityZone as string | undefined) || undefined;
  const clientToken = (input.ClientToken as string | undefined) || undefined;
  if (clientToken && clientToken.length > 64) throw new Ec2Error('InvalidParameterValue', 'ClientToken must be at most 64 characters');
  const userData = input.UserData as string | undefined;
  if (userData !== undefined) {
    if (!/^[A-Za-z0-9+/=\s]*$/.test(userData)) throw new Ec2Error('InvalidParameterValue', 'Invalid BASE64 encoding of user data.');
    if (Buffer.from(userData, 'base64').length > 16 * 1024) throw new Ec2Error('InvalidParameterValue', 'User data is limited to 16384 bytes');
  }
  // Instances are the one resource a launch makes here (instance store: no volumes; EC2-Classic: no interfaces).
  const tags: TagInput[] = tagsForType(input, 'instance').map((t) => ({ resourceType: 'instance', ...t }));
  const keyName = input.KeyName as string | undefined;
  if (keyName !== undefined && !(await getKeyPair(ctx.accountId, keyName))) throw new Ec2Error('InvalidKeyPair.NotFound', `The key pair '${keyName}' does not exist`);
  const groups = await resolveRunInstancesGroups(ctx.accountId, input);
  // Instance attributes set at launch (the model checked the types and the stop|terminate enum).
  const disableApiTermination = input.DisableApiTermination === true;
  const shutdownBehavior = input.InstanceInitiatedShutdownBehavior as RunInstancesInput['shutdownBehavior'];
  const monitoring = (input.Monitoring as { Enabled?: boolean } | undefined)?.Enabled === true;
  dryRunCheck(ctx);

  const launch: RunInstancesInput = {
    accountId: ctx.accountId, requestId: ctx.requestId, clientToken, paramsHash: paramsHash(ctx.params), imageId, instanceType,
    minCount, maxCount, zone, userData, keyName, tags, securityGroupIds: groups.map((g) => g.id),
    disableApiTermination, shutdownBehavior, monitoring,
  };
  const workflowId = clientToken ? `RunInstances-${ctx.accountId}-${clientToken}` : `RunInstances-${ctx.requestId}`;
  let reservationId: string;
  try {
    const admission = await startWithUpdate(runInstances, admissionUpdate, [launch.paramsHash], {
      workflowId, args: [launch], operation: 'RunInstances', accountId: ctx.accountId, zone,
      reuse: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,   // a refused launch frees its token
    });
    reservationId = admission.reservationId;
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError) || !clientToken) throw err;
    // The same token launched before and that launch is over: answer with what it made.
    const prior = await findReservationByToken(ctx.accountId, clientToken);
    if (!prior) throw toEc2Error(err);
    if (prior.params_hash !== launch.paramsHash) {
      throw new Ec2Error('IdempotentParameterMismatch', 'Arguments on this idempotent request are inconsistent with arguments used in previous request(s).');
    }
    reservationId = prior.id;
  }
  const rows = (await listInstances(ctx.accountId)).filter((i) => i.reservationId === reservationId);
  const [res] = reservationItems(rows, config.region);
  return { ...res, requesterId: undefined };
}


/** The images of these instances by id, whatever their state now (an instance keeps what it booted). */
async function imagesOf(rows: InstanceRow[]): Promise<Map<string, ImageRow>> {
  const ids = [...new Set(rows.map((r) => r.imageId))];
  const found = await Promise.all(ids.map((id) => getImage(id)));
  return new Map(found.filter((i): i is ImageRow => !!i).map((i) => [i.id, i]));
}

export async function DescribeInstances(ctx: Ec2Context) {
  const ids = instanceIds(ctx, false);
  const maxResults = maxResultsOf(ctx.input, 5, 1000);
  const nextToken = ctx.input.NextToken as string | undefined;
  if (maxResults !== undefined && ids.length) {
    throw new Ec2Error('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
  }
  const filters = inputFilters(ctx.input);
  const rows = ids.length ? await ownInstances(ctx.accountId, ids) : (await listInstances(ctx.accountId)).filter(visible);
  dryRunCheck(ctx);
  const fields = instanceFilters(filters.length ? await imagesOf(rows) : new Map(), config.region);
  const { page, nextToken: next } = paginate(applyFilters(rows, filters, fields), maxResults, nextToken);
  return { reservationSet: reservationItems(page, config.region), nextToken: next };
}

/** Runs one workflow per instance (ids from the caller's own instances) and collects the state changes. */
async function perInstance(ctx: Ec2Context, operation: string, run: (i: InstanceRow) => Promise<StateChange>, check?: (rows: InstanceRow[]) => void) {
  const ids = instanceIds(ctx, true);
  const rows = await ownInstances(ctx.accountId, ids);
  check?.(rows);      // refusals that depend on the instances (before DryRun too)
  dryRunCheck(ctx);   // after the ownership check: DryRun answers as the real call would
  const byId = new Map(rows.map((r) => [r.id, r]));
  const results = await Promise.allSettled(ids.map((id) => run(byId.get(id)!)));
  const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  if (failed) throw failed.reason instanceof Ec2Error ? failed.reason : toEc2Error(failed.reason);
  ctx.log.info({ operation, instances: ids }, 'operation accepted');
  return {
    instancesSet: results.map((r) => {
      const c = (r as PromiseFulfilledResult<StateChange>).value;
      return { instanceId: c.instanceId, currentState: instanceState(c.current), previousState: instanceState(c.previous) };
    }),
  };
}

export async function TerminateInstances(ctx: Ec2Context) {
  return perInstance(ctx, 'TerminateInstances', (i) => startWithUpdate(terminateInstance, acceptedUpdate, [], {
    workflowId: `terminate-${i.id}`, args: [{ instanceId: i.id, accountId: ctx.accountId }],
    operation: 'TerminateInstances', accountId: ctx.accountId, instanceId: i.id, zone: i.zone,
  }), (rows) => {
    // DisableApiTermination: the whole call is refused, nothing is terminated.
    const locked = rows.find((i) => i.disableApiTermination && i.state !== 'terminated');
    if (locked) {
      throw new Ec2Error('OperationNotPermitted',
        `The instance '${locked.id}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.`);
    }
  });
}

export async function StopInstances(ctx: Ec2Context) {
  return perInstance(ctx, 'StopInstances', (i) => startWithUpdate(stopInstance, acceptedUpdate, [], {
    workflowId: `stop-${i.id}`, args: [{ instanceId: i.id, accountId: ctx.accountId }],
    operation: 'StopInstances', accountId: ctx.accountId, instanceId: i.id, zone: i.zone,
  }));
}

export async function StartInstances(ctx: Ec2Context) {
  return perInstance(ctx, 'StartInstances', (i) => startWithUpdate(startInstance, acceptedUpdate, [], {
    workflowId: `start-${i.id}`, args: [{ instanceId: i.id, accountId: ctx.accountId }],
    operation: 'StartInstances', accountId: ctx.accountId, instanceId: i.id, zone: i.zone,
  }));
}

export async function RebootInstances(ctx: Ec2Context) {
  const ids = instanceIds(ctx, true);
  const rows = await ownInstances(ctx.accountId, ids);
  for (const i of rows) {
    if (i.state === 'terminated') throw new Ec2Error('IncorrectInstanceState', `The instance '${i.id}' is not in a state from which it can be rebooted.`);
  }
  dryRunCheck(ctx);
  // AWS queues the reboot and answers at once.
  await Promise.all(rows.map((i) => temporal().workflow.start(rebootInstance, {
    taskQueue: 'clc', workflowId: `reboot-${i.id}-${ctx.requestId}`, args: [{ instanceId: i.id, accountId: ctx.accountId }],
    searchAttributes: { InstanceId: [i.id], AccountId: [ctx.accountId], Operation: ['RebootInstances'], Zone: [i.zone] },
  })));
  return { return: true };
}

export async function GetConsoleOutput(ctx: Ec2Context) {
  const id = ctx.input.InstanceId as string;   // required by the model
  if (!instanceIdPattern.test(id)) throw ec2Errors.instanceMalformed(id);
  const [i] = await ownInstances(ctx.accountId, [id]);
  dryRunCheck(ctx);
  const output = await temporal().workflow.execute(getConsoleOutput, {
    taskQueue: 'clc', workflowId: `console-${i.id}-${ctx.requestId}`, args: [i.id],
    searchAttributes: { InstanceId: [i.id], AccountId: [ctx.accountId], Operation: ['GetConsoleOutput'] },
  });
  return { instanceId: i.id, timestamp: new Date(), output: Buffer.from(output, 'utf8').toString('base64') };
}

export async function DescribeInstanceStatus(ctx: Ec2Context) {
  const ids = instanceIds(ctx, false);
  const includeAll = ctx.input.IncludeAllInstances === true;
  const maxResults = maxResultsOf(ctx.input, 5, 1000);
  const nextToken = ctx.input.NextToken as string | undefined;
  if (maxResults !== undefined && ids.length) {
    throw new Ec2Error('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
  }
  const filters = inputFilters(ctx.input);
  let rows = ids.length ? await ownInstances(ctx.accountId, ids) : (await listInstances(ctx.accountId)).filter(visible);
  dryRunCheck(ctx);
  // Only running instances unless IncludeAllInstances, named ones included (as AWS).
  if (!includeAll) rows = rows.filter((i) => i.state === 'running');
  const summary = (i: InstanceRow) => (i.state === 'running' ? 'ok' : 'not-applicable');
  const reachability = (i: InstanceRow) => (i.state === 'running' ? 'passed' : undefined);
  rows = applyFilters(rows, filters, {
    'availability-zone': (i) => i.zone, 'instance-state-name': (i) => i.state,
    'instance-state-code': (i) => String(instanceState(i.state).code),
    'system-status.status': summary, 'instance-status.status': summary,
    'system-status.reachability': reachability, 'instance-status.reachability': reachability,
    // no scheduled events (maintenance, retirement) ever: the event filters match nothing
    'event.code': () => undefined, 'event.description': () => undefined, 'event.instance-event-id': () => undefined,
    'event.not-after': () => undefined, 'event.not-before': () => undefined, 'event.not-before-deadline': () => undefined,
  });
  const { page, nextToken: next } = paginate(rows, maxResults, nextToken);
  const status = (i: InstanceRow) => (i.state === 'running'
    ? { status: 'ok', details: [{ name: 'reachability', status: 'passed' }] }
    : { status: 'not-applicable' });
  return {
    instanceStatusSet: page.map((i) => ({
      instanceId: i.id, availabilityZone: i.zone, availabilityZoneId: i.zone, instanceState: instanceState(i.state),
      eventsSet: [], systemStatus: status(i), instanceStatus: status(i),
    })),
    nextToken: next,
  };
}
