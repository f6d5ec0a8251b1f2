/**
 * XML responses serialized from the service model's output shapes.
 *
 * A handler returns a plain object; each output member is looked up by its
 * XML name (`locationName`, e.g. `instancesSet`) or its model name
 * (`Instances`), so both the EC2 wire names and the SDK names work. Values are
 * rendered by the member's shape: lists as `<name><item>..</item></name>` (EC2)
 * or `<name><member>..</member></name>` (Query), empty lists as `<name/>`,
 * timestamps as ISO 8601 with milliseconds, booleans as true/false, blobs as
 * base64; members are written in the model's order; undefined and null are
 * omitted. Keys the shape does not have are reported to `onUnknown` (tests make
 * that an error; in production they are dropped and logged).
 *
 * The document itself is written by fast-xml-parser's XMLBuilder.
 */
import { XMLBuilder } from 'fast-xml-parser';
import type { Protocol, ServiceModel, Shape, ShapeRef } from './service';

// characters XML 1.0 cannot carry at all, even escaped -> U+FFFD
// eslint-disable-next-line no-control-regex
const INVALID_XML_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function xmlSafe(s: string): string {
  return s.replace(INVALID_XML_CHARS, '\uFFFD');
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  suppressEmptyNode: true,
  processEntities: true,
});

export const XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n';

export function buildXml(tree: Record<string, unknown>): string {
  return XML_DECL + (builder.build(tree) as string);
}

type Tree = Record<string, unknown>;

export interface SerializeOptions {
  onUnknown?: (path: string) => void;
}

class Serializer {
  constructor(private model: ServiceModel, private opts: SerializeOptions) {}

  private get protocol(): Protocol {
    return this.model.protocol;
  }

  structure(shape: Shape, obj: Record<string, unknown>, path: string): Tree {
    const out: Tree = {};
    const known = new Set<string>();
    for (const [member, ref] of Object.entries(shape.members ?? {})) {
      const xmlName = ref.locationName ?? member;
      known.add(xmlName);
      known.add(member);
      const v = Object.prototype.hasOwnProperty.call(obj, xmlName) ? obj[xmlName] : Object.prototype.hasOwnProperty.call(obj, member) ? obj[member] : undefined;
      if (v === undefined || v === null) continue;
      const rendered = this.value(ref, v, `${path}.${xmlName}`);
      if (rendered !== undefined) out[xmlName] = rendered;
    }
    if (this.opts.onUnknown) for (const k of Object.keys(obj)) if (!known.has(k) && obj[k] !== undefined) this.opts.onUnknown(`${path}.${k}`);
    return out;
  }

  value(ref: ShapeRef, v: unknown, path: string): unknown {
    const shape = this.model.shape(ref.shape);
    switch (shape.type) {
      case 'structure':
        if (typeof v !== 'object' || Array.isArray(v) || v instanceof Date) throw new Error(`${path}: expected an object for ${ref.shape}`);
        return this.structure(shape, v as Record<string, unknown>, path);
      case 'list': {
        if (!Array.isArray(v)) throw new Error(`${path}: expected an array for ${ref.shape}`);
        const items = v.filter((x) => x !== undefined && x !== null).map((x, i) => this.value(shape.member!, x, `${path}.${i}`));
        const itemName = shape.member?.locationName ?? (this.protocol === 'ec2' ? 'item' : 'member');
        if (items.length === 0) return '';
        return { [itemName]: items };
      }
      case 'map': {
        const entries = v instanceof Map ? [...v.entries()] : Object.entries(v as object);
        if (!entries.length) return '';
        return {
          entry: entries.map(([k, x]) => ({
            [shape.key?.locationName ?? 'key']: xmlSafe(String(k)),
            [shape.value?.locationName ?? 'value']: this.value(shape.value!, x, `${path}.${k}`),
          })),
        };
      }
      case 'timestamp': {
        const d = v instanceof Date ? v : new Date(v as string);
        if (Number.isNaN(d.getTime())) throw new Error(`${path}: invalid timestamp`);
        return d.toISOString();
      }
      case 'boolean':
        if (typeof v === 'boolean') return v ? 'true' : 'false';
        if (v === 'true' || v === 'false') return v;
        throw new Error(`${path}: expected a boolean`);
      case 'integer':
      case 'long':
      case 'double':
      case 'float':
        if (typeof v === 'number' && Number.isFinite(v)) return String(v);
        if (typeof v === 'bigint') return v.toString();
        if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return v;
        throw new Error(`${path}: expected a number`);
      case 'blob':
        return Buffer.isBuffer(v) ? v.toString('base64') : xmlSafe(String(v));
      default:
        if (typeof v === 'object' && !(v instanceof Date)) throw new Error(`${path}: expected a scalar for ${ref.shape}`);
        return xmlSafe(v instanceof Date ? v.toISOString() : String(v));
    }
  }
}

