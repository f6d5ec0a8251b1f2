// Tags, as EC2 does them: CreateTags, DeleteTags, DescribeTags on every resource
// this cloud has (instances, images emi/eki/eri, security groups and their rules,
// key pairs, elastic IPs by allocation id), and TagSpecifications at creation.
// The checks every tag goes through, wherever it comes from, are here and only
// here (checkTags, tagsForType); the database side is db/tags.ts.
//
// Limits as AWS: 50 tags per resource, key 1-128 characters (Unicode code
// points), value 0-256, keys starting with `aws:` (any case) reserved, at most
// 1000 resources per call.
import type { Ec2Context } from '../router';
import { dryRunCheck } from '../router';
import { Ec2Error, ec2Errors } from '../errors';
import type { InputObject, InputValue } from '../../model/queryInput';
import { applyFilters, paginate, type Filter } from './filters';
import { dbCall } from './securityGroups';
import {
  checkResources, listTags, putTags, removeTags, resourceTypeOf, MAX_TAGS_PER_RESOURCE,
  type Tag, type TaggableType, type TaggedResource,
} from '../../../db/tags';

export const maxTagKeyChars = 128;
export const maxTagValueChars = 256;
export const maxResourcesPerCall = 1000;
export const maxDeleteTags = 1000;

/** Length in characters as AWS counts them (Unicode code points, not UTF-16 units). */
const chars = (s: string) => Array.from(s).length;

const invalid = (message: string) => new Ec2Error('InvalidParameterValue', message);
const shown = (s: string) => (chars(s) > 160 ? [...s].slice(0, 160).join('') + '...' : s);

// ---------------------------------------------------------------- validation (pure)

/** A tag key: 1-128 characters, not `aws:` (in any case). */
export function checkTagKey(key: unknown): string {
  if (typeof key !== 'string' || key === '') throw invalid("Value (  ) for parameter key is invalid. Tag key cannot be null or empty.");
  if (chars(key) > maxTagKeyChars) {
    throw invalid(`Value ( ${shown(key)} ) for parameter key is invalid. Tag key exceeds the maximum length of ${maxTagKeyChars} characters.`);
  }
  if (key.slice(0, 4).toLowerCase() === 'aws:') {
    throw invalid(`Value ( ${shown(key)} ) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use`);
  }
  return key;
}

/** A tag value: 0-256 characters. */
export function checkTagValue(value: unknown): string {
  if (typeof value !== 'string') throw invalid('Tag value cannot be null. Use empty string instead.');
  if (chars(value) > maxTagValueChars) throw invalid(`Tag value exceeds the maximum length of ${maxTagValueChars} characters.`);
  return value;
}

export interface CheckTagsOptions {
  /** CreateTags: "The value parameter is required" (an empty one is ''); elsewhere a missing value is ''. */
  valueRequired?: boolean;
}

/**
 * The tags of one request for one resource, checked: every key and value, no key
 * twice, at most 50. `list` is the model's TagList (`[{ Key, Value? }]`).
 */
export function checkTags(list: InputValue | undefined, opts: CheckTagsOptions = {}): Tag[] {
  const items = (Array.isArray(list) ? list : []) as InputObject[];
  const seen = new Set<string>();
  const out: Tag[] = [];
  for (const t of items) {
    const key = checkTagKey(t.Key);
    const value = t.Value === undefined && !opts.valueRequired ? '' : checkTagValue(t.Value);
    if (seen.has(key)) throw invalid(`Duplicate tag key '${shown(key)}' specified.`);
    seen.add(key);
    out.push({ key, value });
  }
  if (out.length > MAX_TAGS_PER_RESOURCE) {
    throw new Ec2Error('TagLimitExceeded', `The maximum number of Tags for a resource has been reached (${MAX_TAGS_PER_RESOURCE}); the request has ${out.length}.`);
  }
  return out;
}

/**
 * TagSpecifications of a Create* call, checked: each names a resource type this
 * operation makes (`allowed`), has at least one tag, and its tags pass checkTags
 * (specs of the same type together). Returns the tags by resource type.
 */
export function tagSpecifications(input: InputObject, allowed: readonly TaggableType[]): Map<TaggableType, Tag[]> {
  const specs = (Array.isArray(input.TagSpecifications) ? input.TagSpecifications : []) as InputObject[];
  const byType = new Map<TaggableType, InputObject[]>();
  for (const spec of specs) {
    const rt = spec.ResourceType;
    if (typeof rt !== 'string' || rt === '') throw invalid('Tag specification resource type must have a value');
    if (!(allowed as readonly string[]).includes(rt)) throw invalid(`'${rt}' is not a valid taggable resource type for this operation.`);
    const tags = Array.isArray(spec.Tags) ? (spec.Tags as InputObject[]) : [];
    if (!tags.length) throw invalid('Tag specification must have at least one tag');
    byType.set(rt as TaggableType, [...(byType.get(rt as TaggableType) ?? []), ...tags]);
  }
  const out = new Map<TaggableType, Tag[]>();
  for (const [type, tags] of byType) out.set(type, checkTags(tags));
  return out;
}

/** TagSpecifications of an operation that makes one type of resource: its tags ([] without). */
export function tagsForType(input: InputObject, type: TaggableType): Tag[] {
  return tagSpecifications(input, [type]).get(type) ?? [];
}

/**
 * The ids of a CreateTags/DeleteTags call as resources: an id this cloud's
 * prefixes do not name is InvalidID, a well-formed id of a resource type this
 * cloud does not have (vol-, vpc-, ...) that type's NotFound.
 */
