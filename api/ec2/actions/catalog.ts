// Read-only catalogue actions: images, zones (with Eucalyptus' verbose
// capacity listing), regions, instance types, account attributes.
import type { Ec2Context } from '../router';
import { dryRunCheck } from '../router';
import { Ec2Error, ec2Errors } from '../errors';
import { applyFilters, paginate } from './filters';
import { inputFilters, maxResultsOf, tagSetIfAny } from './tags';
import { imageFilters, type TaggedImage } from './resourceFilters';
import { withAccountTags } from '../../../db/tags';
import { instanceTypeInfo, instanceTypeFilters } from './instanceTypeInfo';
import { listVisibleImages, listZones, listInstanceTypes, type ImageRow } from '../../../db/catalog';
import { nodeCapacities, listNodes } from '../../../db/nodes';
import { getPool } from '../../../db/pool';
import { config } from '../../../lib/config';
import { imageIdPattern } from '../../../lib/ids';

function imageItem(i: TaggedImage) {
  return {
    imageId: i.id, imageLocation: i.imageLocation ?? `${i.accountId}/${i.name}`, imageState: i.state, imageOwnerId: i.accountId,
    creationDate: i.createdAt, isPublic: i.isPublic, architecture: i.architecture, imageType: i.imageType,
    kernelId: i.kernelId ?? undefined, ramdiskId: i.ramdiskId ?? undefined,
    name: i.name, description: i.description ?? undefined, rootDeviceType: 'instance-store', rootDeviceName: i.rootDeviceName ?? undefined,
    virtualizationType: 'hvm', hypervisor: 'xen',
    blockDeviceMapping: i.rootDeviceName ? [{ deviceName: i.rootDeviceName, virtualName: 'ami' }] : [],
    tagSet: tagSetIfAny(i.tags),   // the caller's own tags (an image shared with it may carry its owner's too: not shown)
  };
}

