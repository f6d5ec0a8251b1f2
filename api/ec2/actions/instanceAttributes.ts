// Instance attributes and the small per-instance actions beside them:
// DescribeInstanceAttribute, ModifyInstanceAttribute, ResetInstanceAttribute,
// GetPasswordData, MonitorInstances / UnmonitorInstances and
// DescribeInstanceCreditSpecifications. Everything is the caller's own:
// another account's instance is InvalidInstanceID.NotFound, exactly like one
// that does not exist.
//
// What takes effect when:
// - instanceType, userData, kernel, ramdisk: only while stopped; the next
//   StartInstances places the instance with the new type's capacity, boots the
//   kernel and ramdisk and serves the user data from the metadata service.
// - disableApiTermination: TerminateInstances refuses the instance
//   (instances.ts); a guest that powers itself off with shutdown behaviour
//   `terminate` is still terminated, as on AWS.
// - instanceInitiatedShutdownBehavior: what the instance becomes when its guest
//   powers itself off (workflows/instanceInitiatedShutdown.ts).
// - groupSet, sourceDestCheck: EC2-Classic. An instance keeps the network of its
//   first group for its whole life (a stopped one comes back on the same network
//   and address), so its groups cannot change; both are VPC-only on AWS too.
//
// Validation order: the model checks types, the Attribute enum and required
// members before the handler runs; then malformed ids and values, then the
// instance (NotFound), then its state; DryRun answers last, only when the real
// call would succeed.
import type { Ec2Context } from '../router';
import { dryRunCheck } from '../router';
import { Ec2Error, ec2Errors } from '../errors';
import type { InputObject } from '../../model/queryInput';
import { applyFilters, paginate } from './filters';
import { inputFilters, maxResultsOf } from './tags';
import { defaultCpuCredits } from './instanceTypeInfo';
import { instanceIds } from './instances';
import { listInstances, type InstanceRow } from '../../../db/instances';
import { setInstanceAttribute, setMonitoring, type AttributeColumn } from '../../../db/instanceAttributes';
import { getImage, getVisibleImage, listInstanceTypes } from '../../../db/catalog';
import { instanceIdPattern } from '../../../lib/ids';

const USER_DATA_MAX = 16 * 1024;
const TERMINATED_VISIBLE_MS = 60 * 60 * 1000;   // as DescribeInstances (instances.ts)

type AttributeName =
  | 'instanceType' | 'kernel' | 'ramdisk' | 'userData' | 'disableApiTermination' | 'instanceInitiatedShutdownBehavior'
  | 'rootDeviceName' | 'blockDeviceMapping' | 'productCodes' | 'sourceDestCheck' | 'groupSet' | 'ebsOptimized'
  | 'sriovNetSupport' | 'enaSupport' | 'enclaveOptions' | 'disableApiStop';

// ---------------------------------------------------------------- helpers

function instanceIdOf(ctx: Ec2Context): string {
  const id = ctx.input.InstanceId as string;
  if (!instanceIdPattern.test(id)) throw ec2Errors.instanceMalformed(id);
  return id;
}

/** The caller's instances with these ids, in that order; any other id is NotFound. */
async function ownInstances(ctx: Ec2Context, ids: string[]): Promise<InstanceRow[]> {
  const rows = ids.length ? await listInstances(ctx.accountId, ids) : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  const missing = ids.filter((id) => !byId.has(id));
  if (missing.length === 1) throw ec2Errors.instanceNotFound(missing[0]);
  if (missing.length > 1) throw new Ec2Error('InvalidInstanceID.NotFound', `The instance IDs '${missing.join(', ')}' do not exist`);
  return ids.map((id) => byId.get(id)!);
}

const notStopped = (id: string) => new Ec2Error('IncorrectInstanceState', `The instance '${id}' is not in the 'stopped' state.`);
const terminated = (id: string) => new Ec2Error('IncorrectInstanceState', `The instance '${id}' is terminated and its attributes can no longer be changed.`);
const vpcOnly = (verb: 'modify' | 'reset', attribute: string) =>
  new Ec2Error('InvalidParameterCombination', `You may only ${verb} the ${attribute} attribute for VPC instances`);
const unsupported = (attribute: string, detail: string) =>
  new Ec2Error('UnsupportedOperation', `The attribute '${attribute}' is not supported by this cloud: ${detail}`);

/** User data as stored (base64, as RunInstances stores it), re-encoded without whitespace. */
const userDataOut = (stored: string | null) => (stored ? Buffer.from(stored, 'base64').toString('base64') : undefined);

