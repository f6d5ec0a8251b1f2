// Every EC2 action the API answers; anything else is InvalidAction.
import type { Ec2ActionTable } from '../router';
import * as instances from './instances';
import * as catalog from './catalog';
import * as keyPairs from './keyPairs';
import * as securityGroups from './securityGroups';
import * as images from './images';
import * as addresses from './addresses';
import * as instanceAttributes from './instanceAttributes';
import { CreateTags, DeleteTags, DescribeTags } from './tags';

const handlers = { ...instances, ...catalog, ...keyPairs, ...securityGroups, ...images, ...addresses, ...instanceAttributes, CreateTags, DeleteTags, DescribeTags };

export const ec2Actions: Ec2ActionTable = Object.fromEntries(
  Object.entries(handlers).filter(([name]) => /^[A-Z]/.test(name)).map(([name, handler]) => [name, { handler: handler as any, dryRunPermitted: true }]),
);
