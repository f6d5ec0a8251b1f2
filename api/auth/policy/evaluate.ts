// The policy evaluator: compiled policies (parse.ts) against one request.
//
// Within policies: a statement applies when its principal (resource policies
// only), action, resource and every condition match; any applicable Deny
// decides (explicit deny always wins), otherwise any applicable Allow allows,
// otherwise nothing is said (NoMatch: the implicit deny, which a caller may
// still overrule with another grant, an S3 ACL for instance).
//
// S3's decision order, as AWS documents it ("How Amazon S3 authorizes a
// request"), applied by api/s3/access.ts with this evaluator:
//   1. an explicit Deny in the bucket policy refuses, whoever asks (the bucket
//      owner too; only Get/Put/DeleteBucketPolicy stay open to the owner, so it
//      cannot lock itself out);
//   2. the owner's own access: the bucket owner's account for bucket requests,
//      the object owner's account for object requests, is allowed;
//   3. another principal (another account, anonymous) is allowed by an Allow
//      of the bucket policy (for objects: only objects the bucket owner owns)
//      or by an ACL grant (bucket ACL for bucket requests and writes, object
//      ACL for object requests), unless Object Ownership disabled ACLs or Block
//      Public Access ignores the public ones / restricts a public policy;
//   4. everything else is denied (AccessDenied).
// IAM identity policies are not yet part of it: until IAM has them, every
// principal of an account holds the account's permissions, as its root would.
import type { CompiledPolicy, CompiledStatement, PrincipalSpec } from './parse';
import type { KeyLookup } from './template';

/** The caller. */
export interface Principal {
  /** the account it belongs to */
  account: string;
  /** arn:aws:iam::<account>:root, :user/<path><name>, ... */
  arn: string;
  /** the canonical user id S3 grants name (Walrus: the account id) */
  canonicalId?: string;
}

export interface RequestContext {
  /** null: an anonymous (unsigned) request */
  principal: Principal | null;
  /** "s3:GetObject" (matched case-insensitively) */
  action: string;
  /** the resource's ARN, e.g. arn:aws:s3:::bucket/key */
  resource: string;
  /** the request's condition keys */
  keys: KeyLookup;
}

export type Decision = 'Allow' | 'Deny' | 'NoMatch';

export function principalMatches(spec: PrincipalSpec, p: Principal | null): boolean {
  if (spec.any) return true;
  if (!p) return false;
  return spec.accounts.has(p.account) || spec.arns.has(p.arn) || (spec.canonical.size > 0 && spec.canonical.has(p.canonicalId ?? p.account));
}

export function statementApplies(s: CompiledStatement, req: RequestContext): boolean {
  if (s.principal && principalMatches(s.principal, req.principal) === s.notPrincipal) return false;
  const action = req.action.toLowerCase();
  if (s.actionMatchers.some((m) => m.test(action)) === s.notAction) return false;
  if (s.resourcePatterns.some((r) => r.test(req.resource, req.keys)) === s.notResource) return false;
  for (const c of s.conditions) if (!c.test(req.keys)) return false;
  return true;
}

/** One policy's word on a request. */
export function evaluatePolicy(policy: CompiledPolicy, req: RequestContext): Decision {
  let allowed = false;
  for (const s of policy.statements) {
    if (s.effect === 'Allow' && allowed) continue;      // an Allow is known: only a Deny can change it
    if (!statementApplies(s, req)) continue;
    if (s.effect === 'Deny') return 'Deny';
    allowed = true;
  }
  return allowed ? 'Allow' : 'NoMatch';
}

/** Several policies together: any Deny wins, then any Allow. */
export function evaluatePolicies(policies: Array<CompiledPolicy | undefined>, req: RequestContext): Decision {
  let out: Decision = 'NoMatch';
  for (const p of policies) {
    if (!p) continue;
    const d = evaluatePolicy(p, req);
    if (d === 'Deny') return 'Deny';
    if (d === 'Allow') out = 'Allow';
  }
  return out;
}
