// Elastic IPs: AssociateAddress, DisassociateAddress and ReleaseAddress as workflows
// (database change + NAT on the zone's CC, undone when the CC cannot apply it), and
// the steps the launch, stop/terminate and reconcile workflows call for public addresses.
//
// Each operation: one CLC activity changes the rows in one transaction and returns the
// NAT changes (with sequence numbers, so a late change never overwrites a newer one on
// the CC) and an undo record; the CC applies the changes; if the CC fails (gone, or the
// data plane refuses) the rows are restored (only where nobody changed them since) and
// the CC is told to apply the restored state (best effort: a CC that comes back
// rebuilds its NAT from the database anyway, see syncZoneNat).
import { ApplicationFailure, ActivityCancellationType, CancellationScope, log, proxyActivities } from '@temporalio/workflow';
import { clc, timeouts } from './lib/hosts';
import type { CcNatActivities } from '../activities/network/cc';
import { describeFailure, ec2Code } from './lib/failures';
import type { AddressRef, DisassociateRef, AddressChange } from '../db/addresses';

// The NAT activities of a zone's CC (same options as the other CC steps, workflows/lib/hosts.ts).
const cc = (zone: string) => proxyActivities<CcNatActivities>({
  taskQueue: `cc.${zone}`, scheduleToStartTimeout: timeouts.hostScheduleToStart, startToCloseTimeout: '1 minute',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '500 milliseconds', maximumInterval: '5 seconds', maximumAttempts: 3 },
});
/** Clean-up on a CC that may be gone: one short try. */
const ccCleanup = (zone: string) => proxyActivities<CcNatActivities>({
  taskQueue: `cc.${zone}`, scheduleToStartTimeout: '10 seconds', startToCloseTimeout: '1 minute', retry: { maximumAttempts: 2 },
});

export interface AssociateAddressInput {
  accountId: string;
  ref: AddressRef;
  instanceId: string;
  privateIp?: string;
  allowReassociation?: boolean;
}
export interface AssociateAddressResult { publicIp: string; allocationId: string; associationId: string; instanceId: string }
export interface DisassociateAddressInput { accountId: string; ref: DisassociateRef }
export interface ReleaseAddressInput { accountId: string; ref: AddressRef }

/** The EC2 code of a failure that is the caller's: rethrown as is; anything else is the CC's. */
export const ADDRESS_ERROR_CODES = [
  'AddressLimitExceeded', 'InsufficientAddressCapacity', 'InvalidAddress.NotFound', 'InvalidAllocationID.NotFound',
  'InvalidAssociationID.NotFound', 'InvalidInstanceID.NotFound', 'InvalidParameterValue', 'InvalidParameterCombination',
  'Resource.AlreadyAssociated', 'IncorrectInstanceState', 'IncorrectState', 'InvalidIPAddress.InUse', 'InvalidAddress.InUse',
  'AuthFailure', 'Unavailable',
];

function callerError(err: unknown): ApplicationFailure | undefined {
  const code = ec2Code(err);
  if (!code || !ADDRESS_ERROR_CODES.includes(code)) return undefined;
  let e: any = err;
  while (e && !(e instanceof ApplicationFailure && e.type === code)) e = e.cause;
  return ApplicationFailure.create({ type: code, message: String(e?.message ?? code), nonRetryable: true });
}

/** Apply the NAT changes on the zone's CC; on failure restore the rows and fail with Unavailable. */
async function applyOrUndo(r: AddressChange, what: string): Promise<void> {
  if (!r.changes.length) return;
  try {
    await cc(r.zone).applyNat(r.changes);
  } catch (err) {
    log.warn('CC could not apply the address change; undoing it', { what, zone: r.zone, error: describeFailure(err) });
    await CancellationScope.nonCancellable(async () => {
      const back = await clc.eipRestore(r.undo);
      if (back.zone && back.changes.length) await ccCleanup(back.zone).applyNat(back.changes).catch(() => undefined);
    });
    throw ApplicationFailure.create({
      type: 'Unavailable', nonRetryable: true,
      message: `The cluster controller of ${r.zone} could not apply the change (${what}); nothing was changed. Try again later.`,
    });
  }
}

