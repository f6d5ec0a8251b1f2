/**
 * EC2 Query protocol parameters: parsing of the form/query string into a flat
 * map and typed accessors for EC2's flattened lists and structures
 * (`InstanceId.1`, `Filter.1.Value.2`, `TagSpecification.1.Tag.2.Key`).
 *
 * Parameter maps have a null prototype, so `params['constructor']` is undefined.
 */
import { parseQueryPairs } from '../auth/sigv4';
import { Ec2Error, ec2Errors } from './errors';

export type Ec2Params = Record<string, string>;

/** Query-auth parameters (SigV4 presign) removed from the action's params. */
const AUTH_PARAMS = new Set([
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
  'X-Amz-Security-Token',
]);

export function emptyParams(): Ec2Params {
  return Object.create(null) as Ec2Params;
}

/** Parse `a=1&b=2` (form encoding, '+' = space). Repeated keys: last wins. Throws MalformedQueryString. */
export function parseQueryString(raw: string, into: Ec2Params = emptyParams()): Ec2Params {
  let pairs: Array<[string, string]>;
  try {
    pairs = parseQueryPairs(raw);
  } catch {
    throw new Ec2Error('MalformedQueryString', 'The query string contains a syntax error (invalid percent-encoding).');
  }
  for (const [k, v] of pairs) {
    if (AUTH_PARAMS.has(k)) continue;
    into[k] = v;
  }
  return into;
}

export interface QueryRequest {
  method: string;
  /** raw query string without '?' */
  query: string;
  contentType?: string;
  body?: Buffer;
}

/**
 * Parameters of a Query request: the URL query string, then (POST) the
 * application/x-www-form-urlencoded body, which wins on duplicate keys.
 */
export function parseEc2Request(req: QueryRequest): Ec2Params {
  const params = parseQueryString(req.query);
  const body = req.body;
  if (req.method.toUpperCase() === 'POST' && body && body.length > 0) {
    const ct = (req.contentType ?? '').split(';')[0].trim().toLowerCase();
    if (ct !== '' && ct !== 'application/x-www-form-urlencoded') {
      throw new Ec2Error(
        'InvalidParameterValue',
        `Unsupported Content-Type '${ct}'; the Query API expects application/x-www-form-urlencoded.`,
      );
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(body);
    } catch {
      throw new Ec2Error('MalformedQueryString', 'The request body is not valid UTF-8.');
    }
    parseQueryString(text.trim(), params);
  }
  return params;
}

// ---------------------------------------------------------------- scalars

export function getString(params: Ec2Params, name: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(params, name) ? params[name] : undefined;
}

export function required(params: Ec2Params, name: string): string {
  const v = getString(params, name);
  if (v === undefined) throw ec2Errors.missingParameter(name);
  return v;
}

export interface IntOptions {
  min?: number;
  max?: number;
}

export function getInt(params: Ec2Params, name: string, opts: IntOptions = {}): number | undefined {
  const raw = getString(params, name);
  if (raw === undefined) return undefined;
  const s = raw.trim();
  if (!/^[+-]?\d{1,15}$/.test(s)) {
    throw new Ec2Error('InvalidParameterValue', `Invalid value '${raw}' for ${name}. Expected an integer.`);
  }
  const n = Number(s);
  if ((opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max)) {
    const range =
      opts.min !== undefined && opts.max !== undefined
        ? `between ${opts.min} and ${opts.max}`
        : opts.min !== undefined
          ? `greater than or equal to ${opts.min}`
          : `less than or equal to ${opts.max}`;
    throw new Ec2Error('InvalidParameterValue', `Value (${raw}) for parameter ${name} is invalid. Expected a value ${range}.`);
  }
  return n;
}

export function getBool(params: Ec2Params, name: string): boolean | undefined {
  const raw = getString(params, name);
  if (raw === undefined) return undefined;
  const s = raw.trim().toLowerCase();
  if (s === 'true') return true;
  if (s === 'false') return false;
  throw new Ec2Error('InvalidParameterValue', `Invalid value '${raw}' for ${name}. Expected 'true' or 'false'.`);
}

export function getEnum<T extends string>(params: Ec2Params, name: string, allowed: readonly T[]): T | undefined {
  const raw = getString(params, name);
  if (raw === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new Ec2Error('InvalidParameterValue', `Invalid value '${raw}' for ${name}. Valid values: ${allowed.join(', ')}.`);
  }
  return raw as T;
}

// ---------------------------------------------------------------- lists

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `Name.1`, `Name.2`, ... (gaps allowed, ordered by N). */
export function getList(params: Ec2Params, name: string): string[] {
  const re = new RegExp(`^${escapeRe(name)}\\.(\\d+)$`);
  const found: Array<[number, string]> = [];
  for (const k of Object.keys(params)) {
    const m = re.exec(k);
    if (m) found.push([Number(m[1]), params[k]]);
  }
  found.sort((a, b) => a[0] - b[0]);
  return found.map(([, v]) => v);
}

