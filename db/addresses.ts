// Public addresses: elastic IPs (AllocateAddress ... ReleaseAddress) and the public
// address an instance gets at launch. Every change of a zone's addresses runs in one
// transaction under the zone's row in address_seq and returns the NAT changes the CC
// must apply, each with its sequence number (the CC ignores older ones), plus what is
// needed to undo it (restoreAddresses) when the CC cannot apply it.
//
// EC2-Classic semantics (Eucalyptus' model):
//   - an instance has at most one public address; associating an elastic IP replaces
//     its launch address (back to the pool) or moves its other elastic IP off it;
//   - associating an address that is in use moves it (AllowReassociation=false
//     refuses: Resource.AlreadyAssociated); `vpc` addresses move only with
//     AllowReassociation=true, as in a VPC;
//   - only running instances take an address (IncorrectInstanceState otherwise);
//   - releasing an associated `standard` address disassociates it first; a `vpc` one
//     is refused (InvalidIPAddress.InUse);
//   - a public IP of another account: AuthFailure "does not belong to you" (what EC2
//     answered for Classic addresses); allocation and association ids of another account
//     are NotFound, like ids that never existed.
// Failures that are the caller's fault are ec2Failure (non-retryable, named by the code).
import crypto from 'node:crypto';
import { getPool, inTransaction, type Conn } from './pool';
import { ec2Failure } from './errors';
import { saveTags, type Tag } from './tags';
import { config } from '../lib/config';
import { publicPool, type NatChange, type NatEntry } from '../activities/network/elasticIps';

export interface AddressRow {
  publicIp: string; zone: string; accountId: string; domain: 'standard' | 'vpc'; allocationId: string;
  associationId: string | null; instanceId: string | null; privateIp: string | null; isLaunchAddress: boolean;
  natSeq: number; allocatedAt: Date; associatedAt: Date | null;
}

const rowOf = (r: any): AddressRow => ({
  publicIp: r.public_ip, zone: r.zone, accountId: r.account_id, domain: r.domain, allocationId: r.allocation_id,
  associationId: r.association_id, instanceId: r.instance_id, privateIp: r.private_ip, isLaunchAddress: !!r.is_launch_address,
  natSeq: Number(r.nat_seq), allocatedAt: asDate(r.allocated_at)!, associatedAt: asDate(r.associated_at),
});
const asDate = (v: unknown): Date | null => (v == null ? null : v instanceof Date ? v : new Date(`${String(v).replace(' ', 'T')}Z`));

/** Undo record of one row an operation changed: its state before, and the nat_seq the operation gave it (null: deleted). */
export interface AddressSnapshot { publicIp: string; zone: string; before: Record<string, unknown> | null; afterSeq: number | null }

export interface AddressChange {
  zone: string;
  changes: NatChange[];
  undo: AddressSnapshot[];
  /** instances that lost their public address to this change (they may get a launch address again) */
  orphaned: string[];
}

export type AddressRef = { publicIp: string; allocationId?: undefined } | { allocationId: string; publicIp?: undefined };

const hex17 = () => crypto.randomBytes(9).toString('hex').slice(0, 17);
export const newAllocationId = () => `eipalloc-${hex17()}`;
export const newAssociationId = () => `eipassoc-${hex17()}`;
export const allocationIdPattern = /^eipalloc-[0-9a-f]{8}([0-9a-f]{9})?$/;
export const associationIdPattern = /^eipassoc-[0-9a-f]{8}([0-9a-f]{9})?$/;

// ---------------------------------------------------------------- pools

/** The pool of public addresses of a zone (configuration; no rows until allocated). */
export function poolOf(zone: string): string[] {
  const per = new Map<string, string>();
  for (const part of config.publicPools.split(';').map((s) => s.trim()).filter(Boolean)) {
    const i = part.indexOf('=');
    if (i > 0) per.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  if (per.has(zone)) return publicPool(config.publicCidr, per.get(zone));
  if (zone === config.zone || per.size === 0) return publicPool(config.publicCidr, config.publicPool || undefined);
  return [];
}

// ---------------------------------------------------------------- helpers

/** Takes the zone's lock and the next `n` sequence numbers. */
async function nextSeqs(conn: Conn, zone: string, n: number): Promise<number[]> {
  await conn.query('INSERT IGNORE INTO address_seq (zone, seq) VALUES (?, 0)', [zone]);
  const [[row]] = await conn.query<any[]>('SELECT seq FROM address_seq WHERE zone = ? FOR UPDATE', [zone]) as any;
  const base = Number(row.seq);
  if (n > 0) await conn.query('UPDATE address_seq SET seq = ? WHERE zone = ?', [base + n, zone]);
  return Array.from({ length: n }, (_, i) => base + i + 1);
}

async function lockZone(conn: Conn, zone: string): Promise<void> { await nextSeqs(conn, zone, 0); }

/** A row as plain JSON (it travels through Temporal): dates as MySQL DATETIME(3) text in UTC. */
function plain(r: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) out[k] = v instanceof Date ? v.toISOString().replace('T', ' ').replace('Z', '') : v;
  return out;
}