// ---------------------------------------------------------------- DescribeInstanceAttribute

export async function DescribeInstanceAttribute(ctx: Ec2Context) {
  const id = instanceIdOf(ctx);
  const attribute = ctx.input.Attribute as AttributeName;   // the model's enum, already checked
  const [i] = await ownInstances(ctx, [id]);
  dryRunCheck(ctx);
  const out: Record<string, unknown> = { instanceId: i.id };
  const image = attribute === 'kernel' || attribute === 'ramdisk' || attribute === 'rootDeviceName' ? await getImage(i.imageId) : undefined;
  const value = (v: string | null | undefined) => (v ? { value: v } : {});
  switch (attribute) {
    case 'instanceType': out.instanceType = { value: i.instanceType }; break;
    case 'kernel': out.kernel = value(i.kernelId ?? image?.kernelId); break;
    case 'ramdisk': out.ramdisk = value(i.ramdiskId ?? image?.ramdiskId); break;
    case 'userData': out.userData = value(userDataOut(i.userData)); break;
    case 'disableApiTermination': out.disableApiTermination = { value: i.disableApiTermination }; break;
    case 'instanceInitiatedShutdownBehavior': out.instanceInitiatedShutdownBehavior = { value: i.shutdownBehavior }; break;
    case 'rootDeviceName': out.rootDeviceName = value(image?.rootDeviceName); break;
    case 'blockDeviceMapping': out.blockDeviceMapping = []; break;          // instance store: no EBS volumes attached
    case 'productCodes': out.productCodes = []; break;
    case 'sourceDestCheck': break;                                          // EC2-Classic instances have none (VPC only)
    case 'groupSet': out.groupSet = i.groups.map((g) => ({ groupId: g.id, groupName: g.name })); break;
    case 'ebsOptimized': out.ebsOptimized = { value: false }; break;
    case 'sriovNetSupport': out.sriovNetSupport = {}; break;
    case 'enaSupport': out.enaSupport = { value: false }; break;
    case 'enclaveOptions': out.enclaveOptions = { enabled: false }; break;
    case 'disableApiStop': out.disableApiStop = { value: false }; break;
  }
  return out;
}

// ---------------------------------------------------------------- ModifyInstanceAttribute

/** The one change a ModifyInstanceAttribute asks for: `InstanceType.Value=...` style, or `Attribute=...&Value=...`. */
interface Change { attribute: AttributeName; value: string | boolean | Buffer | string[] }

/** Member name of the request -> attribute name (AttributeValue / AttributeBooleanValue / BlobAttributeValue / list). */
const MEMBERS: Record<string, AttributeName> = {
  InstanceType: 'instanceType', Kernel: 'kernel', Ramdisk: 'ramdisk', UserData: 'userData',
  DisableApiTermination: 'disableApiTermination', InstanceInitiatedShutdownBehavior: 'instanceInitiatedShutdownBehavior',
  SourceDestCheck: 'sourceDestCheck', Groups: 'groupSet', EbsOptimized: 'ebsOptimized', SriovNetSupport: 'sriovNetSupport',
  EnaSupport: 'enaSupport', DisableApiStop: 'disableApiStop', BlockDeviceMappings: 'blockDeviceMapping',
};
const BOOLEAN_ATTRIBUTES = new Set<AttributeName>(['disableApiTermination', 'sourceDestCheck', 'ebsOptimized', 'enaSupport', 'disableApiStop']);
const NOT_MODIFIABLE = new Set<AttributeName>(['rootDeviceName', 'productCodes', 'enclaveOptions']);

function requestedChange(input: InputObject): Change {
  const changes: Change[] = [];
  for (const [member, attribute] of Object.entries(MEMBERS)) {
    const v = input[member];
    if (v === undefined) continue;
    if (Array.isArray(v)) changes.push({ attribute, value: v as string[] });
    else {
      const inner = (v as InputObject).Value;
      if (inner === undefined) throw ec2Errors.missingParameter(`${member}.Value`);
      changes.push({ attribute, value: inner as string | boolean | Buffer });
    }
  }
  const named = input.Attribute as AttributeName | undefined;
  if (named !== undefined) {
    const raw = input.Value as string | undefined;
    if (raw !== undefined) changes.push({ attribute: named, value: attributeValue(named, raw) });
    else if (!changes.some((c) => c.attribute === named)) throw ec2Errors.missingParameter('Value');
  }
  const distinct = [...new Map(changes.map((c) => [c.attribute, c])).values()];
  if (distinct.length === 0) throw new Ec2Error('MissingParameter', 'The request must contain the parameter Attribute (or one attribute to modify, such as InstanceType.Value)');
  if (distinct.length > 1) {
    throw new Ec2Error('InvalidParameterCombination', `Only one attribute can be modified at a time; the request names ${distinct.map((c) => c.attribute).join(', ')}.`);
  }
  return distinct[0];
}

