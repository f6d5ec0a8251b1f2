/**
 * EC2 Query protocol parameters: parsing of the form/query string (and a POST
 * form body) into one flat map, `InstanceId.1` -> `i-...`. The router parses
 * that map against the operation's input shape (api/model/queryInput.ts) into
 * `ctx.input`, which is what handlers read; the flat map stays in the context
 * as `ctx.params`, for logging and hashing.
 *
 * Parameter maps have a null prototype, so `params['constructor']` is undefined.
 */
import { parseQueryPairs } from '../auth/sigv4';
import { Ec2Error } from './errors';

export type Ec2Params = Record<string, string>;

/** Query-auth parameters (SigV4 presign) removed from the action's params. */
const AUTH_PARAMS = new Set([
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
  'X-Amz-Security-Token',
]);

export function emptyParams(): Ec2Params {
  return Object.create(null) as Ec2Params;
}

/** Parse `a=1&b=2` (form encoding, '+' = space). Repeated keys: last wins. Throws MalformedQueryString. */
export function parseQueryString(raw: string, into: Ec2Params = emptyParams()): Ec2Params {
  let pairs: Array<[string, string]>;
  try {
    pairs = parseQueryPairs(raw);
  } catch {
    throw new Ec2Error('MalformedQueryString', 'The query string contains a syntax error (invalid percent-encoding).');
  }
  for (const [k, v] of pairs) {
    if (AUTH_PARAMS.has(k)) continue;
    into[k] = v;
  }
  return into;
}

export interface QueryRequest {
  method: string;
  /** raw query string without '?' */
  query: string;
  contentType?: string;
  body?: Buffer;
}

/**
 * Parameters of a Query request: the URL query string, then (POST) the
 * application/x-www-form-urlencoded body, which wins on duplicate keys.
 */
export function parseEc2Request(req: QueryRequest): Ec2Params {
  const params = parseQueryString(req.query);
  const body = req.body;
  if (req.method.toUpperCase() === 'POST' && body && body.length > 0) {
    const ct = (req.contentType ?? '').split(';')[0].trim().toLowerCase();
    if (ct !== '' && ct !== 'application/x-www-form-urlencoded') {
      throw new Ec2Error(
        'InvalidParameterValue',
        `Unsupported Content-Type '${ct}'; the Query API expects application/x-www-form-urlencoded.`,
      );
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(body);
    } catch {
      throw new Ec2Error('MalformedQueryString', 'The request body is not valid UTF-8.');
    }
    parseQueryString(text.trim(), params);
  }
  return params;
}