export type StructValue = string | StructValue[] | StructObject;
export interface StructObject {
  [key: string]: StructValue;
}

interface Node {
  value?: string;
  children: Map<string, Node>;
}

function toStruct(node: Node, path: string): StructValue {
  if (node.children.size === 0) return node.value ?? '';
  if (node.value !== undefined) {
    throw new Ec2Error('InvalidParameterValue', `Parameter ${path} cannot be both a value and a structure.`);
  }
  const keys = [...node.children.keys()];
  if (keys.every((k) => /^\d+$/.test(k))) {
    return keys
      .map((k) => [Number(k), k] as const)
      .sort((a, b) => a[0] - b[0])
      .map(([, k]) => toStruct(node.children.get(k)!, `${path}.${k}`));
  }
  const obj = Object.create(null) as StructObject;
  for (const [k, child] of node.children) obj[k] = toStruct(child, `${path}.${k}`);
  return obj;
}

/** Everything below `prefix.` as a nested value (numeric segments become arrays ordered by index). */
export function getStruct(params: Ec2Params, prefix: string): StructValue | undefined {
  const root: Node = { children: new Map() };
  let any = false;
  const p = prefix + '.';
  for (const k of Object.keys(params)) {
    if (!k.startsWith(p)) continue;
    any = true;
    let node = root;
    for (const seg of k.slice(p.length).split('.')) {
      let next = node.children.get(seg);
      if (!next) {
        next = { children: new Map() };
        node.children.set(seg, next);
      }
      node = next;
    }
    node.value = params[k];
  }
  return any ? toStruct(root, prefix) : undefined;
}

/**
 * `TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.2.Key=k` ->
 * `[{ ResourceType: 'instance', Tag: [{ Key: 'k' }] }]`.
 */
export function getStructList(params: Ec2Params, name: string): StructObject[] {
  const v = getStruct(params, name);
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new Ec2Error('InvalidParameterValue', `Parameter ${name} must be a list (${name}.N...).`);
  return v.map((item, i) => {
    if (typeof item !== 'object' || Array.isArray(item)) {
      throw new Ec2Error('InvalidParameterValue', `Parameter ${name}.${i + 1} must be a structure.`);
    }
    return item;
  });
}

export interface Filter {
  name: string;
  values: string[];
}

/** `Filter.N.Name` + `Filter.N.Value.M`. A filter without values gets `values: []`. */
export function getFilters(params: Ec2Params, name = 'Filter'): Filter[] {
  const re = new RegExp(`^${escapeRe(name)}\\.(\\d+)\\.(Name|Value\\.(\\d+))$`);
  const byN = new Map<number, { name?: string; values: Array<[number, string]> }>();
  for (const k of Object.keys(params)) {
    const m = re.exec(k);
    if (!m) continue;
    const n = Number(m[1]);
    let f = byN.get(n);
    if (!f) byN.set(n, (f = { values: [] }));
    if (m[2] === 'Name') f.name = params[k];
    else f.values.push([Number(m[3]), params[k]]);
  }
  return [...byN.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([n, f]) => {
      if (f.name === undefined || f.name === '') throw ec2Errors.missingParameter(`${name}.${n}.Name`);
      return { name: f.name, values: f.values.sort((a, b) => a[0] - b[0]).map(([, v]) => v) };
    });
}

export interface Tag {
  key: string;
  value: string;
}

function tagsFrom(list: StructValue | undefined, path: string): Tag[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new Ec2Error('InvalidParameterValue', `Parameter ${path} must be a list.`);
  return list.map((t, i) => {
    const at = `${path}.${i + 1}`;
    if (typeof t !== 'object' || Array.isArray(t)) throw new Ec2Error('InvalidParameterValue', `Parameter ${at} must be a structure.`);
    const key = t['Key'];
    const value = t['Value'];
    if (typeof key !== 'string' || key === '') throw ec2Errors.missingParameter(`${at}.Key`);
    if (value !== undefined && typeof value !== 'string') throw new Ec2Error('InvalidParameterValue', `Invalid value for ${at}.Value`);
    return { key, value: value ?? '' };
  });
}

/** `Tag.N.Key` / `Tag.N.Value` (name defaults to 'Tag'). Missing Value -> ''. */
export function getTags(params: Ec2Params, name = 'Tag'): Tag[] {
  return tagsFrom(getStruct(params, name), name);
}

export interface TagSpecification {
  resourceType?: string;
  tags: Tag[];
}

/** `TagSpecification.N.ResourceType` + `TagSpecification.N.Tag.M.Key/Value`. */
export function getTagSpecifications(params: Ec2Params, name = 'TagSpecification'): TagSpecification[] {
  return getStructList(params, name).map((spec, i) => {
    const rt = spec['ResourceType'];
    return {
      resourceType: typeof rt === 'string' ? rt : undefined,
      tags: tagsFrom(spec['Tag'], `${name}.${i + 1}.Tag`),
    };
  });
}
