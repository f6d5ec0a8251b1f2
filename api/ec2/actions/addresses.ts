// Elastic IPs: AllocateAddress, AssociateAddress, DisassociateAddress, ReleaseAddress,
// DescribeAddresses. EC2-Classic `standard` addresses (named by PublicIp) and VPC-style
// `vpc` ones (AllocationId / AssociationId) are both served; every address has both ids.
// Allocate and Describe are database calls; Associate, Disassociate and Release are
// workflows (database + the CC's NAT, undone if the CC fails), awaited before answering,
// so an address answers on the network when the call returns.
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Ec2Context } from '../router';
import { dryRunCheck } from '../router';
import { Ec2Error, ec2Errors } from '../errors';
import { applyFilters } from './filters';
import { inputFilters, tagSetIfAny, tagsForType } from './tags';
import { addressFilters, type TaggedAddress } from './resourceFilters';
import { deleteResourceTags, withAccountTags } from '../../../db/tags';
import { dbCall } from './securityGroups';
import { temporal } from '../../operations';
import { config } from '../../../lib/config';
import { instanceIdPattern } from '../../../lib/ids';
import { listInstances } from '../../../db/instances';
import {
  allocateAddress, allocationIdPattern, associationIdPattern, getAddress, listAddresses,
  type AddressRef, type AddressRow, type DisassociateRef,
} from '../../../db/addresses';
import {
  ADDRESS_ERROR_CODES, associateAddress, disassociateAddress, releaseAddress,
} from '../../../workflows/associateAddress';

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function publicIpParam(v: string | undefined, name = 'PublicIp'): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (!IPV4.test(v)) throw new Ec2Error('InvalidParameterValue', `Invalid value '${v}' for ${name}. The value must be a valid IPv4 address.`);
  return v;
}
function allocationIdParam(v: string | undefined): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (!allocationIdPattern.test(v)) throw new Ec2Error('InvalidAllocationID.Malformed', `Invalid id: "${v}" (expecting "eipalloc-...")`);
  return v;
}
function associationIdParam(v: string | undefined): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (!associationIdPattern.test(v)) throw new Ec2Error('InvalidAssociationID.Malformed', `Invalid id: "${v}" (expecting "eipassoc-...")`);
  return v;
}

/** PublicIp or AllocationId, exactly one. */
function addressRef(ctx: Ec2Context): AddressRef {
  const ip = publicIpParam(ctx.input.PublicIp as string | undefined);
  const alloc = allocationIdParam(ctx.input.AllocationId as string | undefined);
  if (ip && alloc) throw new Ec2Error('InvalidParameterCombination', 'You may specify either a public IP address or an allocation ID, not both.');
  if (alloc) return { allocationId: alloc };
  if (ip) return { publicIp: ip };
  throw ec2Errors.missingParameter('PublicIp');
}

/** The EC2 error a workflow failed with (the caller's fault), else InternalError. */
function workflowError(err: unknown): Error {
  let e: any = err;
  while (e) {
    if (e instanceof ApplicationFailure && e.type && ADDRESS_ERROR_CODES.includes(e.type)) {
      return new Ec2Error(e.type, String(e.message).replace(/^Activity task failed: /, ''));
    }
    e = e.cause;
  }
  return err instanceof WorkflowFailedError ? ec2Errors.internal() : (err as Error);
}

async function runOperation<A extends any[], R>(workflow: (...a: A) => Promise<R>, args: A, ctx: Ec2Context, operation: string, instanceId?: string): Promise<R> {
  const searchAttributes: Record<string, string[]> = { AccountId: [ctx.accountId], Operation: [operation] };
  if (instanceId) searchAttributes.InstanceId = [instanceId];
  try {
    return await temporal().workflow.execute(workflow, {
      workflowId: `${operation}-${ctx.accountId}-${randomUUID()}`, taskQueue: 'clc', args, searchAttributes,
    } as any);
  } catch (err) {
    throw workflowError(err);
  }
}

function addressItem(a: TaggedAddress, region: string) {
  return {
    instanceId: a.instanceId ?? undefined,
    publicIp: a.publicIp,
    allocationId: a.allocationId,
    associationId: a.associationId ?? undefined,
    domain: a.domain,
    networkInterfaceId: undefined,
    privateIpAddress: a.privateIp ?? undefined,
    tagSet: tagSetIfAny(a.tags),
    publicIpv4Pool: 'amazon',
    networkBorderGroup: region,
  };
}

// ---------------------------------------------------------------- actions

