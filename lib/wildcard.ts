/**
 * EC2 filter wildcards without regular expressions: `*` matches any run of
 * characters (none too), `?` exactly one, and a backslash escapes the next
 * `*`, `?` or `\` (AWS: "a value of \*amazon\?\\ searches for the literal
 * string *amazon?\"); a backslash before anything else is itself.
 *
 * The pattern is cut at its `*`s into segments. The first segment must match
 * at the start, the last at the end, and the ones in between are searched
 * left to right, each at the leftmost place it fits after the one before.
 * Taking the leftmost place is never wrong (whatever a later place leaves to
 * the segments after it, an earlier place leaves more), so nothing is ever
 * retried: a match costs at most O(len(value) x len(pattern)) character
 * comparisons, where a backtracking regex took exponential time for patterns
 * like `*a*a*a*a*a*a*b`.
 *
 * Characters are Unicode code points, so `?` matches one emoji (two UTF-16
 * units) as it matches one letter. Matching is case-sensitive, as AWS's is.
 */

/**
 * A compiled pattern is a list of units: a literal code point, ANY (`?`) or
 * STAR (`*`). EC2 filters (compileWildcard, with backslash escapes) and IAM
 * policies (api/auth/policy, where `${*}` is a literal) parse their own
 * syntax into units and share this one matcher.
 */
export const ANY = 0;
export const STAR = 1;
export type Unit = string | typeof ANY | typeof STAR;

export interface Matcher {
  /** true when the whole of `value` matches */
  test(value: string): boolean;
}

export interface Wildcard extends Matcher {
  /** the pattern as given */
  readonly pattern: string;
}

/** EC2's syntax: `*`, `?`, and `\*` `\?` `\\` for the literal characters. */
function ec2Units(pattern: string): Unit[] {
  const out: Unit[] = [];
  const cps = Array.from(pattern);
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i];
    if (c === '\\' && i + 1 < cps.length && (cps[i + 1] === '*' || cps[i + 1] === '?' || cps[i + 1] === '\\')) out.push(cps[++i]);
    else out.push(c === '*' ? STAR : c === '?' ? ANY : c);
  }
  return out;
}

/** Does seg match s at position at (the caller made sure it fits)? */
function matchesAt(s: string[], at: number, seg: Unit[]): boolean {
  for (let j = 0; j < seg.length; j++) {
    const u = seg[j];
    if (u !== ANY && u !== s[at + j]) return false;
  }
  return true;
}

/** Compiles units into a matcher; ignoreCase folds both sides to lower case. */
export function compileUnits(units: Unit[], ignoreCase = false): Matcher {
  const fold = (v: string) => (ignoreCase ? v.toLowerCase() : v);
  const norm = units.map((u) => (typeof u === 'string' ? fold(u) : u));
  const segments: Unit[][] = [[]];
  for (const u of norm) { if (u === STAR) segments.push([]); else segments[segments.length - 1].push(u); }
  const first = segments[0];
  // No `*` at all: the value must be exactly as long as the pattern.
  if (segments.length === 1) {
    if (!first.includes(ANY)) { const lit = (first as string[]).join(''); return { test: (v) => fold(v) === lit }; }
    return { test: (v) => { const s = Array.from(fold(v)); return s.length === first.length && matchesAt(s, 0, first); } };
  }
  const last = segments[segments.length - 1];
  const middle = segments.slice(1, -1).filter((seg) => seg.length > 0);   // `**` is `*`
  // the common "prefix*" shape: a startsWith
  if (segments.length === 2 && last.length === 0 && !first.includes(ANY)) {
    const prefix = (first as string[]).join('');
    return { test: (v) => fold(v).startsWith(prefix) };
  }
  const fixed = first.length + last.length + middle.reduce((n, seg) => n + seg.length, 0);
  return {
    test(value: string) {
      const s = Array.from(fold(value));
      if (s.length < fixed) return false;
      if (!matchesAt(s, 0, first)) return false;
      const end = s.length - last.length;              // the last segment owns s[end..]
      if (!matchesAt(s, end, last)) return false;
      let pos = first.length;
      for (const seg of middle) {
        let found = -1;
        for (let at = pos; at + seg.length <= end; at++) {
          if (matchesAt(s, at, seg)) { found = at; break; }
        }
        if (found < 0) return false;
        pos = found + seg.length;
      }
      return true;
    },
  };
}

/** An EC2 filter value as a matcher (case-sensitive, as AWS's are). */
export function compileWildcard(pattern: string): Wildcard {
  const m = compileUnits(ec2Units(pattern));
  return { pattern, test: (v) => m.test(v) };
}

/** One-off match (compile once with compileWildcard when testing many values). */
export function wildcardMatch(pattern: string, value: string): boolean {
  return compileWildcard(pattern).test(value);
}