async function rawRow(conn: Conn, publicIp: string): Promise<Record<string, unknown> | null> {
  const [rows] = await conn.query<any[]>('SELECT * FROM addresses WHERE public_ip = ? FOR UPDATE', [publicIp]);
  return rows[0] ? plain(rows[0]) : null;
}

const notFoundIp = (ip: string) => ec2Failure('InvalidAddress.NotFound', `Address '${ip}' not found.`);
const notFoundAlloc = (id: string) => ec2Failure('InvalidAllocationID.NotFound', `The allocation ID '${id}' does not exist`);

/** The caller's (non-launch) address by public IP or allocation id, without locks. */
async function lookup(q: Pick<Conn, 'query'>, accountId: string, ref: AddressRef): Promise<AddressRow> {
  if (ref.allocationId !== undefined) {
    const [rows] = await q.query<any[]>('SELECT * FROM addresses WHERE allocation_id = ? AND account_id = ? AND NOT is_launch_address', [ref.allocationId, accountId]);
    if (!rows[0]) throw notFoundAlloc(ref.allocationId);
    return rowOf(rows[0]);
  }
  const [rows] = await q.query<any[]>('SELECT * FROM addresses WHERE public_ip = ?', [ref.publicIp]);
  const r = rows[0];
  if (!r || r.is_launch_address) throw notFoundIp(ref.publicIp);
  if (r.account_id !== accountId) throw ec2Failure('AuthFailure', `The address '${ref.publicIp}' does not belong to you.`);
  return rowOf(r);
}

/** lookup, then lock the zone and the row, and check it did not change in between. */
async function lockOwn(conn: Conn, accountId: string, ref: AddressRef): Promise<{ row: AddressRow; raw: Record<string, unknown> }> {
  for (let i = 0; i < 3; i++) {
    const found = await lookup(conn, accountId, ref);
    await lockZone(conn, found.zone);
    const raw = await rawRow(conn, found.publicIp);
    if (raw && raw.account_id === accountId && !raw.is_launch_address && raw.allocation_id === found.allocationId) return { row: rowOf(raw), raw };
    if (!raw) continue; // released meanwhile: look again (NotFound)
  }
  return lookupFail(conn, accountId, ref);
}
async function lookupFail(conn: Conn, accountId: string, ref: AddressRef): Promise<never> {
  await lookup(conn, accountId, ref);
  throw ec2Failure('IncorrectState', 'The address changed while the request ran; try again.');
}