/** Instances that lost their public address get a launch address again (EC2-Classic); best effort. */
async function reassignLaunchAddresses(instanceIds: string[]): Promise<void> {
  for (const id of instanceIds) {
    try { await assignLaunchAddressStep(id); } catch (err) { log.warn('no new launch address', { instanceId: id, error: describeFailure(err) }); }
  }
}

export async function associateAddress(input: AssociateAddressInput): Promise<AssociateAddressResult> {
  let r: Awaited<ReturnType<typeof clc.eipAssociate>>;
  try {
    r = await clc.eipAssociate(input);
  } catch (err) { throw callerError(err) ?? err; }
  await applyOrUndo(r, `associate ${r.address.publicIp} with ${input.instanceId}`);
  await reassignLaunchAddresses(r.orphaned);
  return { publicIp: r.address.publicIp, allocationId: r.address.allocationId, associationId: r.address.associationId!, instanceId: input.instanceId };
}

export async function disassociateAddress(input: DisassociateAddressInput): Promise<void> {
  let r: Awaited<ReturnType<typeof clc.eipDisassociate>>;
  try {
    r = await clc.eipDisassociate(input.accountId, input.ref);
  } catch (err) { throw callerError(err) ?? err; }
  await applyOrUndo(r, `disassociate ${input.ref.publicIp ?? input.ref.associationId}`);
  await reassignLaunchAddresses(r.orphaned);
}

export async function releaseAddress(input: ReleaseAddressInput): Promise<void> {
  let r: Awaited<ReturnType<typeof clc.eipRelease>>;
  try {
    r = await clc.eipRelease(input.accountId, input.ref);
  } catch (err) { throw callerError(err) ?? err; }
  await applyOrUndo(r, `release ${input.ref.publicIp ?? input.ref.allocationId}`);
  await reassignLaunchAddresses(r.orphaned);
}

// ---------------------------------------------------------------- steps for other workflows

/**
 * Launch / start: give the instance a public address from its zone's pool (unless it has
 * one, or EUCA_LAUNCH_PUBLIC_IP=0) and program it on the CC. Call it once the instance's
 * private address is final (after placeAndBoot). Returns the address or null. If the CC
 * fails the address is released again and the failure thrown.
 */
export async function assignLaunchAddressStep(instanceId: string): Promise<string | null> {
  const a = await clc.assignLaunchAddress(instanceId);
  if (!a) return null;
  try {
    await cc(a.zone).applyNat([a.change]);
  } catch (err) {
    await CancellationScope.nonCancellable(() => releaseInstanceAddressesStep(instanceId));
    throw err;
  }
  return a.publicIp;
}

/**
 * Stop / terminate (and compensation of a launch): the launch address goes back to the
 * pool, an elastic IP is disassociated (stays allocated); the CC forgets both. A CC that
 * is gone is not waited for: it rebuilds its NAT from the database when it starts.
 */
export async function releaseInstanceAddressesStep(instanceId: string): Promise<void> {
  const r = await clc.releaseLaunchAddress(instanceId);
  if (r.zone && r.changes.length) await ccCleanup(r.zone).applyNat(r.changes).catch((err) => {
    log.warn('CC did not remove the public address; its reconcile will', { instanceId, error: describeFailure(err) });
  });
}

/** Reconcile: the zone's CC programs exactly what the database says (call from reconcileZone). */
export async function syncZoneNat(zone: string): Promise<{ changed: number; entries: number }> {
  const s = await clc.zoneNatState(zone);
  const r = await cc(zone).syncNat(s.entries, s.seq);
  return { changed: r.changed, entries: s.entries.length };
}