export async function DescribeImages(ctx: Ec2Context) {
  const ids = (ctx.input.ImageIds ?? []) as string[];
  for (const id of ids) if (!imageIdPattern.test(id)) throw ec2Errors.amiMalformed(id);
  const owners = (ctx.input.Owners ?? []) as string[];
  const executableBy = (ctx.input.ExecutableUsers ?? []) as string[];
  const filters = inputFilters(ctx.input);
  const maxResults = maxResultsOf(ctx.input, 1, 1000);
  const nextToken = ctx.input.NextToken as string | undefined;
  if (maxResults !== undefined && ids.length) {
    throw new Ec2Error('InvalidParameterCombination', 'The parameter ImageIds cannot be used with the parameter MaxResults');
  }
  let images = await listVisibleImages(ctx.accountId);
  if (ids.length) {
    const missing = ids.filter((id) => !images.some((i) => i.id === id));
    if (missing.length) throw ec2Errors.amiNotFound(missing.join(', '));
    images = images.filter((i) => ids.includes(i.id));
  }
  dryRunCheck(ctx);
  if (owners.length) images = images.filter((i) => owners.some((o) => (o === 'self' ? i.accountId === ctx.accountId : i.accountId === o)));
  if (executableBy.length) {
    // explicit launch permissions (ModifyImageAttribute UserId) of the images in view
    const shared = new Map<string, Set<string>>();
    if (images.length) {
      const [rows] = await getPool().query<any[]>('SELECT image_id, account_id FROM image_launch_permissions WHERE image_id IN (?)', [images.map((i) => i.id)]);
      for (const r of rows) { if (!shared.has(r.image_id)) shared.set(r.image_id, new Set()); shared.get(r.image_id)!.add(r.account_id); }
    }
    const canLaunch = (i: ImageRow, acct: string) => i.accountId === acct || !!shared.get(i.id)?.has(acct);
    images = images.filter((i) => executableBy.some((e) => e === 'all' ? i.isPublic
      : (e === 'self' || e === ctx.accountId) ? (i.isPublic || canLaunch(i, ctx.accountId)) : canLaunch(i, e)));
  }
  const tagged = await withAccountTags(ctx.accountId, images as TaggedImage[], (i) => i.id);
  const { page, nextToken: next } = paginate(applyFilters(tagged, filters, imageFilters), maxResults, nextToken);
  return { imagesSet: page.map(imageItem), nextToken: next };
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

export async function DescribeAvailabilityZones(ctx: Ec2Context) {
  const names = (ctx.input.ZoneNames ?? []) as string[];
  const filters = inputFilters(ctx.input);
  dryRunCheck(ctx);
  // `euca-describe-availability-zones verbose`: capacity per instance type, free / max.
  const verbose = names.includes('verbose');
  const wanted = names.filter((n) => n !== 'verbose');
  const zones = await listZones();
  for (const n of wanted) if (!zones.some((z) => z.name === n)) throw new Ec2Error('InvalidParameterValue', `Invalid availability zone: [${n}]`);
  const selected = applyFilters(zones.filter((z) => !wanted.length || wanted.includes(z.name)) as any[], filters, {
    'zone-name': (z: any) => z.name, 'region-name': (z: any) => z.region, state: (z: any) => z.state, 'zone-id': (z: any) => z.name,
  });
  const items: object[] = [];
  const types = verbose ? await listInstanceTypes() : [];
  for (const z of selected) {
    items.push({ zoneName: z.name, zoneState: z.state, regionName: z.region, zoneId: z.name, messageSet: [], zoneType: 'availability-zone' });
    if (!verbose) continue;
    const free = await nodeCapacities(z.name);
    const nodes = (await listNodes(z.name)).filter((n) => n.up);
    items.push({ zoneName: '|- vm types', zoneState: 'free / max   cpu   ram  disk', regionName: z.region, messageSet: [] });
    for (const t of types) {
      const fit = (c: { v: number; m: number; d: number }) => Math.max(0, Math.min(Math.floor(c.v / t.vcpus), Math.floor(c.m / t.memoryMiB), Math.floor(c.d / t.diskGiB)));
      const freeCount = free.reduce((s, n) => s + fit({ v: n.freeVcpus, m: n.freeMemoryMiB, d: n.freeDiskGiB }), 0);
      const maxCount = nodes.reduce((s, n) => s + fit({ v: n.vcpus, m: n.memoryMiB, d: n.diskGiB }), 0);
      items.push({
        zoneName: `|- ${t.name}`, regionName: z.region, messageSet: [],
        zoneState: `${pad(freeCount, 4)} / ${pad(maxCount, 4)}   ${String(t.vcpus).padStart(3)}  ${String(t.memoryMiB).padStart(5)}  ${String(t.diskGiB).padStart(4)}`,
      });
    }
  }
  return { availabilityZoneInfo: items };
}

export async function DescribeRegions(ctx: Ec2Context) {
  const names = (ctx.input.RegionNames ?? []) as string[];
  const filters = inputFilters(ctx.input);
  dryRunCheck(ctx);
  const regions = [...new Set((await listZones()).map((z) => z.region))];
  if (!regions.includes(config.region)) regions.push(config.region);
  for (const n of names) if (!regions.includes(n)) throw new Ec2Error('InvalidParameterValue', `Invalid region: ${n}`);
  const endpoint = `${config.apiHost}:${config.apiPort}`;
  const list = applyFilters(regions.filter((r) => !names.length || names.includes(r)).map((r) => ({ name: r, tags: [] as { key: string; value: string }[] })), filters, {
    'region-name': (r) => r.name, endpoint: () => endpoint, 'opt-in-status': () => 'opt-in-not-required',
  });
  return { regionInfo: list.map((r) => ({ regionName: r.name, regionEndpoint: endpoint, optInStatus: 'opt-in-not-required' })) };
}

export async function DescribeInstanceTypes(ctx: Ec2Context) {
  const wanted = (ctx.input.InstanceTypes ?? []) as string[];
  const filters = inputFilters(ctx.input);
  const maxResults = maxResultsOf(ctx.input, 5, 100);
  const nextToken = ctx.input.NextToken as string | undefined;
  const types = await listInstanceTypes();
  const unknown = wanted.filter((w) => !types.some((t) => t.name === w));
  if (unknown.length) throw new Ec2Error('InvalidInstanceType', `The following supplied instance types do not exist: [${unknown.join(', ')}]`);
  dryRunCheck(ctx);
  const list = applyFilters(types.filter((t) => !wanted.length || wanted.includes(t.name)), filters, instanceTypeFilters);
  const { page, nextToken: next } = paginate(list, maxResults, nextToken);
  return { instanceTypeSet: page.map(instanceTypeInfo), nextToken: next };
}

export async function DescribeAccountAttributes(ctx: Ec2Context) {
  const names = (ctx.input.AttributeNames ?? []) as string[];
  dryRunCheck(ctx);
  const all: Record<string, string[]> = {
    'supported-platforms': ['EC2'], 'default-vpc': ['none'], 'max-instances': ['20'],
    'vpc-max-security-groups-per-interface': ['5'], 'max-elastic-ips': ['5'], 'vpc-max-elastic-ips': ['5'],
  };
  for (const n of names) if (!Object.hasOwn(all, n)) throw new Ec2Error('InvalidParameterValue', `Invalid attribute name: ${n}`);
  return {
    accountAttributeSet: Object.entries(all).filter(([k]) => !names.length || names.includes(k))
      .map(([k, v]) => ({ attributeName: k, attributeValueSet: v.map((x) => ({ attributeValue: x })) })),
  };
}
