// The per-instance document the CC writes and the metadata service serves.
// Pure module (no I/O): shared by the service (metadata/server.ts), the CC
// activities (activities/network/metadata.ts) and tests.
//
// On disk: <stateDir>/metadata/<vni>/<privateIp>.json, one file per instance,
// written atomically (temp + rename) by the CC worker, read per request by
// the service, which identifies a caller by (network it arrived on, source IP).
import * as path from 'node:path';

export interface InstanceMetadataDoc {
  instanceId: string; // i-xxxxxxxx
  imageId: string; // emi-xxxxxxxx
  instanceType: string;
  reservationId: string; // r-xxxxxxxx
  launchIndex: number;
  accountId: string;
  region: string;
  zone: string; // placement/availability-zone
  privateIp: string;
  publicIp?: string;
  mac: string;
  hostname: string; // hostname and local-hostname
  securityGroups: string[]; // group names
  userData?: string; // base64, as given to RunInstances; undefined = none (user-data 404)
  keyName?: string; // public-keys/ lists `0=<keyName>`
  openSshKey?: string; // public-keys/0/openssh-key
  subnetCidr?: string; // network/interfaces/macs/<mac>/subnet-ipv4-cidr-block
  kernelId?: string;
  ramdiskId?: string;
  launchedAt: string; // ISO-8601; identity document pendingTime
}

export const METADATA_DIR = 'metadata';
export const DEFAULT_METADATA_PORT = 8775;
export const METADATA_ADDRESS = '169.254.169.254';

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
export const isIpv4 = (s: string) => IPV4_RE.test(s);

export function checkVni(vni: number): void {
  if (!Number.isInteger(vni) || vni < 1 || vni > 16_777_215) throw new Error(`bad VNI ${vni}`);
}

export const metadataRoot = (stateDir: string) => path.join(path.resolve(stateDir), METADATA_DIR);
export const networkDir = (stateDir: string, vni: number) => path.join(metadataRoot(stateDir), String(vni));
export function docPath(stateDir: string, vni: number, ip: string): string {
  checkVni(vni);
  if (!isIpv4(ip)) throw new Error(`bad IPv4 address ${ip}`);
  return path.join(networkDir(stateDir, vni), `${ip}.json`);
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const optStr = (v: unknown) => v === undefined || typeof v === 'string';

/** Throws on a malformed document; returns it typed. */
export function validateDoc(d: unknown): InstanceMetadataDoc {
  const o = d as Record<string, unknown>;
  const bad = (k: string) => new Error(`bad instance metadata document: ${k}`);
  if (!o || typeof o !== 'object') throw bad('not an object');
  for (const k of ['instanceId', 'imageId', 'instanceType', 'reservationId', 'accountId', 'region', 'zone', 'privateIp', 'mac', 'hostname', 'launchedAt'])
    if (!isStr(o[k]) || !(o[k] as string).length) throw bad(k);
  for (const k of ['publicIp', 'userData', 'keyName', 'openSshKey', 'subnetCidr', 'kernelId', 'ramdiskId']) if (!optStr(o[k])) throw bad(k);
  if (!/^i-[0-9a-f]{8,17}$/.test(o.instanceId as string)) throw bad('instanceId');
  if (!Number.isInteger(o.launchIndex) || (o.launchIndex as number) < 0) throw bad('launchIndex');
  if (!isIpv4(o.privateIp as string)) throw bad('privateIp');
  if (o.publicIp !== undefined && !isIpv4(o.publicIp as string)) throw bad('publicIp');
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(o.mac as string)) throw bad('mac (lower-case aa:bb:..)');
  if (!Array.isArray(o.securityGroups) || !o.securityGroups.every(isStr)) throw bad('securityGroups');
  if (o.userData !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test((o.userData as string).replace(/\s+/g, ''))) throw bad('userData (base64)');
  if (Number.isNaN(Date.parse(o.launchedAt as string))) throw bad('launchedAt');
  return o as unknown as InstanceMetadataDoc;
}
