// Matching primitives of the policy language: IAM wildcards (`*` any run, `?`
// one character, no escapes: a literal `*` is written `${*}`, which the parser
// turns into a literal unit), ARNs compared component by component, IP
// addresses against CIDR blocks. Pure, no I/O.
//
// A pattern is cut at its `*`s into segments; the first must match at the
// start, the last at the end, the ones in between are searched left to right
// at the leftmost place each fits. Leftmost is never wrong, so nothing is
// retried: O(len(value) x len(pattern)) at worst, never a backtracking blow-up.

// The matcher itself is lib/wildcard.ts (shared with EC2 filters); the policy
// language only has its own unit syntax.
import { ANY, STAR, compileUnits, type Matcher, type Unit } from '../../../lib/wildcard';
export { ANY, STAR, compileUnits, type Matcher, type Unit };

/** Units of a plain policy wildcard string (no policy variables, no escapes). */
export function wildcardUnits(pattern: string): Unit[] {
  const out: Unit[] = [];
  for (const c of pattern) out.push(c === '*' ? STAR : c === '?' ? ANY : c);
  return out;
}

export const compileWildcard = (pattern: string, ignoreCase = false) => compileUnits(wildcardUnits(pattern), ignoreCase);

/**
 * ARN matching (ArnEquals/ArnLike and friends): both sides are split into their
 * six components (arn:partition:service:region:account:resource, the resource
 * keeping any further colons) and each component matches with wildcards.
 */
export function splitArn(s: string): string[] | undefined {
  const parts = s.split(':');
  if (parts.length < 6) return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(':')];
}

export function compileArn(pattern: string): Matcher {
  const p = splitArn(pattern);
  if (!p) return { test: () => false };
  const ms = p.map((x) => compileWildcard(x));
  return { test: (v) => { const a = splitArn(v); return !!a && ms.every((m, i) => m.test(a[i])); } };
}

// ------------------------------------------------------------------ IP addresses

export interface Cidr { v6: boolean; bytes: Uint8Array; prefix: number }

function parseV4(s: string): Uint8Array | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const b = m.slice(1).map(Number);
  if (b.some((x) => x > 255)) return undefined;
  return Uint8Array.from(b);
}

function parseV6(s: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) return undefined;
  if (s.includes('.')) {                       // ::ffff:1.2.3.4: the last 32 bits written as IPv4
    const lastColon = s.lastIndexOf(':');
    const v4 = parseV4(s.slice(lastColon + 1));
    if (!v4) return undefined;
    s = `${s.slice(0, lastColon + 1)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const grp = (x: string) => (x === '' ? [] : x.split(':'));
  const head = grp(halves[0]);
  const rest = halves.length === 2 ? grp(halves[1]) : [];
  if ([...head, ...rest].some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  const words = head.map((g) => parseInt(g, 16));
  const after = rest.map((g) => parseInt(g, 16));
  const missing = 8 - words.length - after.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...words, ...Array(halves.length === 2 ? missing : 0).fill(0), ...after];
  const out = new Uint8Array(16);
  all.forEach((w, i) => { out[2 * i] = w >> 8; out[2 * i + 1] = w & 0xff; });
  return out;
}

/** An address (IPv4-mapped IPv6 becomes IPv4) as bytes, or undefined. */
export function parseIp(s: string): { v6: boolean; bytes: Uint8Array } | undefined {
  const v4 = parseV4(s);
  if (v4) return { v6: false, bytes: v4 };
  const v6 = parseV6(s);
  if (!v6) return undefined;
  if (v6.slice(0, 10).every((x) => x === 0) && v6[10] === 0xff && v6[11] === 0xff) return { v6: false, bytes: v6.slice(12) };
  return { v6: true, bytes: v6 };
}

/** "a.b.c.d/n", "a.b.c.d" (a /32), or the IPv6 forms. */
export function parseCidr(s: string): Cidr | undefined {
  const i = s.indexOf('/');
  const ip = parseIp(i < 0 ? s.trim() : s.slice(0, i).trim());
  if (!ip) return undefined;
  const max = ip.v6 ? 128 : 32;
  let prefix = max;
  if (i >= 0) {
    const p = s.slice(i + 1).trim();
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) return undefined;
    prefix = Number(p);
  }
  return { v6: ip.v6, bytes: ip.bytes, prefix };
}

export function cidrContains(c: Cidr, addr: { v6: boolean; bytes: Uint8Array }): boolean {
  if (c.v6 !== addr.v6) return false;
  let bits = c.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((c.bytes[i] & mask) !== (addr.bytes[i] & mask)) return false;
  }
  return true;
}
