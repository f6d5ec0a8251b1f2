// IPv4 arithmetic for address pools. Pure.
export function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`bad IPv4 address ${ip}`);
  return ((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3];
}
export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}
export interface Cidr { network: number; prefix: number; size: number }
export function parseCidr(cidr: string): Cidr {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr);
  if (!m) throw new Error(`bad CIDR ${cidr}`);
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 30) throw new Error(`unsupported prefix length in ${cidr}`);
  const size = 2 ** (32 - prefix);
  const network = Math.floor(ipToInt(m[1]) / size) * size;
  return { network, prefix, size };
}
/** The gateway is the first host address. */
export function gatewayOf(cidr: string): string { return intToIp(parseCidr(cidr).network + 1); }
/** Addresses handed to instances: from .10 up to the last before broadcast (.2-.9 kept for services). */
export function* instanceAddresses(cidr: string): Generator<string> {
  const c = parseCidr(cidr);
  for (let i = Math.min(10, c.size - 2); i < c.size - 1; i++) yield intToIp(c.network + i);
}
export function inCidr(ip: string, cidr: string): boolean {
  const c = parseCidr(cidr); const n = ipToInt(ip);
  return n >= c.network && n < c.network + c.size;
}
