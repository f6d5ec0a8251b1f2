// S3's XML errors: code -> HTTP status, rendered as <Error>...</Error>.
import { xmlEscape } from './xml';

export const S3_STATUS: Record<string, number> = {
  AccessDenied: 403, AuthorizationHeaderMalformed: 400, AuthorizationQueryParametersError: 400, BadDigest: 400,
  BucketAlreadyExists: 409, BucketAlreadyOwnedByYou: 409, BucketNotEmpty: 409, EntityTooLarge: 400, EntityTooSmall: 400,
  IllegalLocationConstraintException: 400, IncompleteBody: 400, InternalError: 500, InvalidAccessKeyId: 403,
  InvalidArgument: 400, InvalidBucketName: 400, InvalidDigest: 400, InvalidLocationConstraint: 400, InvalidPart: 400,
  InvalidPartOrder: 400, InvalidRange: 416, InvalidRequest: 400, InvalidTag: 400, InvalidURI: 400, KeyTooLongError: 400,
  MalformedPOSTRequest: 400, MalformedXML: 400, MetadataTooLarge: 400, MethodNotAllowed: 405, MissingContentLength: 411,
  MissingSecurityHeader: 400, NoSuchBucket: 404, NoSuchKey: 404, NoSuchTagSet: 404, NoSuchUpload: 404, NoSuchVersion: 404,
  NotImplemented: 501, PreconditionFailed: 412, RequestTimeTooSkewed: 403, SignatureDoesNotMatch: 403,
  XAmzContentSHA256Mismatch: 400, InvalidStorageClass: 400, InvalidEncryptionAlgorithmError: 400, NoSuchCORSConfiguration: 404,
  NoSuchBucketPolicy: 404, NoSuchLifecycleConfiguration: 404, ServerSideEncryptionConfigurationNotFoundError: 404,
  InvalidBucketState: 409, ConditionalRequestConflict: 409, RequestTimeout: 400, ExpiredToken: 400, InvalidObjectState: 403,
};

const DEFAULT_MESSAGES: Record<string, string> = {
  AccessDenied: 'Access Denied',
  NoSuchBucket: 'The specified bucket does not exist',
  NoSuchKey: 'The specified key does not exist.',
  NoSuchVersion: 'The specified version does not exist.',
  NoSuchUpload: 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
  BucketNotEmpty: 'The bucket you tried to delete is not empty',
  BucketAlreadyOwnedByYou: 'Your previous request to create the named bucket succeeded and you already own it.',
  BucketAlreadyExists: 'The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.',
  InvalidAccessKeyId: 'The AWS Access Key Id you provided does not exist in our records.',
  SignatureDoesNotMatch: 'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
  InvalidRange: 'The requested range is not satisfiable',
  PreconditionFailed: 'At least one of the pre-conditions you specified did not hold',
  ConditionalRequestConflict: 'The conditional request cannot succeed due to a conflicting operation against this resource.',
  MalformedXML: 'The XML you provided was not well-formed or did not validate against our published schema',
  InvalidBucketName: 'The specified bucket is not valid.',
  EntityTooLarge: 'Your proposed upload exceeds the maximum allowed size',
  EntityTooSmall: 'Your proposed upload is smaller than the minimum allowed object size.',
  BadDigest: 'The Content-MD5 you specified did not match what we received.',
  XAmzContentSHA256Mismatch: "The provided 'x-amz-content-sha256' header does not match what was computed.",
  InvalidDigest: 'The Content-MD5 you specified is not valid.',
  InvalidPart: 'One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.',
  InvalidPartOrder: 'The list of parts was not in ascending order. Parts must be ordered by part number.',
  MethodNotAllowed: 'The specified method is not allowed against this resource.',
  RequestTimeTooSkewed: 'The difference between the request time and the current time is too large.',
  MissingContentLength: 'You must provide the Content-Length HTTP header.',
  NotImplemented: 'A header you provided implies functionality that is not implemented',
  InternalError: 'We encountered an internal error. Please try again.',
  IncompleteBody: 'You did not provide the number of bytes specified by the Content-Length HTTP header',
  NoSuchTagSet: 'The TagSet does not exist',
  KeyTooLongError: 'Your key is too long',
  MetadataTooLarge: 'Your metadata headers exceed the maximum allowed metadata size.',
};

export class S3Error extends Error {
  status: number;
  constructor(public code: string, message?: string, public extra: Record<string, string | number | undefined> = {}, status?: number) {
    super(message ?? DEFAULT_MESSAGES[code] ?? code);
    this.status = status ?? S3_STATUS[code] ?? 400;
  }
}

export function errorXml(e: S3Error, resource: string, requestId: string): string {
  let x = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${e.code}</Code><Message>${xmlEscape(e.message)}</Message>`;
  for (const [k, v] of Object.entries(e.extra)) if (v !== undefined && !k.startsWith('header:')) x += `<${k}>${xmlEscape(String(v))}</${k}>`;
  x += `<Resource>${xmlEscape(resource)}</Resource><RequestId>${requestId}</RequestId><HostId>${requestId}</HostId></Error>`;
  return x;
}
