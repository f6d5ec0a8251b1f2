// EC2 filters: Filter.N.Name with values (OR within a filter, AND across
// filters), `*` and `?` wildcards (lib/wildcard.ts: linear, no regex), tag:KEY
// and tag-key. AWS's limits: 50 filters a call, 200 values a filter, 255
// characters a value.
import { Ec2Error } from '../errors';
import { compileWildcard } from '../../../lib/wildcard';

/** One filter of a Describe* call: a name and its values (inputFilters, tags.ts, reads them from the model input). */
export interface Filter {
  name: string;
  values: string[];
}

export type FieldGetter<T> = (item: T) => string | string[] | undefined | null;

export const MAX_FILTERS = 50;
export const MAX_FILTER_VALUES = 200;
export const MAX_FILTER_VALUE_LENGTH = 255;

/** AWS's limits on the filters of one call: FilterLimitExceeded (400), InvalidParameterValue. */
export function checkFilterLimits(filters: Filter[]): void {
  if (filters.length > MAX_FILTERS) {
    throw new Ec2Error('FilterLimitExceeded', `The maximum number of filters specified on a single call is ${MAX_FILTERS}`, 400);
  }
  for (const f of filters) {
    if (f.values.length > MAX_FILTER_VALUES) {
      throw new Ec2Error('FilterLimitExceeded', `The maximum number of filter values specified on a single call is ${MAX_FILTER_VALUES}`, 400);
    }
    for (const v of f.values) {
      if (v.length > MAX_FILTER_VALUE_LENGTH) {
        throw new Ec2Error('InvalidParameterValue',
          `The filter value for '${f.name}' is invalid: a filter value must be at most ${MAX_FILTER_VALUE_LENGTH} characters long`);
      }
    }
  }
}

/**
 * The getter of a filter name: an own entry of `fields` (never one inherited
 * from Object.prototype: a filter named `constructor` or `__proto__` is just an
 * unknown filter), or one of the tag filters.
 */
function getterOf<T extends { tags?: { key: string; value: string }[] }>(
  fields: Record<string, FieldGetter<T>>, name: string,
): FieldGetter<T> | undefined {
  if (Object.hasOwn(fields, name)) return fields[name];
  if (name.startsWith('tag:')) {
    const key = name.slice(4);
    return (i) => (i.tags ?? []).filter((t) => t.key === key).map((t) => t.value);
  }
  if (name === 'tag-key') return (i) => (i.tags ?? []).map((t) => t.key);
  if (name === 'tag-value') return (i) => (i.tags ?? []).map((t) => t.value);
  return undefined;
}

export function applyFilters<T extends { tags?: { key: string; value: string }[] }>(
  items: T[], filters: Filter[], fields: Record<string, FieldGetter<T>>,
): T[] {
  checkFilterLimits(filters);
  const tests = filters.map((f) => {
    const getter = getterOf(fields, f.name);
    if (typeof getter !== 'function') throw new Ec2Error('InvalidParameterValue', `The filter '${f.name}' is invalid`);
    const patterns = f.values.map(compileWildcard);
    return (item: T) => {
      const v = getter(item);
      const values = v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
      return values.some((x) => patterns.some((p) => p.test(x)));
    };
  });
  return items.filter((i) => tests.every((t) => t(i)));
}

/** Opaque NextToken: the offset, base64. */
export function paginate<T>(items: T[], maxResults: number | undefined, nextToken: string | undefined): { page: T[]; nextToken?: string } {
  let offset = 0;
  if (nextToken !== undefined) {
    const m = /^o:(\d+)$/.exec(Buffer.from(nextToken, 'base64').toString('utf8'));
    if (!m) throw new Ec2Error('InvalidNextToken', `The token '${nextToken}' is invalid.`);
    offset = Number(m[1]);
  }
  if (maxResults === undefined) return { page: items.slice(offset) };
  const page = items.slice(offset, offset + maxResults);
  const next = offset + maxResults < items.length ? Buffer.from(`o:${offset + maxResults}`).toString('base64') : undefined;
  return { page, nextToken: next };
}
