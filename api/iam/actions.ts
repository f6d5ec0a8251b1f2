// Every IAM action the API answers (one file per resource); anything else is InvalidAction.
import type { Ec2ActionTable, Ec2Handler } from '../ec2/router';
import * as users from './users';

const handlers: Record<string, unknown> = { ...users };

export const iamActions: Ec2ActionTable = Object.fromEntries(
  Object.entries(handlers).filter(([name]) => /^[A-Z]/.test(name)).map(([name, handler]) => [name, { handler: handler as Ec2Handler }]),
);