export async function AllocateAddress(ctx: Ec2Context) {
  const domain = (ctx.input.Domain as 'standard' | 'vpc' | undefined) ?? 'standard';   // the model's enum
  const address = publicIpParam(ctx.input.Address as string | undefined, 'Address');
  const pool = ctx.input.PublicIpv4Pool as string | undefined;
  if (pool && pool !== 'amazon') throw new Ec2Error('InvalidParameterValue', `Invalid value '${pool}' for PublicIpv4Pool.`);
  const nbg = ctx.input.NetworkBorderGroup as string | undefined;
  if (nbg && nbg !== config.region) throw new Ec2Error('InvalidParameterValue', `Invalid value '${nbg}' for NetworkBorderGroup.`);
  const tags = tagsForType(ctx.input, 'elastic-ip');
  dryRunCheck(ctx);
  const a = await dbCall(allocateAddress(ctx.accountId, { domain, address, tags }));
  return { publicIp: a.publicIp, domain: a.domain, allocationId: a.allocationId, publicIpv4Pool: 'amazon', networkBorderGroup: config.region };
}

export async function AssociateAddress(ctx: Ec2Context) {
  const input = ctx.input;
  const ref = addressRef(ctx);
  if (input.NetworkInterfaceId) throw new Ec2Error('InvalidParameterCombination', 'Network interfaces are not supported by this cloud; associate the address with an instance.');
  const instanceId = input.InstanceId as string | undefined;
  if (!instanceId) throw ec2Errors.missingParameter('InstanceId');
  if (!instanceIdPattern.test(instanceId)) throw ec2Errors.instanceMalformed(instanceId);
  const privateIp = publicIpParam(input.PrivateIpAddress as string | undefined, 'PrivateIpAddress');
  const allowReassociation = input.AllowReassociation as boolean | undefined;
  // DryRun checks the address is the caller's before answering.
  if (ctx.dryRun) {
    await dbCall(getAddress(ctx.accountId, ref));
    const [own] = await listInstances(ctx.accountId, [instanceId]);
    if (!own || own.state === 'terminated') throw ec2Errors.instanceNotFound(instanceId);
    dryRunCheck(ctx);
  }
  const r = await runOperation(associateAddress, [{ accountId: ctx.accountId, ref, instanceId, privateIp, allowReassociation }], ctx, 'AssociateAddress', instanceId);
  return { return: true, associationId: r.associationId };
}

export async function DisassociateAddress(ctx: Ec2Context) {
  const ip = publicIpParam(ctx.input.PublicIp as string | undefined);
  const assoc = associationIdParam(ctx.input.AssociationId as string | undefined);
  if (ip && assoc) throw new Ec2Error('InvalidParameterCombination', 'You may specify either a public IP address or an association ID, not both.');
  if (!ip && !assoc) throw ec2Errors.missingParameter('PublicIp');
  const ref: DisassociateRef = assoc ? { associationId: assoc } : { publicIp: ip! };
  if (ctx.dryRun) { if (ip) await dbCall(getAddress(ctx.accountId, { publicIp: ip })); dryRunCheck(ctx); }
  await runOperation(disassociateAddress, [{ accountId: ctx.accountId, ref }], ctx, 'DisassociateAddress');
  return { return: true };
}

export async function ReleaseAddress(ctx: Ec2Context) {
  const ref = addressRef(ctx);
  const nbg = ctx.input.NetworkBorderGroup as string | undefined;
  if (nbg && nbg !== config.region) throw new Ec2Error('InvalidParameterValue', `Invalid value '${nbg}' for NetworkBorderGroup.`);
  const a = await dbCall(getAddress(ctx.accountId, ref));   // the caller's (the DryRun answer too), and its allocation id
  dryRunCheck(ctx);
  await runOperation(releaseAddress, [{ accountId: ctx.accountId, ref }], ctx, 'ReleaseAddress');
  // Gone for good only once the workflow is over (a CC that fails puts the address back, tags and all).
  await deleteResourceTags([a.allocationId]);
  return { return: true };
}

export async function DescribeAddresses(ctx: Ec2Context) {
  const ips = [...new Set((ctx.input.PublicIps ?? []) as string[])].map((v) => publicIpParam(v)!);
  const allocs = [...new Set((ctx.input.AllocationIds ?? []) as string[])].map((v) => allocationIdParam(v)!);
  const filters = inputFilters(ctx.input);
  let rows = await listAddresses(ctx.accountId);
  const missingIp = ips.find((ip) => !rows.some((r) => r.publicIp === ip));
  if (missingIp) throw new Ec2Error('InvalidAddress.NotFound', `Address '${missingIp}' not found.`);
  const missingAlloc = allocs.find((id) => !rows.some((r) => r.allocationId === id));
  if (missingAlloc) throw new Ec2Error('InvalidAllocationID.NotFound', `The allocation ID '${missingAlloc}' does not exist`);
  dryRunCheck(ctx);
  if (ips.length || allocs.length) rows = rows.filter((r) => ips.includes(r.publicIp) || allocs.includes(r.allocationId));
  const tagged = await withAccountTags(ctx.accountId, rows as TaggedAddress[], (r) => r.allocationId);
  const items = applyFilters(tagged, filters, addressFilters(config.region));
  return { addressesSet: items.map((a) => addressItem(a, config.region)) };
}
