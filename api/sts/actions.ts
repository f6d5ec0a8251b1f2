// Every STS action the API answers; anything else is InvalidAction.
import type { Ec2ActionTable, Ec2Context } from '../ec2/router';
import { callerPrincipal } from '../iam/principal';

/** GetCallerIdentity: the account, ARN and unique id of whoever signed the request. */
export async function GetCallerIdentity(ctx: Ec2Context) {
  const me = await callerPrincipal(ctx);
  return { UserId: me.userId, Account: me.accountId, Arn: me.arn };
}

export const stsActions: Ec2ActionTable = {
  GetCallerIdentity: { handler: GetCallerIdentity },
};
