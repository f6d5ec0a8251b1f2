// Parsing and validating an AWS policy document into its compiled form. The
// grammar is AWS's (IAM JSON policy reference): Version, Id, Statement (one or
// a list); each statement Sid, Effect, Principal | NotPrincipal (resource
// policies only), Action | NotAction, Resource | NotResource, Condition. What a
// service knows (its action names, resource ARNs, condition keys) comes in
// through ParseOptions, so S3 bucket policies and IAM policies share this code.
// Errors are PolicyError with AWS's message; the caller picks the error code
// (S3: MalformedPolicy, IAM: MalformedPolicyDocument).
import { compileUnits, compileWildcard, type Matcher } from './match';
import { compileCondition, parseOperator, type CompiledCondition } from './conditions';
import { PolicyError, compileTemplate, type KeyLookup } from './template';

export { PolicyError };

export type Effect = 'Allow' | 'Deny';

/** Who a Principal / NotPrincipal element names. */
export interface PrincipalSpec {
  /** "*" (or {"AWS": "*"}): everyone, anonymous callers too */
  any: boolean;
  /** accounts named as "123456789012" or arn:aws:iam::123456789012:root: every principal of the account */
  accounts: Set<string>;
  /** exact principal ARNs (users, roles, assumed-role sessions) */
  arns: Set<string>;
  /** CanonicalUser ids */
  canonical: Set<string>;
  /** Service / Federated principals: named, never a signed caller of ours */
  services: string[];
  federated: string[];
  /** the AWS entries as written (for the public check) */
  aws: string[];
}

export interface ResourcePattern { text: string; test(arn: string, keys: KeyLookup): boolean }

export interface CompiledStatement {
  sid?: string;
  effect: Effect;
  /** undefined in identity policies */
  principal?: PrincipalSpec;
  notPrincipal: boolean;
  actions: string[]; notAction: boolean; actionMatchers: Matcher[];
  resources: string[]; notResource: boolean; resourcePatterns: ResourcePattern[];
  conditions: CompiledCondition[];
}

export interface CompiledPolicy {
  version: '2012-10-17' | '2008-10-17';
  id?: string;
  statements: CompiledStatement[];
}

/** What a statement says, for a service's own cross-checks (resource types, condition keys per action). */
export interface StatementInfo {
  effect: Effect; actions: string[]; notAction: boolean; resources: string[]; notResource: boolean; conditionKeys: string[];
}

export interface ParseOptions {
  /** 'resource': every statement names a Principal or NotPrincipal (bucket policies); 'identity': none may (IAM policies) */
  kind: 'resource' | 'identity';
  /** is this Action entry (may hold wildcards) an action of the service? default: any "service:Name" */
  validAction?: (action: string) => boolean;
  /** is this Resource entry acceptable here? default: "*" or any ARN */
  validResource?: (resource: string) => boolean;
  /** undefined when the condition key is known, else AWS's message */
  checkConditionKey?: (key: string) => string | undefined;
  /** further checks of a whole statement; returns AWS's message for what is wrong */
  checkStatement?: (s: StatementInfo) => string | undefined;
}

const STATEMENT_FIELDS = new Set(['Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition']);
const POLICY_FIELDS = new Set(['Version', 'Id', 'Statement']);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A string or a non-empty list of strings. */
function strings(v: unknown, bad: string): string[] {
  const list = Array.isArray(v) ? v : [v];
  if (!list.length || list.some((x) => typeof x !== 'string' || x === '')) throw new PolicyError(bad);
  return list as string[];
}

const ACCOUNT = /^\d{12}$/;
const IAM_ARN = /^arn:aws:iam::(\d{12}):(root|user\/.+|role\/.+|group\/.+)$/;
const STS_ARN = /^arn:aws:sts::(\d{12}):(assumed-role|federated-user)\/.+$/;

