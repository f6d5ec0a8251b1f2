// Small XML helpers: an escaping writer for responses and a strict parser for request bodies.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { S3Error } from './errors';

export const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

// CR goes out as a reference too: a parser turns a literal one into LF (a key "a\rb" would list as "a\nb").
export function xmlEscape(s: string): string {
  return s.replace(/[&<>"'\u0000-\u0008\u000b\u000c\u000d\u000e-\u001f]/g, (c) =>
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

// Request bodies are XML 1.0 as any conforming parser reads them: the five named entities and
// numeric character references (Go's encoder writes ETag quotes as &#34;), whitespace kept
// exactly (S3 keys may begin or end with spaces), no DTDs. fast-xml-parser does the parsing;
// its entity hook decodes references, once, after the checks below made sure every one is
// well-formed. Control characters other than NUL, written as references, are kept (a key may
// hold them), and literal line ends are not normalised: what the client wrote is the key.
const REF = /&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const refChar = (r: string) => NAMED[r] ?? String.fromCodePoint(r[1] === 'x' ? parseInt(r.slice(2), 16) : parseInt(r.slice(1), 10));
const entityDecoder = {
  decode: (text: string) => text.replace(REF, (_m, r: string) => refChar(r)),
  reset() {}, setXmlVersion() {}, addInputEntities() {}, setExternalEntities() {},
};
const parser = new XMLParser({
  ignoreAttributes: true, removeNSPrefix: true, parseTagValue: false, trimValues: false,
  processEntities: true, entityDecoder, isArray: (name) => ['Part', 'Object', 'Tag', 'Grant'].includes(name),
});

/** Every '&' starts a known, well-formed reference to a character XML allows. */
function refsOk(text: string): boolean {
  for (let i = text.indexOf('&'); i >= 0; i = text.indexOf('&', i + 1)) {
    REF.lastIndex = i;
    const m = REF.exec(text);
    if (!m || m.index !== i) return false;
    if (m[1][0] === '#') {
      const cp = m[1][1] === 'x' ? parseInt(m[1].slice(2), 16) : parseInt(m[1].slice(1), 10);
      if (!(cp > 0 && cp <= 0x10ffff) || (cp >= 0xd800 && cp <= 0xdfff) || cp === 0xfffe || cp === 0xffff) return false;
    }
  }
  return true;
}

/** Drops the whitespace between elements (text beside child elements), keeps leaf text exactly. */
function dropLayout(v: any): any {
  if (Array.isArray(v)) return v.map(dropLayout);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, any> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === '#text' && typeof x === 'string' && !x.trim()) continue;
    out[k] = dropLayout(x);
  }
  return out;
}

/** Parses a request body; anything malformed or with the wrong root is MalformedXML. */
export function parseXml(body: Buffer, root: string): any {
  const text = body.toString('utf8');
  const outsideCdata = text.replace(/<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->/g, '');
  if (!text.trim() || /<!DOCTYPE/i.test(outsideCdata) || !refsOk(outsideCdata) || XMLValidator.validate(text) !== true) throw new S3Error('MalformedXML');
  let doc: any;
  try { doc = parser.parse(text); } catch { throw new S3Error('MalformedXML'); }
  const r = doc?.[root];
  if (r === undefined) throw new S3Error('MalformedXML');
  // an empty root, or one holding only layout whitespace, is an empty document
  return typeof r === 'string' && !r.trim() ? {} : dropLayout(r);
}

/** Leaf text of a field where S3 reads a value (a status, a number), surrounding layout ignored. */
export const xmlValue = (v: unknown): string | undefined => (typeof v === 'string' ? v.trim() : undefined);

export const httpDate = (d: Date) => d.toUTCString();
export const isoDate = (d: Date) => d.toISOString();
