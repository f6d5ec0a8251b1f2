// Images in Walrus (§7): RegisterImage from objects in a bucket (a raw or
// qcow2 disk, a kernel, a ramdisk, or a euca2ools bundle manifest),
// DeregisterImage, and the image attributes (description, kernel, ramdisk,
// launch permission: public or per account). DescribeImages is in catalog.ts.
//
// Eucalyptus' euca-register semantics for raw objects: KernelId=true registers
// the object as a kernel (EKI, eki-...), RamdiskId=true as a ramdisk (ERI,
// eri-...); otherwise the image is a machine image (EMI) that references an
// EKI and an ERI and optionally has its own root disk object.
import crypto from 'node:crypto';
import type { Ec2Context } from '../router';
import { dryRunCheck } from '../router';
import { Ec2Error, ec2Errors } from '../errors';
import { tagsForType } from './tags';
import type { InputObject } from '../../model/queryInput';
import { getImage, registerImage, findImageByName, getVisibleImage, launchPermissions, type ImageRow } from '../../../db/catalog';
import { getPool, inTransaction } from '../../../db/pool';
import { deleteResourceTags, saveTags } from '../../../db/tags';
import * as wdb from '../../../db/walrus';
import { openObjectStream } from '../../../walrus/objects';
import { canRead } from '../../s3/context';
import { imageIdPattern } from '../../../lib/ids';
import { registerBundle, isManifestLocation } from '../../../walrus/bundles';

