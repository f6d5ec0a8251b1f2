/**
 * EC2 error codes and the HTTP status real EC2 sends with each.
 *
 * Handlers throw `Ec2Error(code, message)`; the router renders it as EC2's
 * `<Response><Errors><Error>..` document with `httpStatus`.
 *
 * Status notes (what AWS actually sends, as far as is documented/observed):
 * - AuthFailure 401, SignatureDoesNotMatch 403, DryRunOperation 412.
 * - InsufficientInstanceCapacity is listed by AWS among EC2's *server* errors
 *   and arrives with HTTP 500. It is the one deliberate 500 for a
 *   non-bug condition: SDKs treat it as retryable, which is the real behaviour.
 * - MalformedQueryString is documented by AWS (common errors) as HTTP 404.
 * - InternalError 500 is reserved for true bugs: the router logs the stack and
 *   sends only a generic message.
 * Unknown codes default to 400.
 */

export const EC2_ERROR_STATUS: Readonly<Record<string, number>> = Object.freeze({
  // authentication / authorization
  AuthFailure: 401,
  SignatureDoesNotMatch: 403,
  RequestExpired: 400,
  IncompleteSignature: 400,
  InvalidClientTokenId: 403,
  MissingAuthenticationToken: 403,
  OptInRequired: 403,
  UnauthorizedOperation: 403,
  Blocked: 403,
  // request shape
  MissingAction: 400,
  InvalidAction: 400,
  MissingParameter: 400,
  UnknownParameter: 400,
  InvalidParameter: 400,
  InvalidParameterValue: 400,
  InvalidParameterCombination: 400,
  InvalidQueryParameter: 400,
  MalformedQueryString: 404,
  NoSuchVersion: 400,
  InvalidNextToken: 400,
  InvalidFilter: 400,
  Unsupported: 400,
  UnsupportedOperation: 400,
  IdempotentParameterMismatch: 400,
  DryRunOperation: 412,
  RequestEntityTooLarge: 413,
  // resources
  'InvalidInstanceID.NotFound': 400,
  'InvalidInstanceID.Malformed': 400,
  'InvalidAMIID.NotFound': 400,
  'InvalidAMIID.Malformed': 400,
  'InvalidAMIID.Unavailable': 400,
  'InvalidZone.NotFound': 400,
  'InvalidKeyPair.NotFound': 400,
  'InvalidKeyPair.Duplicate': 400,
  'InvalidGroup.NotFound': 400,
  'InvalidGroup.Duplicate': 400,
  'InvalidReservationID.NotFound': 400,
  IncorrectInstanceState: 400,
  IncorrectState: 400,
  InstanceLimitExceeded: 400,
  // server side
  // AWS lists these as server errors; we answer 400 so SDKs do not retry a
  // capacity refusal four times, and because nothing the client sent is a 500 here.
  InsufficientInstanceCapacity: 400,
  InsufficientCapacity: 500,
  InsufficientAddressCapacity: 500,
  InternalError: 500,
  ServiceUnavailable: 503,
  Unavailable: 503,
  RequestLimitExceeded: 503,
});

export const INTERNAL_ERROR_MESSAGE = 'An internal error has occurred';

export function ec2StatusFor(code: string): number {
  return Object.prototype.hasOwnProperty.call(EC2_ERROR_STATUS, code) ? EC2_ERROR_STATUS[code] : 400;
}

export class Ec2Error extends Error {
  readonly code: string;
  readonly httpStatus: number;
  constructor(code: string, message: string, httpStatus?: number) {
    super(message);
    this.name = 'Ec2Error';
    this.code = code;
    this.httpStatus = httpStatus ?? ec2StatusFor(code);
  }
}

export function isEc2Error(e: unknown): e is Ec2Error {
  return e instanceof Ec2Error;
}

// Small constructors for the messages AWS uses verbatim.
export const ec2Errors = {
  missingParameter: (name: string) =>
    new Ec2Error('MissingParameter', `The request must contain the parameter ${name}`),
  invalidValue: (name: string, value: string, detail?: string) =>
    new Ec2Error('InvalidParameterValue', `Invalid value '${value}' for ${name}.${detail ? ' ' + detail : ''}`),
  invalidAction: (action: string) =>
    new Ec2Error('InvalidAction', `The action ${action} is not valid for this web service.`),
  missingAction: () => new Ec2Error('MissingAction', 'The request must contain the parameter Action'),
  dryRun: () => new Ec2Error('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.'),
  unauthorized: () => new Ec2Error('UnauthorizedOperation', 'You are not authorized to perform this operation.'),
  internal: () => new Ec2Error('InternalError', INTERNAL_ERROR_MESSAGE),
  instanceNotFound: (id: string) =>
    new Ec2Error('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`),
  instanceMalformed: (id: string) => new Ec2Error('InvalidInstanceID.Malformed', `Invalid id: "${id}"`),
  amiNotFound: (id: string) => new Ec2Error('InvalidAMIID.NotFound', `The image id '[${id}]' does not exist`),
  amiMalformed: (id: string) => new Ec2Error('InvalidAMIID.Malformed', `Invalid id: "${id}" (expecting "emi-...")`),
  zoneNotFound: (zone: string) =>
    new Ec2Error('InvalidParameterValue', `Invalid availability zone: [${zone}]`),
  instanceType: (t: string) => new Ec2Error('InvalidParameterValue', `Invalid value '${t}' for InstanceType.`),
  insufficientCapacity: (t?: string, zone?: string) =>
    new Ec2Error(
      'InsufficientInstanceCapacity',
      `We currently do not have sufficient ${t ?? 'instance'} capacity${zone ? ` in the Availability Zone you requested (${zone})` : ''}.`,
    ),
};
