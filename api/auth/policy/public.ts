// "The meaning of public" (S3 Block Public Access, IAM Access Analyzer): a
// resource policy is public unless every Allow statement grants only to fixed
// values: named principals, or a wildcard principal pinned by a condition that
// fixes one of the keys below to values without wildcards or variables
// (aws:SourceIp to CIDRs no wider than /8 for IPv4, /32 for IPv6). NotPrincipal
// in an Allow grants to everyone else: public.
import type { CompiledPolicy, CompiledStatement } from './parse';
import { parseCidr } from './match';

const FIXING_KEYS = new Set(['aws:sourceip', 'aws:sourcearn', 'aws:sourcevpc', 'aws:sourcevpce', 'aws:sourceowner', 'aws:sourceaccount',
  'aws:sourceorgid', 'aws:principalorgid', 'aws:principalaccount', 'aws:principalarn', 'aws:userid',
  's3:x-amz-server-side-encryption-aws-kms-key-id', 's3:dataaccesspointarn', 's3:dataaccesspointaccount']);
const FIXING_OPERATORS = new Set(['StringEquals', 'StringEqualsIgnoreCase', 'StringLike', 'ArnEquals', 'ArnLike', 'IpAddress']);

const fixedValue = (v: string) => !/[*?]/.test(v) && !v.includes('${');

function fixesPrincipal(s: CompiledStatement): boolean {
  return s.conditions.some((c) => {
    const key = c.key.toLowerCase();
    if (!FIXING_KEYS.has(key) || !FIXING_OPERATORS.has(c.base) || c.ifExists || c.qualifier === 'ForAllValues') return false;
    if (!c.values.every(fixedValue)) return false;
    if (key === 'aws:sourceip') {
      return c.base === 'IpAddress' && c.values.every((v) => { const x = parseCidr(v); return !!x && x.prefix >= (x.v6 ? 32 : 8); });
    }
    if (key === 'aws:userid') return c.values.every((v) => !/^AROA[A-Z0-9]+:\*$/.test(v));
    return true;
  });
}

export function statementIsPublic(s: CompiledStatement): boolean {
  if (s.effect !== 'Allow' || !s.principal) return false;
  if (s.notPrincipal) return true;
  const wildcard = s.principal.any || s.principal.aws.some((a) => /[*?]/.test(a));
  return wildcard && !fixesPrincipal(s);
}

export function isPublicPolicy(p: CompiledPolicy): boolean {
  return p.statements.some(statementIsPublic);
}
