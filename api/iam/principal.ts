// Who signed a request, as IAM and STS name it: an IAM user of the account
// (the access key's user_name), or the account's root when a key belongs to
// the account itself (a credential without a user name).
import { Ec2Error } from '../ec2/errors';
import type { Ec2Context } from '../ec2/router';
import { getIamUser, type IamUserRow } from '../../db/iamUsers';

export type Principal =
  | { kind: 'root'; accountId: string; userId: string; arn: string }
  | { kind: 'user'; accountId: string; userId: string; arn: string; user: IamUserRow };

/** arn:aws:iam::<account>:user<path><name> (path '/' -> user/<name>) */
export const userArn = (u: Pick<IamUserRow, 'accountId' | 'path' | 'userName'>) => `arn:aws:iam::${u.accountId}:user${u.path}${u.userName}`;
export const rootArn = (accountId: string) => `arn:aws:iam::${accountId}:root`;

export async function callerPrincipal(ctx: Pick<Ec2Context, 'accountId' | 'userName'>): Promise<Principal> {
  if (!ctx.userName) return { kind: 'root', accountId: ctx.accountId, userId: ctx.accountId, arn: rootArn(ctx.accountId) };
  const user = await getIamUser(ctx.accountId, ctx.userName);
  // The key authenticated a moment ago; its user is gone only if the key went with it.
  if (!user) throw new Ec2Error('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
  return { kind: 'user', accountId: ctx.accountId, userId: user.userId, arn: userArn(user), user };
}
