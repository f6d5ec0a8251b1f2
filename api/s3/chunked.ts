// aws-chunked decoding: "<hex>[;chunk-signature=<sig>]\r\n<data>\r\n" ... "0...\r\n"
// then optional trailers ("name:value\r\n", a signed "x-amz-trailer-signature")
// and "\r\n". Each chunk signature is verified as it completes (SigV4 streaming).
import { createHash, createHmac, type Hash } from 'node:crypto';
import { S3Error } from './errors';
import type { ChunkSigning } from './auth';
import { EMPTY_SHA256 } from './auth';

export interface ChunkedState {
  signing?: ChunkSigning;
  trailer: boolean;
  trailers: Record<string, string>;
  decodedLength: number;
}

const MAX_LINE = 8192;

function chunkSig(s: ChunkSigning, prev: string, dataHashHex: string): string {
  const sts = ['AWS4-HMAC-SHA256-PAYLOAD', s.amzDate, s.scope, prev, EMPTY_SHA256, dataHashHex].join('\n');
  return createHmac('sha256', s.key).update(sts).digest('hex');
}

export async function* decodeAwsChunked(src: AsyncIterable<Buffer>, st: ChunkedState): AsyncGenerator<Buffer> {
  let buf: Buffer = Buffer.alloc(0);
  let state: 'size' | 'data' | 'crlf' | 'trailer' | 'done' = 'size';
  let remaining = 0;
  let hash: Hash | undefined;
  let sig = '';
  let prev = st.signing?.seedSignature ?? '';
  const trailerLines: string[] = [];
  const bad = (msg = 'The request body is not valid aws-chunked encoding') => new S3Error('IncompleteBody', msg);
  const verifyChunk = (dataHash: string) => {
    if (!st.signing) return;
    const exp = chunkSig(st.signing, prev, dataHash);
    if (exp !== sig.toLowerCase()) throw new S3Error('SignatureDoesNotMatch', 'The chunk signature does not match');
    prev = exp;
  };
  for await (const c of src) {
    buf = buf.length ? Buffer.concat([buf, c]) : c;
    for (;;) {
      if (state === 'size' || state === 'trailer') {
        const i = buf.indexOf('\r\n');
        if (i < 0) { if (buf.length > MAX_LINE) throw bad(); break; }
        const line = buf.subarray(0, i).toString('latin1'); buf = buf.subarray(i + 2);
        if (state === 'trailer') {
          if (line === '') { state = 'done'; continue; }
          const colon = line.indexOf(':');
          if (colon < 0) throw bad('Malformed trailer');
          const name = line.slice(0, colon).trim().toLowerCase(), value = line.slice(colon + 1).trim();
          if (name === 'x-amz-trailer-signature') {
            if (st.signing) {
              const canon = trailerLines.join('');
              const sts = ['AWS4-HMAC-SHA256-TRAILER', st.signing.amzDate, st.signing.scope, prev, createHash('sha256').update(canon).digest('hex')].join('\n');
              if (createHmac('sha256', st.signing.key).update(sts).digest('hex') !== value.toLowerCase()) throw new S3Error('SignatureDoesNotMatch', 'The trailer signature does not match');
            }
          } else { st.trailers[name] = value; trailerLines.push(`${name}:${value}\n`); }
          continue;
        }
        const semi = line.indexOf(';');
        const hex = (semi < 0 ? line : line.slice(0, semi)).trim();
        if (!/^[0-9a-fA-F]{1,15}$/.test(hex)) throw bad();
        remaining = parseInt(hex, 16);
        const ext = semi < 0 ? '' : line.slice(semi + 1);
        const m = /chunk-signature=([0-9a-fA-F]+)/.exec(ext);
        sig = m ? m[1] : '';
        if (st.signing && !sig) throw new S3Error('SignatureDoesNotMatch', 'Missing chunk signature');
        if (st.signing) hash = createHash('sha256');
        if (remaining === 0) {
          verifyChunk(EMPTY_SHA256);
          state = st.trailer ? 'trailer' : 'trailer'; // both: optional trailers, then an empty line
          continue;
        }
        state = 'data';
      } else if (state === 'data') {
        if (!buf.length) break;
        const take = Math.min(remaining, buf.length);
        const piece = buf.subarray(0, take); buf = buf.subarray(take);
        hash?.update(piece); remaining -= take; st.decodedLength += take;
        yield piece;
        if (remaining === 0) { if (hash) verifyChunk(hash.digest('hex')); state = 'crlf'; }
      } else if (state === 'crlf') {
        if (buf.length < 2) break;
        if (buf[0] !== 13 || buf[1] !== 10) throw bad();
        buf = buf.subarray(2); state = 'size';
      } else { // done
        if (buf.length) throw bad('Unexpected data after the final chunk');
        break;
      }
    }
  }
  // some clients end without the final empty line
  const end = state as string;
  if (end !== 'done' && !(end === 'trailer' && buf.length === 0)) throw bad();
}