/** The old `Attribute=name&Value=text` form: the text as the attribute's own type. */
function attributeValue(attribute: AttributeName, raw: string): Change['value'] {
  if (BOOLEAN_ATTRIBUTES.has(attribute)) {
    const s = raw.trim().toLowerCase();
    if (s !== 'true' && s !== 'false') throw new Ec2Error('InvalidParameterValue', `Value (${raw}) for parameter value is invalid. Expected 'true' or 'false'.`);
    return s === 'true';
  }
  if (attribute === 'userData') {
    const s = raw.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 === 1) throw new Ec2Error('InvalidParameterValue', 'Invalid BASE64 encoding of user data.');
    return Buffer.from(s, 'base64');
  }
  if (attribute === 'groupSet') return [raw];
  return raw;
}

export async function ModifyInstanceAttribute(ctx: Ec2Context) {
  const id = instanceIdOf(ctx);
  const change = requestedChange(ctx.input);
  const { attribute } = change;
  // Values that are wrong whatever the instance is.
  if (NOT_MODIFIABLE.has(attribute)) {
    throw new Ec2Error('InvalidParameterValue', `Value (${attribute}) for parameter attribute is invalid. The attribute ${attribute} cannot be modified.`);
  }
  if (attribute === 'userData' && (change.value as Buffer).length > USER_DATA_MAX) {
    throw new Ec2Error('InvalidParameterValue', `User data is limited to ${USER_DATA_MAX} bytes`);
  }
  if (attribute === 'instanceInitiatedShutdownBehavior' && change.value !== 'stop' && change.value !== 'terminate') {
    throw new Ec2Error('InvalidParameterValue', `Value (${String(change.value)}) for parameter instanceInitiatedShutdownBehavior is invalid. Valid values: stop, terminate`);
  }
  if ((attribute === 'instanceType' || attribute === 'kernel' || attribute === 'ramdisk') && (typeof change.value !== 'string' || change.value === '')) {
    throw new Ec2Error('InvalidParameterValue', `Value () for parameter ${attribute} is invalid. A value is required.`);
  }

  const [i] = await ownInstances(ctx, [id]);
  if (i.state === 'terminated') throw terminated(i.id);

  let column: AttributeColumn | undefined;
  let value: string | boolean | null = null;
  switch (attribute) {
    case 'groupSet': throw vpcOnly('modify', 'groupSet');
    case 'sourceDestCheck': throw vpcOnly('modify', 'sourceDestCheck');
    case 'blockDeviceMapping':
      throw new Ec2Error('InvalidInstanceAttributeValue', `No device is currently mapped at ${deviceOf(change.value)}`);
    case 'disableApiTermination': column = 'disable_api_termination'; value = change.value === true; break;
    case 'instanceInitiatedShutdownBehavior': column = 'shutdown_behavior'; value = change.value as string; break;
    case 'disableApiStop':
      if (change.value === true) throw unsupported('disableApiStop', 'stop protection is not available');
      break;   // false: what it is
    case 'instanceType': {
      if (i.state !== 'stopped') throw notStopped(i.id);
      const type = change.value as string;
      if (!(await listInstanceTypes()).some((t) => t.name === type)) {
        throw new Ec2Error('InvalidInstanceAttributeValue', `The instanceType '${type}' is invalid.`);
      }
      column = 'instance_type'; value = type; break;
    }
    case 'userData': {
      if (i.state !== 'stopped') throw notStopped(i.id);
      const bytes = change.value as Buffer;
      column = 'user_data'; value = bytes.length ? bytes.toString('base64') : null; break;
    }
    case 'kernel': case 'ramdisk': {
      if (i.state !== 'stopped') throw notStopped(i.id);
      const imageId = change.value as string;
      const img = /^e[kr]i-[0-9a-f]{8}([0-9a-f]{9})?$/.test(imageId) ? await getVisibleImage(ctx.accountId, imageId) : undefined;
      if (!img || img.imageType !== attribute) throw ec2Errors.amiNotFound(imageId);
      column = attribute === 'kernel' ? 'kernel_id' : 'ramdisk_id'; value = imageId; break;
    }
    case 'ebsOptimized': case 'enaSupport': case 'sriovNetSupport':
      if (i.state !== 'stopped') throw notStopped(i.id);
      if (change.value === false) break;   // off: what it is
      throw unsupported(attribute, `no instance type here has ${attribute === 'ebsOptimized' ? 'EBS optimization' : 'enhanced networking'}`);
  }
  dryRunCheck(ctx);
  if (column && !(await setInstanceAttribute(ctx.accountId, i.id, column, value))) {
    // The instance moved on (started, terminated) between the check and the change.
    const [now] = await ownInstances(ctx, [i.id]);
    throw now.state === 'terminated' ? terminated(i.id) : notStopped(i.id);
  }
  ctx.log.info({ instanceId: i.id, attribute }, 'instance attribute modified');
  return { return: true };
}

