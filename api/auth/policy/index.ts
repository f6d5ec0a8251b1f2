// One policy engine for the cloud: AWS policy documents parsed once (parse.ts)
// and evaluated per request (evaluate.ts, where the decision order is written
// down). Pure: no I/O, no HTTP; S3 bucket policies (api/s3/access.ts) use it
// today, IAM policies can tomorrow.
export { parsePolicy, PolicyError, type CompiledPolicy, type CompiledStatement, type ParseOptions, type PrincipalSpec, type StatementInfo, type Effect } from './parse';
export { evaluatePolicy, evaluatePolicies, statementApplies, principalMatches, type Principal, type RequestContext, type Decision } from './evaluate';
export { isPublicPolicy, statementIsPublic } from './public';
export type { KeyLookup } from './template';
export { compileWildcard, parseCidr, parseIp, cidrContains } from './match';
export { parseOperator, BASE_OPERATORS } from './conditions';
