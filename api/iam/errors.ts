// IAM's error vocabulary (Query protocol: <ErrorResponse><Error><Type>Sender</Type><Code>..).
// Codes and HTTP statuses as the IAM service model declares them.
import { Ec2Error } from '../ec2/errors';

export const iamErrors = {
  /** NoSuchEntity, 404: "The user with name X cannot be found." */
  noSuchEntity: (kind: string, name: string) => new Ec2Error('NoSuchEntity', `The ${kind} with name ${name} cannot be found.`, 404),
  /** ValidationError, 400, worded as IAM words a member that breaks its constraint. */
  validation: (value: string, member: string, constraint: string) =>
    new Ec2Error('ValidationError', `1 validation error detected: Value '${value}' at '${member}' failed to satisfy constraint: ${constraint}`, 400),
};

/** IAM names of users, groups and roles: [\w+=,.@-]+ (ASCII word characters), at most `max` long. */
export function checkName(value: string, member: string, max: number): void {
  if (value.length > max) throw iamErrors.validation(value, member, `Member must have length less than or equal to ${max}`);
  if (!/^[\w+=,.@-]+$/.test(value)) throw iamErrors.validation(value, member, 'Member must satisfy regular expression pattern: [\\w+=,.@-]+');
}
