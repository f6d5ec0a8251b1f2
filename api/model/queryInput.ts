/**
 * Query-protocol input, parsed and validated from the service model.
 *
 * A request's flat parameters (`InstanceId.1=i-1&Filter.1.Name=x&Filter.1.Value.1=y`)
 * become a plain object keyed by the model's member names
 * (`{ InstanceIds: ['i-1'], Filters: [{ Name: 'x', Values: ['y'] }] }`), typed
 * (integers, booleans, timestamps, blobs), with enums and integer ranges checked,
 * required members present, and every parameter the operation does not know
 * reported as UnknownParameter. Names are the model's on the way out and Map keys
 * on the way in, so a parameter called `__proto__` or `constructor` is only ever
 * an unknown name.
 *
 * Serialized names follow botocore's serializers: the EC2 protocol uses
 * `queryName`, else the capitalised `locationName`, else the member name, and
 * lists are always flattened (`Name.N`); the Query protocol (STS, IAM) uses
 * `locationName` or the member name and `Name.member.N` for lists.
 */
import { Ec2Error } from '../ec2/errors';
import type { Protocol, ServiceModel, Shape, ShapeRef } from './service';

export type InputValue = string | number | boolean | Date | Buffer | InputValue[] | InputObject;
export interface InputObject {
  [member: string]: InputValue;
}

interface Node {
  value?: string;
  children: Map<string, Node>;
}

/** Most list items one parameter list may carry (AWS caps most lists far lower). */
const MAX_LIST_ITEMS = 1000;

/**
 * Shapes whose enum the cloud does not enforce: instance types are the
 * cloud's own table (Eucalyptus admins define types), not AWS's list; the
 * model lists only two account attribute names where EC2 answers six
 * (max-instances, max-elastic-ips, ...), which the handler checks itself.
 */
const OPEN_ENUMS = new Set(['InstanceType', 'AccountAttributeName']);

function buildTree(params: Iterable<[string, string]>): Node {
  const root: Node = { children: new Map() };
  for (const [k, v] of params) {
    let node = root;
    for (const seg of k.split('.')) {
      let next = node.children.get(seg);
      if (!next) node.children.set(seg, (next = { children: new Map() }));
      node = next;
    }
    node.value = v;
  }
  return root;
}