function principalSpec(v: unknown): PrincipalSpec {
  const bad = 'Invalid principal in policy';
  const spec: PrincipalSpec = { any: false, accounts: new Set(), arns: new Set(), canonical: new Set(), services: [], federated: [], aws: [] };
  if (v === '*') { spec.any = true; spec.aws.push('*'); return spec; }
  if (!isObj(v) || !Object.keys(v).length) throw new PolicyError(bad);
  for (const [kind, val] of Object.entries(v)) {
    const list = strings(val, bad);
    switch (kind) {
      case 'AWS':
        for (const p of list) {
          spec.aws.push(p);
          let m: RegExpExecArray | null;
          if (p === '*') spec.any = true;
          else if (ACCOUNT.test(p)) spec.accounts.add(p);
          else if ((m = IAM_ARN.exec(p))) { if (m[2] === 'root') spec.accounts.add(m[1]); else spec.arns.add(p); }
          else if (STS_ARN.test(p)) spec.arns.add(p);
          else throw new PolicyError(bad);
        }
        break;
      case 'CanonicalUser': for (const p of list) spec.canonical.add(p); break;
      case 'Service': spec.services.push(...list); break;
      case 'Federated': spec.federated.push(...list); break;
      default: throw new PolicyError(bad);
    }
  }
  return spec;
}

function actionMatcher(a: string, validAction: ParseOptions['validAction']): Matcher {
  const bad = 'Policy has invalid action';
  if (a !== '*' && !/^[A-Za-z0-9-]+:[A-Za-z0-9*?]+$/.test(a)) throw new PolicyError(bad);
  if (validAction && !validAction(a)) throw new PolicyError(bad);
  return compileWildcard(a, true);   // action names are case-insensitive
}

function resourcePattern(r: string, variables: boolean, validResource: ParseOptions['validResource']): ResourcePattern {
  const bad = 'Policy has invalid resource';
  if (r !== '*' && !/^arn:[^:]*:[^:]*:[^:]*:[^:]*:.+/.test(r)) throw new PolicyError(bad);
  if (validResource && !validResource(r)) throw new PolicyError(bad);
  const t = compileTemplate(r, variables, true);
  if (!t.vars) { const m = compileUnits(t.units(() => undefined)!); return { text: r, test: (arn) => m.test(arn) }; }
  return { text: r, test: (arn, keys) => { const u = t.units(keys); return !!u && compileUnits(u).test(arn); } };
}

function conditionValues(v: unknown, op: string, key: string): string[] {
  const list = Array.isArray(v) ? v : [v];
  if (!list.length) throw new PolicyError(`Invalid Condition value for ${op} ${key}`);
  return list.map((x) => {
    if (typeof x === 'string') return x;
    if (typeof x === 'number' || typeof x === 'boolean') return String(x);
    throw new PolicyError(`Invalid Condition value for ${op} ${key}`);
  });
}