/** The members of an operation's output, as a builder tree (no wrapper). */
export function serializeOutput(model: ServiceModel, operation: string, body: object, opts: SerializeOptions = {}): Tree {
  const op = model.operations.get(operation);
  if (!op) throw new Error(`${model.name} model has no operation ${operation}`);
  // Operations the model gives no output (RebootInstances, DeleteTags, ...) answer <return>true</return> on EC2.
  if (!op.output) return model.protocol === 'ec2' ? { return: 'true' } : {};
  const s = new Serializer(model, opts);
  return s.structure(model.shape(op.output.shape), body as Record<string, unknown>, operation);
}

/** EC2 protocol: `<ActionResponse xmlns=".../doc/VERSION/"><requestId/>...members...</ActionResponse>`. */
export function renderEc2Response(model: ServiceModel, operation: string, requestId: string, body: object, version: string, opts: SerializeOptions = {}): string {
  const { requestId: _ignored, ...rest } = body as Record<string, unknown>;
  void _ignored;
  // EC2 answers <return>true</return> on many calls whose output shape does not list it
  // (CreateSecurityGroup, AssociateAddress): a handler may always return it.
  const op = model.operations.get(operation);
  const shapeMembers = op?.output ? model.shape(op.output.shape).members ?? {} : {};
  const hasReturn = Object.values(shapeMembers).some((m) => m.locationName === 'return');
  let ret: Record<string, unknown> = {};
  if (!hasReturn && op?.output && typeof rest.return === 'boolean') {
    ret = { return: rest.return ? 'true' : 'false' };
    delete rest.return;
  }
  return buildXml({
    [`${operation}Response`]: {
      '@_xmlns': `http://ec2.amazonaws.com/doc/${xmlSafe(version)}/`,
      requestId,
      ...ret,
      ...serializeOutput(model, operation, rest, opts),
    },
  });
}

/** Query protocol: `<ActionResponse xmlns=NS><ActionResult>...</ActionResult><ResponseMetadata><RequestId/>..`. */
export function renderQueryResponse(model: ServiceModel, operation: string, requestId: string, body: object, opts: SerializeOptions = {}): string {
  const op = model.operations.get(operation);
  const wrapper = op?.output?.resultWrapper;
  const members = serializeOutput(model, operation, body, opts);
  return buildXml({
    [`${operation}Response`]: {
      '@_xmlns': model.xmlNamespace,
      ...(wrapper ? { [wrapper]: Object.keys(members).length ? members : '' } : members),
      ResponseMetadata: { RequestId: requestId },
    },
  });
}

/** EC2's error document. */
export function renderEc2Error(code: string, message: string, requestId: string): string {
  return buildXml({ Response: { Errors: { Error: { Code: xmlSafe(code), Message: xmlSafe(message) } }, RequestID: requestId } });
}

/** The Query protocol's error document (STS, IAM). */
export function renderQueryError(model: ServiceModel, code: string, message: string, requestId: string, status: number): string {
  return buildXml({
    ErrorResponse: {
      '@_xmlns': model.xmlNamespace,
      Error: { Type: status >= 500 ? 'Receiver' : 'Sender', Code: xmlSafe(code), Message: xmlSafe(message) },
      RequestId: requestId,
    },
  });
}