function deviceOf(v: Change['value']): string {
  const first = Array.isArray(v) ? (v[0] as unknown as InputObject | undefined) : undefined;
  return String(first?.DeviceName ?? '');
}

// ---------------------------------------------------------------- ResetInstanceAttribute

export async function ResetInstanceAttribute(ctx: Ec2Context) {
  const id = instanceIdOf(ctx);
  const attribute = ctx.input.Attribute as AttributeName;
  if (attribute !== 'kernel' && attribute !== 'ramdisk' && attribute !== 'sourceDestCheck') {
    throw new Ec2Error('InvalidParameterValue', `Value (${attribute}) for parameter attribute is invalid. Only kernel, ramdisk and sourceDestCheck can be reset.`);
  }
  const [i] = await ownInstances(ctx, [id]);
  if (attribute === 'sourceDestCheck') throw vpcOnly('reset', 'sourceDestCheck');
  if (i.state !== 'stopped') throw notStopped(i.id);
  dryRunCheck(ctx);
  // Back to the image's own kernel / ramdisk.
  if (!(await setInstanceAttribute(ctx.accountId, i.id, attribute === 'kernel' ? 'kernel_id' : 'ramdisk_id', null))) throw notStopped(i.id);
  return { return: true };
}

// ---------------------------------------------------------------- GetPasswordData

export async function GetPasswordData(ctx: Ec2Context) {
  const id = instanceIdOf(ctx);
  const [i] = await ownInstances(ctx, [id]);
  dryRunCheck(ctx);
  // Linux guests: no Windows administrator password, so AWS's empty passwordData.
  return { instanceId: i.id, timestamp: new Date(), passwordData: '' };
}

// ---------------------------------------------------------------- MonitorInstances / UnmonitorInstances

async function monitoring(ctx: Ec2Context, enabled: boolean) {
  const ids = instanceIds(ctx, true);
  const rows = await ownInstances(ctx, ids);
  dryRunCheck(ctx);
  await setMonitoring(ctx.accountId, ids, enabled);
  // AWS answers the transition (pending / disabling); without CloudWatch it completes at once.
  return { instancesSet: rows.map((i) => ({ instanceId: i.id, monitoring: { state: enabled ? 'pending' : 'disabling' } })) };
}

export async function MonitorInstances(ctx: Ec2Context) {
  return monitoring(ctx, true);
}

export async function UnmonitorInstances(ctx: Ec2Context) {
  return monitoring(ctx, false);
}

// ---------------------------------------------------------------- DescribeInstanceCreditSpecifications

export async function DescribeInstanceCreditSpecifications(ctx: Ec2Context) {
  const ids = instanceIds(ctx, false);
  const filters = inputFilters(ctx.input);
  const maxResults = maxResultsOf(ctx.input, 5, 1000);
  const nextToken = ctx.input.NextToken as string | undefined;
  if (maxResults !== undefined && ids.length) {
    throw new Ec2Error('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
  }
  // Named instances: their credit option, `standard` for one that is not burstable (as AWS).
  // None named: the burstable instances running with `unlimited` credits (T3 and later types).
  let rows = ids.length ? await ownInstances(ctx, ids)
    : (await listInstances(ctx.accountId)).filter((i) => i.state !== 'terminated' && defaultCpuCredits(i.instanceType) === 'unlimited');
  dryRunCheck(ctx);
  rows = rows.filter((i) => i.state !== 'terminated' || Date.now() - i.updatedAt.getTime() < TERMINATED_VISIBLE_MS);
  rows = applyFilters(rows, filters, { 'instance-id': (i) => i.id });
  const { page, nextToken: next } = paginate(rows, maxResults, nextToken);
  return {
    instanceCreditSpecificationSet: page.map((i) => ({ instanceId: i.id, cpuCredits: defaultCpuCredits(i.instanceType) })),
    nextToken: next,
  };
}