const NAME_RE = /^[A-Za-z0-9()[\] ./\-'@_]{3,128}$/;

const authFailure = (what: string) => new Ec2Error('AuthFailure', `Not authorized for ${what}`, 403);

/** The image if the caller may see it (owner, public, or shared with it), else InvalidAMIID.NotFound. */
async function visibleImage(ctx: Ec2Context, id: string | undefined, param = 'ImageId'): Promise<ImageRow> {
  if (!id) throw ec2Errors.missingParameter(param);
  if (!imageIdPattern.test(id)) throw ec2Errors.amiMalformed(id);
  const img = await getImage(id);
  if (!img || img.state === 'deregistered') throw ec2Errors.amiNotFound(id);
  if (img.accountId === ctx.accountId || img.isPublic) return img;
  if ((await launchPermissions(id)).includes(ctx.accountId)) return img;
  throw ec2Errors.amiNotFound(id);
}
/** The image, which the caller must own (AuthFailure if it only may see it). */
async function ownImage(ctx: Ec2Context, id: string | undefined): Promise<ImageRow> {
  const img = await visibleImage(ctx, id);
  if (img.accountId !== ctx.accountId) throw authFailure(`image:${img.id}`);
  return img;
}

export interface ObjectInfo { bucket: string; key: string; size: number; sha256: string; format: 'raw' | 'qcow2' }

/** Splits "bucket/key" (a leading '/' or an s3:// scheme allowed). */
export function parseLocation(loc: string): { bucket: string; key: string } | undefined {
  const m = /^(?:s3:\/\/|\/)?([^/]+)\/(.+)$/.exec(loc.trim());
  return m ? { bucket: m[1], key: m[2] } : undefined;
}

/**
 * Reads an object the caller may read: its size, sha256 and format (qcow2 by
 * its magic, else raw). A missing bucket or object is InvalidParameterValue,
 * one the caller may not read AuthFailure.
 */
export async function inspectObject(accountId: string, loc: string, errCode = 'InvalidParameterValue'): Promise<ObjectInfo> {
  const p = parseLocation(loc);
  if (!p) throw new Ec2Error(errCode, `Invalid image location '${loc}': expected bucket/key`);
  const missing = () => new Ec2Error(errCode, `The image location '${loc}' does not exist (no such object in Walrus)`);
  const bucket = await wdb.getBucket(p.bucket);
  if (!bucket) throw missing();
  const obj = await wdb.getObject(p.bucket, p.key);
  if (!obj || obj.deleteMarker || !obj.file) throw missing();
  if (!(accountId === bucket.accountId || canRead(obj.acl, obj.ownerId, accountId))) throw authFailure(`image location ${loc}`);
  const opened = await openObjectStream(p.bucket, p.key, { versionId: obj.versionId });
  if (!opened) throw missing();
  const h = crypto.createHash('sha256');
  let head: Buffer | undefined;
  for await (const chunk of opened.stream) {
    const b = chunk as Buffer;
    if (!head) head = b.subarray(0, 4);
    h.update(b);
  }
  const format = head && head.length === 4 && head.equals(Buffer.from([0x51, 0x46, 0x49, 0xfb])) ? 'qcow2' : 'raw';
  return { bucket: p.bucket, key: p.key, size: opened.stat.size, sha256: h.digest('hex'), format };
}

async function checkName(accountId: string, name: string | undefined): Promise<string> {
  if (!name) throw ec2Errors.missingParameter('Name');
  if (!NAME_RE.test(name)) {
    throw new Ec2Error('InvalidAMIName.Malformed', `AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/' and '_'`);
  }
  const dup = await findImageByName(accountId, name);
  if (dup) throw new Ec2Error('InvalidAMIName.Duplicate', `AMI name ${name} is already in use by AMI ${dup.id}`);
  return name;
}

/** A kernel or ramdisk an EMI may reference: launchable by the caller and of that type. */
async function partImage(ctx: Ec2Context, id: string, type: 'kernel' | 'ramdisk', param: string): Promise<ImageRow> {
  const prefix = type === 'kernel' ? 'eki-' : 'eri-';
  if (!imageIdPattern.test(id)) throw ec2Errors.invalidValue(param, id);
  const img = await getVisibleImage(ctx.accountId, id);
  if (!img) throw ec2Errors.amiNotFound(id);
  if (img.imageType !== type) throw new Ec2Error('InvalidParameterValue', `Image ${id} is not a ${type} image (expected ${prefix}...)`);
  return img;
}

const newId = (prefix: 'emi' | 'eki' | 'eri') => `${prefix}-${crypto.randomBytes(4).toString('hex')}`;

/** An image's tags from RegisterImage's TagSpecifications, saved once it is registered. */
async function tagImage(accountId: string, id: string, tags: { key: string; value: string }[]): Promise<void> {
  if (tags.length) await saveTags(getPool(), accountId, id, 'image', tags);
}

export async function RegisterImage(ctx: Ec2Context) {
  const input = ctx.input;
  const location = input.ImageLocation as string | undefined;
  let name = input.Name as string | undefined;
  const description = (input.Description as string | undefined) ?? null;
  if (description !== null && description.length > 255) throw ec2Errors.invalidValue('Description', description.slice(0, 20) + '...', 'At most 255 characters.');
  const archParam = input.Architecture as string | undefined;
  const architecture = archParam ?? 'x86_64';
  if (!['x86_64', 'i386'].includes(architecture)) throw ec2Errors.invalidValue('Architecture', architecture);
  const kernelParam = input.KernelId as string | undefined;
  const ramdiskParam = input.RamdiskId as string | undefined;
  const rootDeviceName = (input.RootDeviceName as string | undefined) ?? null;
  const virt = input.VirtualizationType as string | undefined;
  if (virt && !['hvm', 'paravirtual'].includes(virt)) throw ec2Errors.invalidValue('VirtualizationType', virt);
  const bdm = (input.BlockDeviceMappings ?? []) as InputObject[];
  if (bdm.some((m) => m.Ebs !== undefined)) throw new Ec2Error('InvalidParameterValue', 'EBS-backed images are not supported by this cloud: register an object (ImageLocation) instead');
  const asKernel = kernelParam?.toLowerCase() === 'true';
  const asRamdisk = ramdiskParam?.toLowerCase() === 'true';
  if (asKernel && asRamdisk) throw new Ec2Error('InvalidParameterCombination', 'An image cannot be both a kernel and a ramdisk');
  // the image itself is the one thing registered here (instance store: no snapshots)
  const tags = tagsForType(input, 'image');

  // A bundle manifest (euca-bundle-image + euca-upload-bundle).
  if (location && isManifestLocation(location)) {
    if (name) await checkName(ctx.accountId, name);
    dryRunCheck(ctx);
    const kernel = kernelParam && !asKernel ? await partImage(ctx, kernelParam, 'kernel', 'KernelId') : undefined;
    const ramdisk = ramdiskParam && !asRamdisk ? await partImage(ctx, ramdiskParam, 'ramdisk', 'RamdiskId') : undefined;
    const id = await registerBundle({
      accountId: ctx.accountId, location, name, description, architecture: archParam, kernelId: kernel?.id ?? null, ramdiskId: ramdisk?.id ?? null,
      forceType: asKernel ? 'kernel' : asRamdisk ? 'ramdisk' : undefined, checkName: (n) => checkName(ctx.accountId, n),
      inspect: (loc) => inspectObject(ctx.accountId, loc, 'InvalidManifest'),
      resolvePart: async (id, type) => (await partImage(ctx, id, type, type === 'kernel' ? 'KernelId' : 'RamdiskId')).id,
      register: async (b) => {
        const id = newId(b.type === 'kernel' ? 'eki' : b.type === 'ramdisk' ? 'eri' : 'emi');
        await registerImage({
          id, accountId: ctx.accountId, name: b.name, description, imageType: b.type, kernelPath: null, ramdiskPath: null, kernelSha256: null,
          ramdiskSha256: null, architecture: b.architecture, isPublic: false, imageLocation: b.imageLocation, objectBucket: b.bucket, objectKey: b.key,
          sizeBytes: b.size, sha256: b.sha256, diskFormat: b.type === 'machine' ? b.format : null, kernelId: b.kernelId, ramdiskId: b.ramdiskId,
          rootDeviceName: b.type === 'machine' ? (rootDeviceName ?? '/dev/vda') : null,
        });
        return id;
      },
    });
    await tagImage(ctx.accountId, id, tags);
    return { imageId: id };
  }

  name = await checkName(ctx.accountId, name);
  if (asKernel || asRamdisk) {
    if (!location) throw ec2Errors.missingParameter('ImageLocation');
    const obj = await inspectObject(ctx.accountId, location);
    dryRunCheck(ctx);
    const type = asKernel ? 'kernel' : 'ramdisk';
    const id = newId(asKernel ? 'eki' : 'eri');
    await registerImage({
      id, accountId: ctx.accountId, name, description, imageType: type, kernelPath: null, ramdiskPath: null, kernelSha256: null, ramdiskSha256: null,
      architecture, isPublic: false, imageLocation: `${obj.bucket}/${obj.key}`, objectBucket: obj.bucket, objectKey: obj.key,
      sizeBytes: obj.size, sha256: obj.sha256, diskFormat: null,
    });
    await tagImage(ctx.accountId, id, tags);
    return { imageId: id };
  }

  // A machine image: boots its EKI + ERI (this cloud boots every guest with a
  // kernel and ramdisk), with its own root disk object if ImageLocation is given.
  if (!kernelParam) throw new Ec2Error('MissingParameter', 'The request must contain the parameter KernelId (this cloud boots machine images with a kernel and a ramdisk: register them first with KernelId=true / RamdiskId=true)');
  if (!ramdiskParam) throw new Ec2Error('MissingParameter', 'The request must contain the parameter RamdiskId (this cloud boots machine images with a kernel and a ramdisk: register them first with KernelId=true / RamdiskId=true)');
  const kernel = await partImage(ctx, kernelParam, 'kernel', 'KernelId');
  const ramdisk = await partImage(ctx, ramdiskParam, 'ramdisk', 'RamdiskId');
  const disk = location ? await inspectObject(ctx.accountId, location) : undefined;
  dryRunCheck(ctx);
  const id = newId('emi');
  await registerImage({
    id, accountId: ctx.accountId, name, description, imageType: 'machine', kernelPath: null, ramdiskPath: null, kernelSha256: null, ramdiskSha256: null,
    architecture, isPublic: false, kernelId: kernel.id, ramdiskId: ramdisk.id, rootDeviceName: rootDeviceName ?? (disk ? '/dev/vda' : null),
    ...(disk ? { imageLocation: `${disk.bucket}/${disk.key}`, objectBucket: disk.bucket, objectKey: disk.key, sizeBytes: disk.size, sha256: disk.sha256, diskFormat: disk.format } : {}),
  });
  await tagImage(ctx.accountId, id, tags);
  return { imageId: id };
}

export async function DeregisterImage(ctx: Ec2Context) {
  const img = await ownImage(ctx, ctx.input.ImageId as string | undefined);
  dryRunCheck(ctx);
  await inTransaction(async (conn) => {
    await conn.query(`UPDATE images SET state = 'deregistered', is_public = FALSE WHERE id = ?`, [img.id]);
    await conn.query('DELETE FROM image_launch_permissions WHERE image_id = ?', [img.id]);
    await deleteResourceTags([img.id], conn);   // every account's tags of it: the image is gone for all
  });
  return { return: true };
}

const ATTRIBUTES = ['description', 'kernel', 'ramdisk', 'launchPermission', 'productCodes', 'blockDeviceMapping', 'sriovNetSupport', 'bootMode'] as const;

export async function DescribeImageAttribute(ctx: Ec2Context) {
  const attribute = ctx.input.Attribute as string;   // required by the model, one of its ImageAttributeName enum
  if (!(ATTRIBUTES as readonly string[]).includes(attribute)) throw ec2Errors.invalidValue('Attribute', attribute);
  const img = await ownImage(ctx, ctx.input.ImageId as string | undefined);
  dryRunCheck(ctx);
  const out: Record<string, unknown> = { imageId: img.id };
  switch (attribute) {
    case 'description': out.description = { value: img.description ?? undefined }; break;
    case 'kernel': out.kernel = img.kernelId ? { value: img.kernelId } : {}; break;
    case 'ramdisk': out.ramdisk = img.ramdiskId ? { value: img.ramdiskId } : {}; break;
    case 'launchPermission':
      out.launchPermission = [...(img.isPublic ? [{ group: 'all' }] : []), ...(await launchPermissions(img.id)).map((u) => ({ userId: u }))];
      break;
    case 'productCodes': out.productCodes = []; break;
    case 'blockDeviceMapping': out.blockDeviceMapping = img.rootDeviceName ? [{ deviceName: img.rootDeviceName, virtualName: 'ami' }] : []; break;
    case 'sriovNetSupport': out.sriovNetSupport = {}; break;
    case 'bootMode': out.bootMode = {}; break;
  }
  return out;
}

interface PermChange { add: { all: boolean; users: string[] }; remove: { all: boolean; users: string[] } }

function launchPermissionChange(ctx: Ec2Context): PermChange | undefined {
  const ch: PermChange = { add: { all: false, users: [] }, remove: { all: false, users: [] } };
  let any = false;
  const take = (side: 'add' | 'remove', items: InputObject[]) => {
    for (const it of items) {
      const group = it.Group as string | undefined;
      const user = it.UserId as string | undefined;
      if (group !== undefined) {
        if (group !== 'all') throw ec2Errors.invalidValue('Group', group, "Only the group 'all' is supported.");
        ch[side].all = true; any = true;
      }
      if (user !== undefined) { ch[side].users.push(String(user)); any = true; }
      if (it.OrganizationArn !== undefined || it.OrganizationalUnitArn !== undefined) throw new Ec2Error('Unsupported', 'Organizations are not supported');
    }
  };
  const lp = ctx.input.LaunchPermission as InputObject | undefined;   // LaunchPermission.Add.N / .Remove.N
  take('add', (lp?.Add ?? []) as InputObject[]);
  take('remove', (lp?.Remove ?? []) as InputObject[]);
  // The older form: OperationType + UserId.N / UserGroup.N
  const op = ctx.input.OperationType as string | undefined;
  const users = (ctx.input.UserIds ?? []) as string[];
  const groups = (ctx.input.UserGroups ?? []) as string[];
  if (users.length || groups.length) {
    if (!op) throw ec2Errors.missingParameter('OperationType');
    if (op !== 'add' && op !== 'remove') throw ec2Errors.invalidValue('OperationType', op);
    take(op, [...users.map((u) => ({ UserId: u })), ...groups.map((g) => ({ Group: g }))]);
  } else if (op && op !== 'add' && op !== 'remove') throw ec2Errors.invalidValue('OperationType', op);
  return any ? ch : undefined;
}

export async function ModifyImageAttribute(ctx: Ec2Context) {
  const img = await ownImage(ctx, ctx.input.ImageId as string | undefined);
  const attribute = ctx.input.Attribute as string | undefined;
  if (attribute && !['description', 'launchPermission'].includes(attribute)) {
    throw ec2Errors.invalidValue('Attribute', attribute, 'Only description and launchPermission can be modified.');
  }
  const desc = ((ctx.input.Description as InputObject | undefined)?.Value as string | undefined)   // Description.Value
    ?? (attribute === 'description' ? (ctx.input.Value as string | undefined) : undefined);
  const perms = launchPermissionChange(ctx);
  if (desc === undefined && !perms) throw new Ec2Error('MissingParameter', 'The request must contain a launch permission change or a description');
  if (desc !== undefined && desc.length > 255) throw ec2Errors.invalidValue('Description', desc.slice(0, 20) + '...', 'At most 255 characters.');
  if (perms) {
    const all = [...new Set([...perms.add.users, ...perms.remove.users])];
    for (const u of all) {
      if (!/^\d{12}$/.test(u)) throw new Ec2Error('InvalidAMIAttributeItemValue', `Invalid attribute item value "${u}" for userId item type.`);
    }
    if (perms.add.users.length) {
      const [rows] = await getPool().query<any[]>('SELECT id FROM accounts WHERE id IN (?)', [perms.add.users]);
      const known = new Set(rows.map((r) => r.id as string));
      const unknown = perms.add.users.find((u) => !known.has(u));
      if (unknown) throw new Ec2Error('InvalidAMIAttributeItemValue', `Invalid attribute item value "${unknown}" for userId item type.`);
    }
  }
  dryRunCheck(ctx);
  if (desc !== undefined) await getPool().query('UPDATE images SET description = ? WHERE id = ?', [desc || null, img.id]);
  if (perms) {
    if (perms.add.all) await getPool().query('UPDATE images SET is_public = TRUE WHERE id = ?', [img.id]);
    if (perms.remove.all) await getPool().query('UPDATE images SET is_public = FALSE WHERE id = ?', [img.id]);
    for (const u of perms.add.users) if (u !== img.accountId) await getPool().query('INSERT IGNORE INTO image_launch_permissions (image_id, account_id) VALUES (?, ?)', [img.id, u]);
    if (perms.remove.users.length) await getPool().query('DELETE FROM image_launch_permissions WHERE image_id = ? AND account_id IN (?)', [img.id, perms.remove.users]);
  }
  return { return: true };
}

export async function ResetImageAttribute(ctx: Ec2Context) {
  const img = await ownImage(ctx, ctx.input.ImageId as string | undefined);
  const attribute = ctx.input.Attribute as string;   // required by the model
  if (attribute !== 'launchPermission') throw ec2Errors.invalidValue('Attribute', attribute, 'Only launchPermission can be reset.');
  dryRunCheck(ctx);
  await getPool().query('UPDATE images SET is_public = FALSE WHERE id = ?', [img.id]);
  await getPool().query('DELETE FROM image_launch_permissions WHERE image_id = ?', [img.id]);
  return { return: true };
}
