// EC2 filters: Filter.N.Name with values (OR within a filter, AND across
// filters), `*` and `?` wildcards, tag:KEY and tag-key.
import { Ec2Error } from '../errors';
import type { Filter } from '../query';

export type FieldGetter<T> = (item: T) => string | string[] | undefined | null;

function wildcard(pattern: string): RegExp {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 's');
}

export function applyFilters<T extends { tags?: { key: string; value: string }[] }>(
  items: T[], filters: Filter[], fields: Record<string, FieldGetter<T>>,
): T[] {
  const tests = filters.map((f) => {
    let get: FieldGetter<T> | undefined = fields[f.name];
    if (!get && f.name.startsWith('tag:')) {
      const key = f.name.slice(4);
      get = (i) => (i.tags ?? []).filter((t) => t.key === key).map((t) => t.value);
    } else if (!get && f.name === 'tag-key') get = (i) => (i.tags ?? []).map((t) => t.key);
    else if (!get && f.name === 'tag-value') get = (i) => (i.tags ?? []).map((t) => t.value);
    if (!get) throw new Ec2Error('InvalidParameterValue', `The filter '${f.name}' is invalid`);
    const patterns = f.values.map(wildcard);
    const getter = get;
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
