// Small XML helpers: an escaping writer for responses and a strict parser for request bodies.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { S3Error } from './errors';

export const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

export function xmlEscape(s: string): string {
  return s.replace(/[&<>"'\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : c === "'" ? '&apos;' : `&#x${c.charCodeAt(0).toString(16)};`);
}

export type XmlNode = string | number | boolean | null | undefined | XmlNode[] | { [k: string]: XmlNode };

/** Renders {Tag: value}; arrays repeat the tag; undefined/null are omitted. */
export function toXml(name: string, value: XmlNode): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map((v) => toXml(name, v)).join('');
  if (typeof value === 'object') {
    let inner = '';
    for (const [k, v] of Object.entries(value)) inner += toXml(k, v);
    return `<${name}>${inner}</${name}>`;
  }
  return `<${name}>${xmlEscape(String(value))}</${name}>`;
}

export function xmlDoc(root: string, body: { [k: string]: XmlNode }): string {
  let inner = '';
  for (const [k, v] of Object.entries(body)) inner += toXml(k, v);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${S3_NS}">${inner}</${root}>`;
}

const parser = new XMLParser({
  ignoreAttributes: true, removeNSPrefix: true, parseTagValue: false, trimValues: true,
  processEntities: true, isArray: (name) => ['Part', 'Object', 'Tag', 'Grant'].includes(name),
});

/** Parses a request body; anything malformed or with the wrong root is MalformedXML. */
export function parseXml(body: Buffer, root: string): any {
  const text = body.toString('utf8');
  if (!text.trim() || XMLValidator.validate(text) !== true) throw new S3Error('MalformedXML');
  let doc: any;
  try { doc = parser.parse(text); } catch { throw new S3Error('MalformedXML'); }
  const r = doc?.[root];
  if (r === undefined) throw new S3Error('MalformedXML');
  return r === '' ? {} : r;
}

export const httpDate = (d: Date) => d.toUTCString();
export const isoDate = (d: Date) => d.toISOString();