export function taggedResources(ids: readonly string[]): TaggedResource[] {
  if (!ids.length) throw ec2Errors.missingParameter('ResourceId');
  if (ids.length > maxResourcesPerCall) {
    throw invalid(`The request names ${ids.length} resources; at most ${maxResourcesPerCall} are accepted.`);
  }
  const out = new Map<string, TaggedResource>();
  for (const id of ids) {
    const k = resourceTypeOf(id);
    if (k.kind === 'invalid') throw new Ec2Error('InvalidID', `The ID '${shown(id)}' is not valid`);
    if (k.kind === 'absent') throw new Ec2Error(k.code, k.message);
    out.set(id, { id, type: k.type });
  }
  return [...out.values()];
}

/** The model's `Filters` (`[{ Name, Values }]`) as applyFilters takes them; a filter needs a name. */
export function inputFilters(input: InputObject, member = 'Filters', param = 'Filter'): Filter[] {
  const list = (Array.isArray(input[member]) ? input[member] : []) as InputObject[];
  return list.map((f, i) => {
    if (typeof f.Name !== 'string' || f.Name === '') throw ec2Errors.missingParameter(`${param}.${i + 1}.Name`);
    return { name: f.Name, values: (Array.isArray(f.Values) ? f.Values : []) as string[] };
  });
}

/** A MaxResults within [min, max], as EC2 words the error. */
export function maxResultsOf(input: InputObject, min: number, max: number, member = 'MaxResults'): number | undefined {
  const n = input[member];
  if (n === undefined) return undefined;
  if (typeof n !== 'number' || n < min || n > max) {
    throw invalid(`Value ( ${String(n)} ) for parameter maxResults is invalid. Parameter must be between ${min} and ${max}.`);
  }
  return n;
}

/** Tags as the output shapes' TagList items. */
export const tagSet = (tags: readonly Tag[]) => tags.map((t) => ({ key: t.key, value: t.value }));

/** The same, or nothing when there are none (the Describe* items AWS shows without tags have no tagSet). */
export const tagSetIfAny = (tags: readonly Tag[] | undefined) => (tags && tags.length ? tagSet(tags) : undefined);

export const describeTagsFilters = ['key', 'value', 'resource-id', 'resource-type'] as const;

/** DescribeTags knows key, value, resource-id, resource-type and tag:KEY; any other name is invalid. */
export function checkDescribeTagsFilters(filters: Filter[]): void {
  for (const f of filters) {
    if (!(describeTagsFilters as readonly string[]).includes(f.name) && !f.name.startsWith('tag:')) {
      throw invalid(`The filter '${shown(f.name)}' is invalid`);
    }
  }
}

const strings = (v: InputValue | undefined): string[] => (Array.isArray(v) ? (v as string[]) : []);

// ---------------------------------------------------------------- actions

export async function CreateTags(ctx: Ec2Context) {
  const resources = taggedResources(strings(ctx.input.Resources));
  const tags = checkTags(ctx.input.Tags, { valueRequired: true });
  if (!tags.length) throw ec2Errors.missingParameter('Tag');
  await dbCall(checkResources(ctx.accountId, resources));
  dryRunCheck(ctx);
  await dbCall(putTags(ctx.accountId, resources, tags));
  return { return: true };
}

export async function DeleteTags(ctx: Ec2Context) {
  const resources = taggedResources(strings(ctx.input.Resources));
  let tags: Array<{ key: string; value?: string }> | undefined;
  if (ctx.input.Tags !== undefined) {
    const list = ctx.input.Tags as InputObject[];
    if (list.length > maxDeleteTags) throw invalid(`The request names ${list.length} tags; at most ${maxDeleteTags} are accepted.`);
    // A key (AWS's own aws: keys cannot be deleted either) and, when given, the value the tag must have.
    tags = list.map((t) => ({ key: checkTagKey(t.Key), value: t.Value === undefined ? undefined : checkTagValue(t.Value) }));
  }
  await dbCall(checkResources(ctx.accountId, resources));
  dryRunCheck(ctx);
  await dbCall(removeTags(ctx.accountId, resources, tags));
  return { return: true };
}

export async function DescribeTags(ctx: Ec2Context) {
  const filters = inputFilters(ctx.input);
  checkDescribeTagsFilters(filters);
  const maxResults = maxResultsOf(ctx.input, 5, 1000);
  const nextToken = ctx.input.NextToken as string | undefined;
  dryRunCheck(ctx);
  const rows = await listTags(ctx.accountId);
  // tag:KEY finds resources by one of their tags: each row carries all its resource's tags
  const byResource = new Map<string, Tag[]>();
  for (const r of rows) {
    const l = byResource.get(r.resourceId) ?? [];
    l.push({ key: r.key, value: r.value });
    byResource.set(r.resourceId, l);
  }
  const items = rows.map((r) => ({ ...r, tags: byResource.get(r.resourceId)! }));
  const matched = applyFilters(items, filters, {
    key: (r) => r.key, value: (r) => r.value, 'resource-id': (r) => r.resourceId, 'resource-type': (r) => r.resourceType,
  });
  const { page, nextToken: next } = paginate(matched, maxResults, nextToken);
  return {
    tagSet: page.map((r) => ({ resourceId: r.resourceId, resourceType: r.resourceType, key: r.key, value: r.value })),
    nextToken: next,
  };
}
