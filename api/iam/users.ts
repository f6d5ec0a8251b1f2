// IAM users. GetUser for now; CreateUser, ListUsers, DeleteUser, ... belong here.
import type { Ec2Context } from '../ec2/router';
import { accountCreatedAt, getIamUser, type IamUserRow } from '../../db/iamUsers';
import { checkName, iamErrors } from './errors';
import { callerPrincipal, userArn } from './principal';

/** The User shape of the IAM model. */
export function userShape(u: IamUserRow) {
  return { Path: u.path, UserName: u.userName, UserId: u.userId, Arn: userArn(u), CreateDate: u.createdAt };
}

/** GetUser: the caller without UserName, else that user of the caller's account (never another account's). */
export async function GetUser(ctx: Ec2Context) {
  const name = ctx.input['UserName'] as string | undefined;
  if (name === undefined) {
    const me = await callerPrincipal(ctx);
    if (me.kind === 'user') return { User: userShape(me.user) };
    // The root principal has no user name or path (as AWS answers for root credentials).
    return { User: { UserId: me.userId, Arn: me.arn, CreateDate: (await accountCreatedAt(ctx.accountId)) ?? new Date() } };
  }
  checkName(name, 'userName', 128);
  const user = await getIamUser(ctx.accountId, name);
  if (!user) throw iamErrors.noSuchEntity('user', name);
  return { User: userShape(user) };
}