function leaves(node: Node, prefix: string, out: string[]): void {
  if (node.value !== undefined) out.push(prefix);
  for (const [k, c] of node.children) leaves(c, prefix ? `${prefix}.${k}` : k, out);
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export function serializedName(protocol: Protocol, member: string, ref: ShapeRef): string {
  if (protocol === 'ec2') return ref.queryName ?? (ref.locationName ? capitalise(ref.locationName) : member);
  return ref.locationName ?? member;
}

export interface ParseResult {
  input: InputObject;
}

class Parser {
  readonly unknown: string[] = [];
  constructor(private model: ServiceModel) {}

  private invalid(path: string, raw: string, detail: string): Ec2Error {
    return new Ec2Error('InvalidParameterValue', `Invalid value '${raw}' for ${path}. ${detail}`);
  }

  structure(shape: Shape, node: Node, path: string): InputObject {
    const out = Object.create(null) as InputObject;
    const seen = new Set<string>();
    for (const [member, ref] of Object.entries(shape.members ?? {})) {
      const name = serializedName(this.model.protocol, member, ref);
      const child = node.children.get(name);
      if (!child) continue;
      seen.add(name);
      const v = this.value(ref, child, path ? `${path}.${name}` : name);
      if (v !== undefined) out[member] = v;
    }
    for (const [k, c] of node.children) if (!seen.has(k)) leaves(c, path ? `${path}.${k}` : k, this.unknown);
    if (node.value !== undefined && path) this.unknown.push(path);
    return out;
  }

  /** Required members, checked after the whole request is known to be well-formed. */
  required(shape: Shape, value: InputObject, path: string): void {
    for (const member of shape.required ?? []) {
      const ref = shape.members?.[member];
      if (!ref) continue;
      const name = serializedName(this.model.protocol, member, ref);
      const at = path ? `${path}.${name}` : name;
      if (!Object.prototype.hasOwnProperty.call(value, member)) throw new Ec2Error('MissingParameter', `The request must contain the parameter ${at}`);
    }
    for (const [member, ref] of Object.entries(shape.members ?? {})) {
      if (!Object.prototype.hasOwnProperty.call(value, member)) continue;
      const name = serializedName(this.model.protocol, member, ref);
      this.requiredIn(ref, value[member], path ? `${path}.${name}` : name);
    }
  }

  private requiredIn(ref: ShapeRef, v: InputValue, path: string): void {
    const shape = this.model.shape(ref.shape);
    if (shape.type === 'structure') this.required(shape, v as InputObject, path);
    else if (shape.type === 'list' && shape.member && Array.isArray(v)) {
      v.forEach((item, i) => this.requiredIn(shape.member!, item, `${path}.${i + 1}`));
    }
  }

  value(ref: ShapeRef, node: Node, path: string): InputValue | undefined {
    const shape = this.model.shape(ref.shape);
    switch (shape.type) {
      case 'structure':
        return this.structure(shape, node, path);
      case 'list':
        return this.list(shape, node, path);
      case 'map':
        return this.map(shape, node, path);
      default:
        if (node.children.size) {
          leaves({ children: node.children }, path, this.unknown);
          if (node.value === undefined) return undefined;
        }
        return this.scalar(ref.shape, shape, node.value ?? '', path);
    }
  }

  private items(node: Node, path: string): Array<[Node, string]> {
    const found: Array<[number, Node, string]> = [];
    for (const [k, c] of node.children) {
      if (!/^[1-9]\d{0,5}$/.test(k)) {
        leaves(c, `${path}.${k}`, this.unknown);
        continue;
      }
      found.push([Number(k), c, `${path}.${k}`]);
    }
    if (node.value !== undefined) this.unknown.push(path);
    if (found.length > MAX_LIST_ITEMS) {
      throw new Ec2Error('InvalidParameterValue', `The list ${path} has ${found.length} items; at most ${MAX_LIST_ITEMS} are accepted.`);
    }
    return found.sort((a, b) => a[0] - b[0]).map(([, c, p]) => [c, p]);
  }

  list(shape: Shape, node: Node, path: string): InputValue[] {
    let holder = node;
    let at = path;
    if (this.model.protocol === 'query' && !shape.flattened) {
      const name = shape.member?.locationName ?? 'member';
      for (const [k, c] of node.children) if (k !== name) leaves(c, `${path}.${k}`, this.unknown);
      holder = node.children.get(name) ?? { children: new Map() };
      at = `${path}.${name}`;
    }
    const out: InputValue[] = [];
    for (const [c, p] of this.items(holder, at)) {
      const v = this.value(shape.member!, c, p);
      if (v !== undefined) out.push(v);
    }
    return out;
  }

  map(shape: Shape, node: Node, path: string): InputValue {
    // Maps (rare in these services): Name.entry.N.key / .value, or flattened Name.N.key
    const out = new Map<string, InputValue>();
    const holder = shape.flattened ? node : node.children.get('entry') ?? { children: new Map() };
    const keyName = shape.key?.locationName ?? 'key';
    const valueName = shape.value?.locationName ?? 'value';
    for (const [c, p] of this.items(holder, shape.flattened ? path : `${path}.entry`)) {
      const k = c.children.get(keyName);
      const v = c.children.get(valueName);
      if (!k || k.value === undefined) throw new Ec2Error('MissingParameter', `The request must contain the parameter ${p}.${keyName}`);
      if (v) {
        const val = this.value(shape.value!, v, `${p}.${valueName}`);
        if (val !== undefined) out.set(k.value, val);
      }
    }
    // Exposed as a null-prototype object: its keys are data, never properties.
    const obj = Object.create(null) as InputObject;
    for (const [k, v] of out) obj[k] = v;
    return obj;
  }

  scalar(shapeName: string, shape: Shape, raw: string, path: string): InputValue {
    switch (shape.type) {
      case 'string':
        if (shape.enum && !OPEN_ENUMS.has(shapeName) && !shape.enum.includes(raw)) {
          throw new Ec2Error('InvalidParameterValue', `Value (${raw}) for parameter ${path} is invalid. Valid values: ${shape.enum.slice(0, 30).join(', ')}${shape.enum.length > 30 ? ', ...' : ''}`);
        }
        return raw;
      case 'integer':
      case 'long': {
        const s = raw.trim();
        if (!/^[+-]?\d{1,15}$/.test(s)) throw this.invalid(path, raw, 'Expected an integer.');
        const n = Number(s);
        if ((shape.min !== undefined && n < shape.min) || (shape.max !== undefined && n > shape.max)) {
          throw new Ec2Error('InvalidParameterValue', `Value (${raw}) for parameter ${path} is invalid. Expected a value between ${shape.min ?? '-'} and ${shape.max ?? '-'}.`);
        }
        return n;
      }
      case 'double':
      case 'float': {
        const n = Number(raw.trim());
        if (raw.trim() === '' || !Number.isFinite(n)) throw this.invalid(path, raw, 'Expected a number.');
        return n;
      }
      case 'boolean': {
        const s = raw.trim().toLowerCase();
        if (s === 'true') return true;
        if (s === 'false') return false;
        throw this.invalid(path, raw, "Expected 'true' or 'false'.");
      }
      case 'timestamp': {
        const s = raw.trim();
        const d = /^\d{1,12}(\.\d+)?$/.test(s) ? new Date(Number(s) * 1000) : new Date(s);
        if (s === '' || Number.isNaN(d.getTime())) throw this.invalid(path, raw, 'Expected an ISO 8601 timestamp.');
        return d;
      }
      case 'blob': {
        const s = raw.replace(/\s+/g, '');
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 === 1) throw this.invalid(path, raw.slice(0, 64), 'Expected base64-encoded data.');
        return Buffer.from(s, 'base64');
      }
      default:
        throw new Error(`unsupported shape type ${shape.type} at ${path}`);
    }
  }
}

/**
 * Parse an operation's input from its flat parameters (Action, Version and
 * authentication parameters already removed). Throws Ec2Error: UnknownParameter,
 * InvalidParameterValue, MissingParameter, in that order of precedence.
 */
export function parseInput(model: ServiceModel, operation: string, params: Iterable<[string, string]>): InputObject {
  const op = model.operations.get(operation);
  if (!op) throw new Error(`${model.name} model has no operation ${operation}`);
  const tree = buildTree(params);
  const parser = new Parser(model);
  if (!op.input) {
    const unknown: string[] = [];
    leaves(tree, '', unknown);
    if (unknown.length) throw unknownParameter(unknown);
    return Object.create(null) as InputObject;
  }
  const shape = model.shape(op.input.shape);
  let input: InputObject;
  try {
    input = parser.structure(shape, tree, '');
  } catch (e) {
    // A malformed value inside a parameter that does not exist anyway: the unknown name wins.
    if (parser.unknown.length) throw unknownParameter(parser.unknown);
    throw e;
  }
  if (parser.unknown.length) throw unknownParameter(parser.unknown);
  parser.required(shape, input, '');
  return input;
}

function unknownParameter(names: string[]): Ec2Error {
  const shown = names[0].length > 128 ? names[0].slice(0, 128) + '...' : names[0];
  return new Ec2Error('UnknownParameter', `The parameter ${shown} is not recognized`);
}