interface InstanceInfo { id: string; accountId: string; zone: string; state: string; privateIp: string | null }
async function instanceFor(conn: Conn, accountId: string, instanceId: string): Promise<InstanceInfo> {
  const [rows] = await conn.query<any[]>('SELECT id, account_id, zone, state, private_ip FROM instances WHERE id = ? AND account_id = ? FOR UPDATE', [instanceId, accountId]);
  const r = rows[0];
  if (!r || r.state === 'terminated') throw ec2Failure('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
  return { id: r.id, accountId: r.account_id, zone: r.zone, state: r.state, privateIp: r.private_ip };
}

// ---------------------------------------------------------------- reads

/** The caller's elastic IPs (launch addresses are not listed, as EC2 lists no auto-assigned ones). */
export async function listAddresses(accountId: string): Promise<AddressRow[]> {
  const [rows] = await getPool().query<any[]>(
    'SELECT * FROM addresses WHERE account_id = ? AND NOT is_launch_address ORDER BY INET_ATON(public_ip)', [accountId]);
  return rows.map(rowOf);
}

/** The caller's address (public IP or allocation id); throws the EC2 error for others'. */
export async function getAddress(accountId: string, ref: AddressRef): Promise<AddressRow> {
  return lookup(getPool(), accountId, ref);
}

/** Public address of each instance that has one (for DescribeInstances' ipAddress / dnsName). */
export async function publicIpsOf(instanceIds: string[]): Promise<Map<string, string>> {
  if (!instanceIds.length) return new Map();
  const [rows] = await getPool().query<any[]>('SELECT instance_id, public_ip FROM addresses WHERE instance_id IN (?)', [instanceIds]);
  return new Map(rows.map((r) => [r.instance_id as string, r.public_ip as string]));
}

/** What the zone's CC must program, with the sequence number it reflects (read together). */
export async function zoneNatState(zone: string): Promise<{ entries: NatEntry[]; seq: number }> {
  return inTransaction(async (conn) => {
    await conn.query('INSERT IGNORE INTO address_seq (zone, seq) VALUES (?, 0)', [zone]);
    const [[s]] = await conn.query<any[]>('SELECT seq FROM address_seq WHERE zone = ? LOCK IN SHARE MODE', [zone]) as any;
    const [rows] = await conn.query<any[]>(
      `SELECT public_ip, private_ip FROM addresses WHERE zone = ? AND instance_id IS NOT NULL AND private_ip IS NOT NULL ORDER BY INET_ATON(public_ip)`, [zone]);
    return { entries: rows.map((r) => ({ publicIp: r.public_ip, privateIp: r.private_ip })), seq: Number(s.seq) };
  });
}

// ---------------------------------------------------------------- allocate

function pickZone(zone: string | undefined): string {
  const z = zone ?? config.zone;
  if (!poolOf(z).length) throw ec2Failure('InvalidParameterValue', `Invalid availability zone: [${z}]`);
  return z;
}

/** AllocateAddress: a free address of the zone's pool (or `address`, if free), within the account's limit; with its tags. */
export async function allocateAddress(accountId: string, opts: { domain?: 'standard' | 'vpc'; zone?: string; address?: string; tags?: Tag[] } = {}): Promise<AddressRow> {
  const zone = pickZone(opts.zone);
  const pool = poolOf(zone);
  if (opts.address !== undefined && !pool.includes(opts.address)) {
    throw ec2Failure('InvalidParameterValue', `The address '${opts.address}' is not in the public address pool.`);
  }
  return inTransaction(async (conn) => {
    await lockZone(conn, zone);
    const [[{ n }]] = await conn.query<any[]>('SELECT COUNT(*) AS n FROM addresses WHERE account_id = ? AND NOT is_launch_address FOR UPDATE', [accountId]) as any;
    if (Number(n) >= config.addressLimit) throw ec2Failure('AddressLimitExceeded', 'The maximum number of addresses has been reached.');
    const ip = await freeAddress(conn, zone, pool, opts.address);
    const id = newAllocationId();
    await conn.query('INSERT INTO addresses (public_ip, zone, account_id, domain, allocation_id) VALUES (?, ?, ?, ?, ?)',
      [ip, zone, accountId, opts.domain ?? 'standard', id]);
    await saveTags(conn, accountId, id, 'elastic-ip', opts.tags ?? []);
    return rowOf((await rawRow(conn, ip))!);
  });
}

async function freeAddress(conn: Conn, zone: string, pool: string[], wanted?: string): Promise<string> {
  // Every zone's rows, not just this one's: a public address is unique cloud-wide (the primary
  // key), and two zones' pools may overlap when misconfigured (the workflow tests' fake zones
  // all share the default pool). A race with another zone ends in a duplicate key; the
  // activity's retry then sees that row and picks the next address.
  const [rows] = await conn.query<any[]>('SELECT public_ip FROM addresses');
  const used = new Set(rows.map((r) => r.public_ip));
  if (wanted !== undefined) {
    if (used.has(wanted)) throw ec2Failure('InvalidAddress.InUse', `The address '${wanted}' is already allocated.`);
    return wanted;
  }
  const ip = pool.find((a) => !used.has(a));
  if (!ip) throw ec2Failure('InsufficientAddressCapacity', `There are no free public addresses in zone ${zone}.`);
  return ip;
}

// ---------------------------------------------------------------- associate / disassociate / release

/** Detach `raw` from its instance (a launch address is deleted); records the undo. */
async function detach(conn: Conn, raw: Record<string, unknown>, seq: number, undo: AddressSnapshot[]): Promise<NatChange> {
  const ip = raw.public_ip as string;
  undo.push({ publicIp: ip, zone: raw.zone as string, before: raw, afterSeq: raw.is_launch_address ? null : seq });
  if (raw.is_launch_address) await conn.query('DELETE FROM addresses WHERE public_ip = ?', [ip]);
  else await conn.query('UPDATE addresses SET instance_id = NULL, private_ip = NULL, association_id = NULL, associated_at = NULL, nat_seq = ? WHERE public_ip = ?', [seq, ip]);
  return { publicIp: ip, privateIp: null, seq };
}

export interface AssociateInput {
  accountId: string; ref: AddressRef; instanceId: string; privateIp?: string; allowReassociation?: boolean;
}

/** AssociateAddress in the database. */
export async function associateAddress(input: AssociateInput): Promise<AddressChange & { address: AddressRow }> {
  return inTransaction(async (conn) => {
    const { row, raw } = await lockOwn(conn, input.accountId, input.ref);
    const inst = await instanceFor(conn, input.accountId, input.instanceId);
    if (inst.state !== 'running' || !inst.privateIp) {
      throw ec2Failure('IncorrectInstanceState', `The instance '${inst.id}' is not in a valid state for this operation.`);
    }
    if (inst.zone !== row.zone) {
      throw ec2Failure('InvalidParameterCombination', `The address '${row.publicIp}' (${row.zone}) and the instance '${inst.id}' (${inst.zone}) are in different availability zones.`);
    }
    if (input.privateIp !== undefined && input.privateIp !== inst.privateIp) {
      throw ec2Failure('InvalidParameterValue', `The private IP address '${input.privateIp}' is not an address of the instance '${inst.id}'.`);
    }
    if (row.instanceId === inst.id && row.privateIp === inst.privateIp) {
      return { zone: row.zone, changes: [], undo: [], orphaned: [], address: row };   // already so: same association
    }
    if (row.instanceId && row.instanceId !== inst.id) {
      const allowed = input.allowReassociation ?? (row.domain === 'standard');
      if (!allowed) throw ec2Failure('Resource.AlreadyAssociated', `resource ${row.allocationId} is already associated with associate-id ${row.associationId}`);
    }
    const [held] = await conn.query<any[]>('SELECT * FROM addresses WHERE instance_id = ? AND public_ip <> ? FOR UPDATE', [inst.id, row.publicIp]);
    const seqs = await nextSeqs(conn, row.zone, held.length + 1);
    const undo: AddressSnapshot[] = [];
    const changes: NatChange[] = [];
    for (let i = 0; i < held.length; i++) changes.push(await detach(conn, plain(held[i]), seqs[i]!, undo));
    const seq = seqs[held.length]!;
    const orphaned = row.instanceId && row.instanceId !== inst.id ? [row.instanceId] : [];
    undo.push({ publicIp: row.publicIp, zone: row.zone, before: raw, afterSeq: seq });
    const associationId = newAssociationId();
    await conn.query(
      'UPDATE addresses SET instance_id = ?, private_ip = ?, association_id = ?, associated_at = UTC_TIMESTAMP(3), nat_seq = ? WHERE public_ip = ?',
      [inst.id, inst.privateIp, associationId, seq, row.publicIp]);
    changes.push({ publicIp: row.publicIp, privateIp: inst.privateIp, seq });
    return { zone: row.zone, changes, undo, orphaned, address: rowOf((await rawRow(conn, row.publicIp))!) };
  });
}

export type DisassociateRef = { publicIp: string; associationId?: undefined } | { associationId: string; publicIp?: undefined };

/** DisassociateAddress in the database. An unassociated address given by public IP is no error (EC2 answers true). */
export async function disassociateAddress(accountId: string, ref: DisassociateRef): Promise<AddressChange & { instanceId: string | null }> {
  return inTransaction(async (conn) => {
    let publicIp: string;
    if (ref.associationId !== undefined) {
      const [rows] = await conn.query<any[]>('SELECT public_ip FROM addresses WHERE association_id = ? AND account_id = ? AND NOT is_launch_address', [ref.associationId, accountId]);
      if (!rows[0]) throw ec2Failure('InvalidAssociationID.NotFound', `The association ID '${ref.associationId}' does not exist`);
      publicIp = rows[0].public_ip;
    } else publicIp = ref.publicIp;
    const { row, raw } = await lockOwn(conn, accountId, { publicIp });
    if (ref.associationId !== undefined && row.associationId !== ref.associationId) {
      throw ec2Failure('InvalidAssociationID.NotFound', `The association ID '${ref.associationId}' does not exist`);
    }
    if (!row.instanceId) return { zone: row.zone, changes: [], undo: [], orphaned: [], instanceId: null };
    const [seq] = await nextSeqs(conn, row.zone, 1);
    const undo: AddressSnapshot[] = [];
    const change = await detach(conn, raw, seq!, undo);
    return { zone: row.zone, changes: [change], undo, orphaned: [row.instanceId], instanceId: row.instanceId };
  });
}

/** ReleaseAddress in the database (a `standard` address in use is disassociated first). */
export async function releaseAddress(accountId: string, ref: AddressRef): Promise<AddressChange> {
  return inTransaction(async (conn) => {
    const { row, raw } = await lockOwn(conn, accountId, ref);
    if (row.instanceId && row.domain === 'vpc') throw ec2Failure('InvalidIPAddress.InUse', `Address ${row.publicIp} is in use.`);
    const [seq] = await nextSeqs(conn, row.zone, 1);
    const undo: AddressSnapshot[] = [{ publicIp: row.publicIp, zone: row.zone, before: raw, afterSeq: null }];
    await conn.query('DELETE FROM addresses WHERE public_ip = ?', [row.publicIp]);
    return {
      zone: row.zone, undo, orphaned: row.instanceId ? [row.instanceId] : [],
      changes: row.instanceId ? [{ publicIp: row.publicIp, privateIp: null, seq: seq! }] : [],
    };
  });
}

/**
 * Compensation: puts back the rows an operation changed, each only if nobody changed it
 * since (its nat_seq is still the operation's). Returns the NAT changes that bring the CC
 * back too (fresh sequence numbers).
 */
export async function restoreAddresses(undo: AddressSnapshot[]): Promise<{ zone: string | null; changes: NatChange[] }> {
  if (!undo.length) return { zone: null, changes: [] };
  const zone = undo[0]!.zone;
  return inTransaction(async (conn) => {
    await lockZone(conn, zone);
    const todo: AddressSnapshot[] = [];
    for (const u of undo) {
      const cur = await rawRow(conn, u.publicIp);
      if (u.afterSeq === null ? cur === null : cur !== null && Number(cur.nat_seq) === u.afterSeq) todo.push(u);
    }
    if (!todo.length) return { zone, changes: [] };
    const seqs = await nextSeqs(conn, zone, todo.length);
    // first free every instance slot the operation filled, then write the old states
    for (const u of todo) if (u.afterSeq !== null) await conn.query('UPDATE addresses SET instance_id = NULL WHERE public_ip = ?', [u.publicIp]);
    const changes: NatChange[] = [];
    for (let i = 0; i < todo.length; i++) {
      const u = todo[i]!; const seq = seqs[i]!;
      const b = u.before;
      if (!b) { await conn.query('DELETE FROM addresses WHERE public_ip = ?', [u.publicIp]); changes.push({ publicIp: u.publicIp, privateIp: null, seq }); continue; }
      if (b.instance_id) {
        const [taken] = await conn.query<any[]>('SELECT public_ip FROM addresses WHERE instance_id = ? AND public_ip <> ?', [b.instance_id, u.publicIp]);
        if (taken[0]) { // the instance has another address by now: keep that, restore this one unassociated
          b.instance_id = null; b.private_ip = null; b.association_id = null; b.associated_at = null;
          if (b.is_launch_address) { await conn.query('DELETE FROM addresses WHERE public_ip = ?', [u.publicIp]); changes.push({ publicIp: u.publicIp, privateIp: null, seq }); continue; }
        }
      }
      await conn.query(
        `INSERT INTO addresses (public_ip, zone, account_id, domain, allocation_id, association_id, instance_id, private_ip, is_launch_address, nat_seq, allocated_at, associated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE zone = VALUES(zone), account_id = VALUES(account_id), domain = VALUES(domain), allocation_id = VALUES(allocation_id),
           association_id = VALUES(association_id), instance_id = VALUES(instance_id), private_ip = VALUES(private_ip),
           is_launch_address = VALUES(is_launch_address), nat_seq = VALUES(nat_seq), allocated_at = VALUES(allocated_at), associated_at = VALUES(associated_at)`,
        [u.publicIp, b.zone, b.account_id, b.domain, b.allocation_id, b.association_id ?? null, b.instance_id ?? null, b.private_ip ?? null,
          b.is_launch_address ? 1 : 0, seq, b.allocated_at, b.associated_at ?? null]);
      changes.push({ publicIp: u.publicIp, privateIp: b.instance_id ? (b.private_ip as string) : null, seq });
    }
    return { zone, changes };
  });
}

// ---------------------------------------------------------------- launch addresses

/**
 * A public address for an instance from its zone's pool, unless it has one already or
 * launch addresses are off (EUCA_LAUNCH_PUBLIC_IP=0). Only a pending or running instance
 * with a private address gets one. Returns the NAT change to apply (null: nothing to do).
 */
export async function assignLaunchAddress(instanceId: string): Promise<{ zone: string; change: NatChange; publicIp: string } | null> {
  if (!config.launchPublicIp) return null;
  const [pre] = await getPool().query<any[]>('SELECT zone FROM instances WHERE id = ?', [instanceId]);
  if (!pre[0]) return null;
  const zone = pre[0].zone as string;
  const pool = poolOf(zone);
  if (!pool.length) return null;
  return inTransaction(async (conn) => {
    await lockZone(conn, zone);
    const [rows] = await conn.query<any[]>('SELECT account_id, state, private_ip FROM instances WHERE id = ? FOR UPDATE', [instanceId]);
    const i = rows[0];
    if (!i || !['pending', 'running'].includes(i.state) || !i.private_ip) return null;
    const [held] = await conn.query<any[]>('SELECT * FROM addresses WHERE instance_id = ? FOR UPDATE', [instanceId]);
    const h = held[0];
    if (h && h.private_ip === i.private_ip) return null;
    const [seq] = await nextSeqs(conn, zone, 1);
    if (h) { // the instance moved to another private address: its public one follows
      await conn.query('UPDATE addresses SET private_ip = ?, nat_seq = ? WHERE public_ip = ?', [i.private_ip, seq, h.public_ip]);
      return { zone, publicIp: h.public_ip, change: { publicIp: h.public_ip, privateIp: i.private_ip, seq: seq! } };
    }
    let ip: string;
    try { ip = await freeAddress(conn, zone, pool); } catch { return null; }   // pool exhausted: the instance runs without one
    await conn.query(
      `INSERT INTO addresses (public_ip, zone, account_id, allocation_id, association_id, instance_id, private_ip, is_launch_address, nat_seq, associated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, TRUE, ?, UTC_TIMESTAMP(3))`,
      [ip, zone, i.account_id, newAllocationId(), newAssociationId(), instanceId, i.private_ip, seq]);
    return { zone, publicIp: ip, change: { publicIp: ip, privateIp: i.private_ip, seq: seq! } };
  });
}

/**
 * An instance stops or terminates: its launch address goes back to the pool and its
 * elastic IP (if any) is disassociated but stays allocated to the account (EC2-Classic).
 * Returns the NAT changes to apply. Idempotent.
 */
export async function releaseInstanceAddresses(instanceId: string): Promise<{ zone: string | null; changes: NatChange[] }> {
  const [pre] = await getPool().query<any[]>('SELECT zone FROM addresses WHERE instance_id = ?', [instanceId]);
  if (!pre[0]) return { zone: null, changes: [] };
  const zone = pre[0].zone as string;
  return inTransaction(async (conn) => {
    await lockZone(conn, zone);
    const [held] = await conn.query<any[]>('SELECT * FROM addresses WHERE instance_id = ? FOR UPDATE', [instanceId]);
    if (!held.length) return { zone, changes: [] };
    const seqs = await nextSeqs(conn, zone, held.length);
    const changes: NatChange[] = [];
    for (let i = 0; i < held.length; i++) changes.push(await detach(conn, held[i], seqs[i]!, []));
    return { zone, changes };
  });
}

/** CLC activities (task queue `clc`) over this module; spread into createClcActivities. */
export const addressActivities = {
  async eipAssociate(input: AssociateInput) { return associateAddress(input); },
  async eipDisassociate(accountId: string, ref: DisassociateRef) { return disassociateAddress(accountId, ref); },
  async eipRelease(accountId: string, ref: AddressRef) { return releaseAddress(accountId, ref); },
  async eipRestore(undo: AddressSnapshot[]) { return restoreAddresses(undo); },
  async assignLaunchAddress(instanceId: string) { return assignLaunchAddress(instanceId); },
  async releaseLaunchAddress(instanceId: string) { return releaseInstanceAddresses(instanceId); },
  async zoneNatState(zone: string) { return zoneNatState(zone); },
};
