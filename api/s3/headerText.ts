// Header values beyond ASCII. Node hands a header's bytes over as latin1 text (one
// character a byte). Clients put UTF-8 on the wire (the Go SDK, rclone) and sign the
// UTF-8 text; Node's own client (the JS SDK) can send only latin1 characters, one byte
// each, and signs those characters. So a value whose bytes are valid UTF-8 is read as
// UTF-8 (signature checked over that text first), any other as latin1 (as before).
// Stored values are text; S3 returns a user-metadata value that is not US-ASCII as an
// RFC 2047 encoded word (=?UTF-8?B?...?=), which is what GET and HEAD send.

/** The text a latin1-decoded header value stands for: its bytes as UTF-8 when they are UTF-8. */
export function headerText(v: string): string {
  if (!/[\x80-\xff]/.test(v) || /[^\x00-\xff]/.test(v)) return v;
  const bytes = Buffer.from(v, 'latin1');
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : v;
}

/** The request's headers with every value read as headerText; undefined when that changes nothing. */
export function utf8Headers(headers: Record<string, string | string[] | undefined>): Record<string, string | string[] | undefined> | undefined {
  let changed = false;
  const out: Record<string, string | string[] | undefined> = {};
  for (const [k, v] of Object.entries(headers)) {
    const t = v === undefined ? v : Array.isArray(v) ? v.map(headerText) : headerText(v);
    if (t !== v && (Array.isArray(v) ? (t as string[]).some((x, i) => x !== v[i]) : true)) changed = true;
    out[k] = t;
  }
  return changed ? out : undefined;
}

/** A stored user-metadata value as S3 sends it: as is when US-ASCII, else an RFC 2047 encoded word. */
export const metadataWire = (v: string) => (/^[\x20-\x7e\t]*$/.test(v) ? v : `=?UTF-8?B?${Buffer.from(v, 'utf8').toString('base64')}?=`);

/** Any other stored header value: characters beyond latin1 go out as their UTF-8 bytes. */
export const headerWire = (v: string) => (/[^\x00-\xff]/.test(v) ? Buffer.from(v, 'utf8').toString('latin1') : v);