function compileStatement(raw: unknown, variables: boolean, opts: ParseOptions): CompiledStatement {
  if (!isObj(raw)) throw new PolicyError('This policy contains invalid Json');
  for (const k of Object.keys(raw)) if (!STATEMENT_FIELDS.has(k)) throw new PolicyError(`Unknown field ${k}`);
  const s = raw;
  if (s.Sid !== undefined && typeof s.Sid !== 'string') throw new PolicyError('Statement IDs (SID) must be strings');
  if (s.Effect === undefined) throw new PolicyError('Missing required field Effect');
  if (s.Effect !== 'Allow' && s.Effect !== 'Deny') throw new PolicyError(`Invalid effect: ${typeof s.Effect === 'string' ? s.Effect : JSON.stringify(s.Effect)}`);
  const effect = s.Effect;

  let principal: PrincipalSpec | undefined; let notPrincipal = false;
  if (s.Principal !== undefined && s.NotPrincipal !== undefined) throw new PolicyError('Invalid principal in policy');
  if (opts.kind === 'resource') {
    if (s.Principal === undefined && s.NotPrincipal === undefined) throw new PolicyError('Missing required field Principal');
    notPrincipal = s.NotPrincipal !== undefined;
    principal = principalSpec(notPrincipal ? s.NotPrincipal : s.Principal);
  } else if (s.Principal !== undefined || s.NotPrincipal !== undefined) {
    throw new PolicyError('Policy document should not specify a principal.');
  }

  if (s.Action !== undefined && s.NotAction !== undefined) throw new PolicyError('Policy has invalid action');
  if (s.Action === undefined && s.NotAction === undefined) throw new PolicyError('Missing required field Action');
  const notAction = s.NotAction !== undefined;
  const actions = strings(notAction ? s.NotAction : s.Action, 'Policy has invalid action');
  const actionMatchers = actions.map((a) => actionMatcher(a, opts.validAction));

  if (s.Resource !== undefined && s.NotResource !== undefined) throw new PolicyError('Policy has invalid resource');
  if (s.Resource === undefined && s.NotResource === undefined) throw new PolicyError('Missing required field Resource');
  const notResource = s.NotResource !== undefined;
  const resources = strings(notResource ? s.NotResource : s.Resource, 'Policy has invalid resource');
  const resourcePatterns = resources.map((r) => resourcePattern(r, variables, opts.validResource));

  const conditions: CompiledCondition[] = [];
  if (s.Condition !== undefined) {
    if (!isObj(s.Condition)) throw new PolicyError('This policy contains invalid Json');
    for (const [opName, block] of Object.entries(s.Condition)) {
      const op = parseOperator(opName);
      if (!op) throw new PolicyError(`Invalid Condition type : ${opName}`);
      if (!isObj(block) || !Object.keys(block).length) throw new PolicyError(`Invalid Condition type : ${opName}`);
      for (const [key, v] of Object.entries(block)) {
        if (!/^[A-Za-z0-9-]+:[^\s]+$/.test(key)) throw new PolicyError('Policy has an invalid condition key');
        const msg = opts.checkConditionKey?.(key);
        if (msg) throw new PolicyError(msg);
        conditions.push(compileCondition(op, key, conditionValues(v, opName, key), variables));
      }
    }
  }
  const msg = opts.checkStatement?.({ effect, actions, notAction, resources, notResource, conditionKeys: conditions.map((c) => c.key) });
  if (msg) throw new PolicyError(msg);
  return { sid: s.Sid as string | undefined, effect, principal, notPrincipal, actions, notAction, actionMatchers, resources, notResource, resourcePatterns, conditions };
}

/** Parses and validates a policy document (JSON text); throws PolicyError with AWS's message. */
export function parsePolicy(text: string, opts: ParseOptions): CompiledPolicy {
  const t = text.replace(/^[\s\uFEFF]+/, '');
  if (!t.startsWith('{')) throw new PolicyError("Policies must be valid JSON and the first byte must be '{'");
  let doc: unknown;
  try { doc = JSON.parse(t); } catch { throw new PolicyError('This policy contains invalid Json'); }
  if (!isObj(doc)) throw new PolicyError('This policy contains invalid Json');
  for (const k of Object.keys(doc)) if (!POLICY_FIELDS.has(k)) throw new PolicyError(`Unknown field ${k}`);
  const version = doc.Version ?? '2008-10-17';
  if (version !== '2012-10-17' && version !== '2008-10-17') throw new PolicyError('The policy must contain a valid version string');
  if (doc.Id !== undefined && typeof doc.Id !== 'string') throw new PolicyError('This policy contains invalid Json');
  if (doc.Statement === undefined) throw new PolicyError('Missing required field Statement');
  const raw = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
  if (!raw.length) throw new PolicyError('Could not parse the policy: Statement is empty!');
  const statements = raw.map((s) => compileStatement(s, version === '2012-10-17', opts));
  const sids = statements.map((s) => s.sid).filter((x): x is string => x !== undefined && x !== '');
  if (new Set(sids).size !== sids.length) throw new PolicyError('Statement IDs (SID) in a single policy must be unique');
  return { version, id: doc.Id as string | undefined, statements };
}
