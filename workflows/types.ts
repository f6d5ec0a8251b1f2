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
  securityGroupIds?: string[];  // resolved and checked by the API; none = the default group
  tags: TagInput[];
  disableApiTermination?: boolean;            // RunInstances DisableApiTermination (default false)
  shutdownBehavior?: 'stop' | 'terminate';    // InstanceInitiatedShutdownBehavior (default stop)
  monitoring?: boolean;                       // Monitoring.Enabled (default false)
}

export interface Admission { reservationId: string; instanceIds: string[]; zone: string }

/** One image file a node caches: from a URL (Walrus) or a local path, by sha256. */
export interface ImageFileRef { url?: string | null; path?: string | null; sha256?: string | null; size?: number | null; imageId?: string }

/** Everything a node needs to boot one instance; read from the DB by the workflow. */
export interface BootPlan {
  instanceId: string;
  accountId: string;
  zone: string;
  node: string;
  vcpus: number;
  memoryMiB: number;
  imageId: string;
  /** images registered from local files (the fallback); '' when the image lives in Walrus */
  kernelPath: string; ramdiskPath: string;
  kernelSha256?: string | null; ramdiskSha256?: string | null;
  /** images in Walrus: presigned GET URLs (short expiry) with the sha256 the bytes must have */
  kernel?: ImageFileRef; ramdisk?: ImageFileRef;
  /** an EMI's own root disk (raw or qcow2), if it has one */
  disk?: ImageFileRef & { format: 'raw' | 'qcow2' };
  mac: string;
  privateIp: string;
  vni: number;
  hostname: string;
}

/** One private network (an account's security group) as the CC and NCs of a zone build it. */
export interface ZoneNetworkPlan {
  networkId: string;
  zone: string;
  vni: number;
  subnet: string;
  gatewayIp: string;
  ccUnderlayIp: string;
  nodeUnderlayIps: Record<string, string>;   // node name -> underlay address
}

export interface StateChange { instanceId: string; previous: string; current: string }

/** What a guest that powered itself off becomes (InstanceInitiatedShutdownBehavior), and where it runs. */
export interface ShutdownPlan { state: string; node: string | null; zone: string; accountId: string; behavior: 'stop' | 'terminate' }

// Failure types that the API maps one to one onto EC2 error codes.
export const Ec2FailureTypes = [
  'InvalidAMIID.NotFound', 'InvalidParameterValue', 'InsufficientInstanceCapacity', 'IdempotentParameterMismatch',
  'IncorrectInstanceState', 'InvalidInstanceID.NotFound', 'Unsupported', 'InvalidGroup.NotFound',
] as const;
