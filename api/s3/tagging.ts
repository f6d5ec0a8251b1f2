// Tag sets given other than by PutObjectTagging: the `tagging` field of a POST form
// upload (an XML Tagging document, as S3 documents it) or `x-amz-tagging` there
// (URL-encoded, as the header). Limits as S3 (api/s3/context.ts validateTags).
import { S3Error } from './errors';
import { parseXml } from './xml';
import { parseTaggingHeader, validateTags } from './context';
import type { Tag } from '../../db/walrus';

export function tagsFromXml(xml: Buffer | string, max: number): Tag[] {
  const t = parseXml(Buffer.isBuffer(xml) ? xml : Buffer.from(xml, 'utf8'), 'Tagging');
  if (typeof t !== 'object' || t === null || t.TagSet === undefined) throw new S3Error('MalformedXML');
  const set = typeof t.TagSet === 'object' && t.TagSet !== null ? t.TagSet.Tag : undefined;
  const list: unknown[] = set === undefined ? [] : Array.isArray(set) ? set : [set];
  const tags = list.map((x: any) => {
    if (typeof x !== 'object' || x === null || typeof x.Key !== 'string') throw new S3Error('MalformedXML');
    return { Key: x.Key, Value: typeof x.Value === 'string' ? x.Value : '' };
  });
  validateTags(tags, max);
  return tags;
}

/** The tags of a POST form upload, or null. */
export function formTags(fields: Map<string, string>): Tag[] | null {
  const xml = fields.get('tagging');
  if (xml !== undefined && xml.trim()) return xml.trim().startsWith('<') ? tagsFromXml(xml, 10) : parseTaggingHeader(xml);
  return parseTaggingHeader(fields.get('x-amz-tagging'));
}
