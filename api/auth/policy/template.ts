// Policy variables (Version 2012-10-17 only): `${aws:username}` in a Resource or a
// string/ARN condition value is the request's value of that key; `${key, 'x'}`
// gives a default for a key the request lacks; `${*}`, `${?}` and `${$}` are a
// literal `*`, `?` and `$`. A variable that resolves to nothing (no value, no
// default, or several values) makes that element not match.
import { ANY, STAR, type Unit } from './match';

/** A malformed policy document; the message is the one AWS gives. */
export class PolicyError extends Error {}

/** The request's value(s) of a condition key, looked up by the name the policy uses (case-insensitive). */
export type KeyLookup = (key: string) => string | string[] | undefined;

export interface Template {
  /** true when the text has variables to resolve */
  vars: boolean;
  /** the pattern units with variables resolved, or undefined when one cannot be */
  units(keys: KeyLookup): Unit[] | undefined;
}

type Piece = { lit: Unit[] } | { name: string; def?: string };

const litUnits = (s: string): Unit[] => Array.from(s);

export function compileTemplate(text: string, variables: boolean, wildcards: boolean): Template {
  const plain = (s: string): Unit[] => (wildcards ? Array.from(s, (c) => (c === '*' ? STAR : c === '?' ? ANY : c)) : litUnits(s));
  if (!variables || !text.includes('${')) { const u = plain(text); return { vars: false, units: () => u }; }
  const pieces: Piece[] = [];
  let i = 0;
  while (i < text.length) {
    const j = text.indexOf('${', i);
    const k = j < 0 ? -1 : text.indexOf('}', j + 2);
    if (j < 0 || k < 0) { pieces.push({ lit: plain(text.slice(i)) }); break; }
    if (j > i) pieces.push({ lit: plain(text.slice(i, j)) });
    const inner = text.slice(j + 2, k).trim();
    if (inner === '*' || inner === '?' || inner === '$') pieces.push({ lit: [inner] });
    else {
      const m = /^([^,\s]+)\s*(?:,\s*'([^']*)')?$/.exec(inner);
      if (m) pieces.push({ name: m[1], def: m[2] }); else pieces.push({ lit: plain(text.slice(j, k + 1)) });
    }
    i = k + 1;
  }
  const vars = pieces.some((p) => 'name' in p);
  return {
    vars,
    units(keys) {
      const out: Unit[] = [];
      for (const p of pieces) {
        if ('lit' in p) { out.push(...p.lit); continue; }
        const v = keys(p.name);
        const s = Array.isArray(v) ? (v.length === 1 ? v[0] : undefined) : v;
        if (s === undefined) { if (p.def === undefined) return undefined; out.push(...litUnits(p.def)); } else out.push(...litUnits(s));
      }
      return out;
    },
  };
}
