import { ApplicationFailure } from '@temporalio/common';

/** A failure that is the caller's fault, named by its EC2 error code; never retried. */
export function ec2Failure(code: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: code, message, nonRetryable: true });
}
