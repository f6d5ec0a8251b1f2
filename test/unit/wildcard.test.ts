// EC2 filter wildcards (lib/wildcard.ts): meaning, AWS's backslash escapes,
// agreement with a dynamic-programming reference on random cases, and the
// hostile patterns that stalled the regex version for seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileWildcard, wildcardMatch } from '../../lib/wildcard';

test('* matches any run, ? exactly one character, everything else itself', () => {
  const yes: [string, string][] = [
    ['', ''], ['abc', 'abc'], ['*', ''], ['*', 'anything'], ['a*', 'a'], ['a*', 'abc'], ['*c', 'abc'], ['a*c', 'ac'],
    ['a*c', 'abbbc'], ['?', 'x'], ['a?c', 'abc'], ['??', 'ab'], ['*?', 'x'], ['a*b*c', 'aXbYc'], ['a*b*c', 'abc'],
    ['**', ''], ['a**b', 'ab'], ['*ab*ab*', 'abab'], ['i-*', 'i-0123abcd'], ['*.small', 'm1.small'],
    ['x.y', 'x.y'], ['(a|b)', '(a|b)'], ['[ab]', '[ab]'], ['^$', '^$'], ['a+', 'a+'], ['{1}', '{1}'],
  ];
  for (const [p, v] of yes) assert.equal(wildcardMatch(p, v), true, `${JSON.stringify(p)} should match ${JSON.stringify(v)}`);
  const no: [string, string][] = [
    ['', 'a'], ['abc', 'abd'], ['abc', 'ab'], ['abc', 'abcd'], ['a*', 'ba'], ['*c', 'cb'], ['?', ''], ['?', 'ab'],
    ['a?c', 'ac'], ['a*b*c', 'acb'], ['*ab*ab*', 'aba'], ['aa*aa', 'aaa'], ['x.y', 'xzy'], ['[ab]', 'a'], ['a+', 'aa'],
    ['ABC', 'abc'], ['abc', 'ABC'],
  ];
  for (const [p, v] of no) assert.equal(wildcardMatch(p, v), false, `${JSON.stringify(p)} should not match ${JSON.stringify(v)}`);
});

test("AWS's escapes: \\* \\? \\\\ are literal; a backslash before anything else is itself", () => {
  assert.equal(wildcardMatch('\\*amazon\\?\\\\', '*amazon?\\'), true);          // AWS's own example
  assert.equal(wildcardMatch('\\*amazon\\?\\\\', 'Xamazon!\\'), false);
  assert.equal(wildcardMatch('a\\*', 'a*'), true);
  assert.equal(wildcardMatch('a\\*', 'abc'), false);
  assert.equal(wildcardMatch('a\\?', 'a?'), true);
  assert.equal(wildcardMatch('a\\?', 'ab'), false);
  assert.equal(wildcardMatch('\\\\*', '\\anything'), true, '\\\\ then a real *');
  assert.equal(wildcardMatch('\\\\?', '\\x'), true, '\\\\ then a real ?');
  assert.equal(wildcardMatch('a\\b', 'a\\b'), true, 'a backslash before a plain character stays');
  assert.equal(wildcardMatch('a\\', 'a\\'), true, 'a trailing backslash stays');
  assert.equal(wildcardMatch('*\\**', 'x*y'), true);
  assert.equal(wildcardMatch('*\\**', 'xy'), false);
});

test('characters are code points: ? matches one emoji, one CJK or accented letter', () => {
  assert.equal(wildcardMatch('?', '🚀'), true);
  assert.equal(wildcardMatch('??', '🚀'), false);
  assert.equal(wildcardMatch('caf?', 'café'), true);
  assert.equal(wildcardMatch('*名', '中文名'), true);
  assert.equal(wildcardMatch('Прив?т*', 'Привет мир'), true);
  assert.equal(wildcardMatch('a?b', 'a🚀b'), true);
  assert.equal(wildcardMatch('*🚀*', 'x🚀y'), true);
  assert.equal(wildcardMatch('*🚀', 'x\ud83d'), false);
});

// The reference: classic O(n*m) dynamic programming over code points.
function reference(pattern: string, value: string): boolean {
  type U = { any?: true; star?: true; ch?: string };
  const units: U[] = [];
  const p = Array.from(pattern);
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '\\' && i + 1 < p.length && '*?\\'.includes(p[i + 1])) units.push({ ch: p[++i] });
    else if (p[i] === '*') units.push({ star: true });
    else if (p[i] === '?') units.push({ any: true });
    else units.push({ ch: p[i] });
  }
  const s = Array.from(value);
  let prev = new Array<boolean>(s.length + 1).fill(false);
  prev[0] = true;
  for (const u of units) {
    const cur = new Array<boolean>(s.length + 1).fill(false);
    for (let j = 0; j <= s.length; j++) {
      if (u.star) cur[j] = prev[j] || (j > 0 && cur[j - 1]);
      else if (j > 0) cur[j] = prev[j - 1] && (u.any === true || u.ch === s[j - 1]);
    }
    prev = cur;
  }
  return prev[s.length];
}

test('agrees with a dynamic-programming reference on 20,000 random cases', () => {
  let seed = 42;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const alphabet = ['a', 'b', '*', '?', '\\', 'é'];
  for (let k = 0; k < 20_000; k++) {
    const p = Array.from({ length: rnd(8) }, () => alphabet[rnd(alphabet.length)]).join('');
    const v = Array.from({ length: rnd(10) }, () => ['a', 'b', '*', '?', '\\', 'é'][rnd(6)]).join('');
    assert.equal(wildcardMatch(p, v), reference(p, v), `pattern ${JSON.stringify(p)} value ${JSON.stringify(v)}`);
  }
});

test('hostile patterns finish in well under 50 ms (the regex took 4.8 s for the first)', () => {
  const cases: [string, string][] = [
    ['*a*a*a*a*a*a*b', 'a'.repeat(64)],                       // the one that stalled the API
    ['*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b', 'a'.repeat(4096)],
    ['*' + 'a*'.repeat(126) + 'b', 'a'.repeat(10_000)],        // a 255-character filter value against a long field
    ['*' + '?'.repeat(100) + 'b*' + '?'.repeat(100) + 'c', 'a'.repeat(10_000)],
    ['*' + 'a'.repeat(120) + 'b*', 'a'.repeat(10_000)],        // long segment, near-misses everywhere
  ];
  for (const [p, v] of cases) {
    const w = compileWildcard(p);
    const t0 = process.hrtime.bigint();
    const r = w.test(v);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.equal(r, false);
    assert.ok(ms < 50, `${p.slice(0, 30)}... against ${v.length} characters took ${ms.toFixed(1)} ms`);
  }
  // and one that matches, at the far end
  const t0 = process.hrtime.bigint();
  assert.equal(wildcardMatch('*a*a*a*a*a*a*b', 'a'.repeat(64) + 'b'), true);
  assert.ok(Number(process.hrtime.bigint() - t0) / 1e6 < 50);
});
