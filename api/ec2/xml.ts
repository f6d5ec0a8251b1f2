/**
 * EC2 XML responses.
 *
 * Body objects are plain JS: keys become element names (use EC2's camelCase
 * names, e.g. `instancesSet`), arrays render as `<name><item>..</item></name>`,
 * empty arrays as `<name/>`, Dates as RFC 3339 with milliseconds, booleans as
 * true/false, undefined/null are omitted.
 */

export const DEFAULT_EC2_VERSION = '2016-11-15';
export const XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n';

// characters XML 1.0 cannot carry at all, even escaped -> U+FFFD
// eslint-disable-next-line no-control-regex
const INVALID_XML_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function escapeXml(s: string): string {
  return s
    .replace(INVALID_XML_CHARS, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\r/g, '&#13;');
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function checkName(name: string): void {
  if (!NAME_RE.test(name)) throw new Error(`invalid XML element name in EC2 response body: ${JSON.stringify(name)}`);
}

/** RFC 3339 with milliseconds, UTC: 2026-11-25T11:25:41.000Z */
export function formatDate(d: Date): string {
  if (Number.isNaN(d.getTime())) throw new Error('invalid Date in EC2 response body');
  return d.toISOString();
}

function scalar(v: unknown): string | undefined {
  if (typeof v === 'string') return escapeXml(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`non-finite number in EC2 response body: ${v}`);
    return String(v);
  }
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v instanceof Date) return formatDate(v);
  return undefined;
}

function renderValue(name: string, v: unknown, out: string[], depth: number): void {
  if (v === undefined || v === null) return;
  if (depth > 64) throw new Error('EC2 response body nested too deeply (cycle?)');
  checkName(name);
  const s = scalar(v);
  if (s !== undefined) {
    out.push(`<${name}>${s}</${name}>`);
    return;
  }
  if (Array.isArray(v)) {
    const items = v.filter((x) => x !== undefined && x !== null);
    if (items.length === 0) {
      out.push(`<${name}/>`);
      return;
    }
    out.push(`<${name}>`);
    for (const item of items) renderValue('item', item, out, depth + 1);
    out.push(`</${name}>`);
    return;
  }
  if (typeof v === 'object') {
    out.push(`<${name}>`);
    renderFields(v as Record<string, unknown>, out, depth + 1);
    out.push(`</${name}>`);
    return;
  }
  throw new Error(`unsupported value of type ${typeof v} for <${name}> in EC2 response body`);
}

function renderFields(obj: Record<string, unknown>, out: string[], depth: number): void {
  for (const [k, v] of Object.entries(obj)) renderValue(k, v, out, depth);
}

/** Render the body fields only (no declaration, no wrapper). */
export function renderBody(body: object): string {
  const out: string[] = [];
  renderFields(body as Record<string, unknown>, out, 0);
  return out.join('');
}

export function renderResponse(action: string, requestId: string, body: object, version = DEFAULT_EC2_VERSION): string {
  checkName(action);
  const { requestId: _ignored, ...rest } = body as Record<string, unknown>;
  void _ignored;
  return (
    XML_DECL +
    `<${action}Response xmlns="http://ec2.amazonaws.com/doc/${escapeXml(version)}/">` +
    `<requestId>${escapeXml(requestId)}</requestId>` +
    renderBody(rest) +
    `</${action}Response>`
  );
}

export function renderError(code: string, message: string, requestId: string): string {
  return (
    XML_DECL +
    `<Response><Errors><Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error></Errors>` +
    `<RequestID>${escapeXml(requestId)}</RequestID></Response>`
  );
}
