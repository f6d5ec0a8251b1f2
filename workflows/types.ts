// Inputs and outputs shared by workflows, activities and the API. Pure types.

export interface TagInput { resourceType: string; key: string; value: string }

export interface RunInstancesInput {
  accountId: string;
  requestId: string;
  clientToken?: string;
  paramsHash: string;           // hash of the request's parameters, for IdempotentParameterMismatch
  imageId: string;
  instanceType: string;
  minCount: number;
  maxCount: number;
  zone?: string;
  userData?: string;            // base64 as sent
  keyName?: string;
  tags: TagInput[];
}

export interface Admission { reservationId: string; instanceIds: string[]; zone: string }

/** Everything a node needs to boot one instance; read from the DB by the workflow. */
export interface BootPlan {
  instanceId: string;
  accountId: string;
  zone: string;
  node: string;
  vcpus: number;
  memoryMiB: number;
  imageId: string;
  kernelPath: string; ramdiskPath: string;
  kernelSha256?: string | null; ramdiskSha256?: string | null;
  mac: string;
  privateIp: string;
  vni: number;
  hostname: string;
}

export interface ZoneNetworkPlan {
  zone: string;
  vni: number;
  subnet: string;
  gatewayIp: string;
  ccUnderlayIp: string;
  nodeUnderlayIps: Record<string, string>;   // node name -> underlay address
}

export interface StateChange { instanceId: string; previous: string; current: string }

// Failure types that the API maps one to one onto EC2 error codes.
export const Ec2FailureTypes = [
  'InvalidAMIID.NotFound', 'InvalidParameterValue', 'InsufficientInstanceCapacity', 'IdempotentParameterMismatch',
  'IncorrectInstanceState', 'InvalidInstanceID.NotFound', 'Unsupported',
] as const;
