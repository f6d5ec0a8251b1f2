// GetObjectAttributes: ETag, Checksum, ObjectParts, StorageClass, ObjectSize of a
// version, as named in x-amz-object-attributes. ObjectParts gives the part count
// of a multipart object and, as S3 does only for objects with an additional
// checksum, its parts (number, size, checksum) from the layout kept at completion.
import { S3Error } from './errors';
import { xmlDoc, httpDate, type XmlNode } from './xml';
import { type Ctx, hdr } from './context';
import { loadObject } from './objects';
import { sendXml } from './buckets';

const ATTRS = ['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize'];

export async function getObjectAttributes(ctx: Ctx) {
  const raw = hdr(ctx, 'x-amz-object-attributes');
  const asked = (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (!asked.length) throw new S3Error('InvalidRequest', 'The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty');
  for (const a of asked) if (!ATTRS.includes(a)) throw new S3Error('InvalidArgument', 'Invalid attribute name specified.', { ArgumentName: 'x-amz-object-attributes', ArgumentValue: a });
  const int = (name: string, dflt: number) => {
    const v = hdr(ctx, name);
    if (v === undefined) return dflt;
    if (!/^\d+$/.test(v.trim())) throw new S3Error('InvalidArgument', `Provided ${name} not an integer or within integer range`, { ArgumentName: name, ArgumentValue: v });
    return Number(v.trim());
  };
  const maxParts = Math.min(int('x-amz-max-parts', 1000), 1000);
  const marker = int('x-amz-part-number-marker', 0);

  // the object as GET/HEAD load it: permission (s3:GetObjectAttributes), versions, delete markers
  const { b, o } = await loadObject(ctx, 'read');
  ctx.res.setHeader('Last-Modified', httpDate(o.lastModified));
  if (o.versionId !== 'null' || b.versioning !== 'Off') ctx.res.setHeader('x-amz-version-id', o.versionId);
  const out: Record<string, XmlNode> = {};
  if (asked.includes('ETag')) out.ETag = o.etag;
  if (asked.includes('Checksum') && o.checksum && o.checksumAlgo) out.Checksum = { [`Checksum${o.checksumAlgo}`]: o.checksum, ChecksumType: o.checksumType ?? 'FULL_OBJECT' };
  if (asked.includes('ObjectParts') && o.partsCount) {
    // the parts themselves only for an object with an additional checksum, as S3 (each with its checksum)
    const layout = o.checksumAlgo && o.partSizes ? o.partSizes : [];
    const shown = layout.map(([size, checksum], i) => ({ n: i + 1, size, checksum })).filter((p) => p.n > marker).slice(0, maxParts);
    const last = shown[shown.length - 1]?.n ?? marker;
    out.ObjectParts = {
      PartsCount: o.partsCount, PartNumberMarker: marker, NextPartNumberMarker: last, MaxParts: maxParts, IsTruncated: last < layout.length,
      Part: shown.map((p) => ({ PartNumber: p.n, Size: p.size, ...(p.checksum ? { [`Checksum${o.checksumAlgo}`]: p.checksum } : {}) })),
    };
  }
  if (asked.includes('StorageClass')) out.StorageClass = 'STANDARD';
  if (asked.includes('ObjectSize')) out.ObjectSize = o.size;
  sendXml(ctx, 200, xmlDoc('GetObjectAttributesResponse', out));
}
