// Carving networks out of a private range: VNIs and subnets are the lowest
// free index, so a range of any size holds as many networks as it has room
// for (no fixed caps like Eucalyptus' 510 users x 126 VMs). Pure.
import { parseCidr, intToIp } from './ipv4';

export function lowestFree(used: Iterable<number>, first: number, last: number): number | undefined {
  const taken = new Set(used);
  for (let i = first; i <= last; i++) if (!taken.has(i)) return i;
  return undefined;
}

/** The i-th subnet of size /prefix inside range, e.g. (10.128.0.0/12, 24, 3) = 10.128.3.0/24. */
export function subnetAt(range: string, prefix: number, i: number): string | undefined {
  const r = parseCidr(range);
  const size = 2 ** (32 - prefix);
  if (prefix < r.prefix || (i + 1) * size > r.size) return undefined;
  return `${intToIp(r.network + i * size)}/${prefix}`;
}

export function subnetIndex(range: string, prefix: number, subnet: string): number {
  const r = parseCidr(range); const s = parseCidr(subnet);
  return (s.network - r.network) / 2 ** (32 - prefix);
}

export function subnetCount(range: string, prefix: number): number {
  return Math.max(0, 2 ** (prefix - parseCidr(range).prefix));
}
