// What S3 accepts as an object key and a version id, checked the same way by
// every operation (path, copy source, DeleteObjects entries): a key is at most
// 1024 bytes of UTF-8 (KeyTooLongError), a version id is printable ASCII
// (anything else, control characters included, is InvalidArgument; an id of
// the right shape that names no version is the operation's own answer).
import { S3Error } from './errors';

export const MAX_KEY_BYTES = 1024;

export function keyError(key: string): S3Error | undefined {
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return new S3Error('KeyTooLongError');
  return undefined;
}

export function versionIdError(vid: string): S3Error | undefined {
  if (vid === '') return new S3Error('InvalidArgument', 'Version id cannot be the empty string', { ArgumentName: 'versionId', ArgumentValue: '' });
  if (!/^[\x21-\x7e]{1,1024}$/.test(vid)) return new S3Error('InvalidArgument', 'Invalid version id specified', { ArgumentName: 'versionId', ArgumentValue: vid });
  return undefined;
}

/** Throws S3's error for a key or version id no operation accepts. */
export function checkKeyAndVersion(key: string | undefined, vid: string | undefined): void {
  const e = (key !== undefined ? keyError(key) : undefined) ?? (vid !== undefined ? versionIdError(vid) : undefined);
  if (e) throw e;
}
