// The Condition element: operators compiled once into predicates over the
// request's condition keys.
//
//   - operators of a block AND together, keys of one operator AND together,
//     the values of one key OR together (NOR for the negated operators:
//     StringNotEquals {k: [a, b]} holds when k is neither a nor b);
//   - a key the request does not carry: false for the positive operators,
//     true for the negated ones (StringNot*, NumericNotEquals, DateNotEquals,
//     NotIpAddress, ArnNot*); ...IfExists makes a missing key true whatever the
//     operator; Null tests presence itself;
//   - ForAnyValue: some request value matches; a missing key is false.
//     ForAllValues: every request value matches; a missing key is true.
//   - condition key names are case-insensitive (the lookup sees them as the
//     policy writes them and folds what it needs), values are as each
//     operator says (StringEquals case-sensitive, ...IgnoreCase not, ...).
import { compileUnits, compileArn, parseCidr, parseIp, cidrContains, STAR, type Cidr, type Unit } from './match';
import { PolicyError, compileTemplate, type Template, type KeyLookup } from './template';

export type Qualifier = 'ForAnyValue' | 'ForAllValues' | undefined;

type Kind = 'string' | 'stringIgnoreCase' | 'stringLike' | 'numeric' | 'date' | 'bool' | 'binary' | 'ip' | 'arn' | 'null';
interface BaseOp { kind: Kind; negated: boolean; cmp?: (a: number, b: number) => boolean }

const eq = (a: number, b: number) => a === b;
export const BASE_OPERATORS: Record<string, BaseOp> = {
  StringEquals: { kind: 'string', negated: false },
  StringNotEquals: { kind: 'string', negated: true },
  StringEqualsIgnoreCase: { kind: 'stringIgnoreCase', negated: false },
  StringNotEqualsIgnoreCase: { kind: 'stringIgnoreCase', negated: true },
  StringLike: { kind: 'stringLike', negated: false },
  StringNotLike: { kind: 'stringLike', negated: true },
  NumericEquals: { kind: 'numeric', negated: false, cmp: eq },
  NumericNotEquals: { kind: 'numeric', negated: true, cmp: eq },
  NumericLessThan: { kind: 'numeric', negated: false, cmp: (a, b) => a < b },
  NumericLessThanEquals: { kind: 'numeric', negated: false, cmp: (a, b) => a <= b },
  NumericGreaterThan: { kind: 'numeric', negated: false, cmp: (a, b) => a > b },
  NumericGreaterThanEquals: { kind: 'numeric', negated: false, cmp: (a, b) => a >= b },
  DateEquals: { kind: 'date', negated: false, cmp: eq },
  DateNotEquals: { kind: 'date', negated: true, cmp: eq },
  DateLessThan: { kind: 'date', negated: false, cmp: (a, b) => a < b },
  DateLessThanEquals: { kind: 'date', negated: false, cmp: (a, b) => a <= b },
  DateGreaterThan: { kind: 'date', negated: false, cmp: (a, b) => a > b },
  DateGreaterThanEquals: { kind: 'date', negated: false, cmp: (a, b) => a >= b },
  Bool: { kind: 'bool', negated: false },
  BinaryEquals: { kind: 'binary', negated: false },
  IpAddress: { kind: 'ip', negated: false },
  NotIpAddress: { kind: 'ip', negated: true },
  ArnEquals: { kind: 'arn', negated: false },
  ArnLike: { kind: 'arn', negated: false },
  ArnNotEquals: { kind: 'arn', negated: true },
  ArnNotLike: { kind: 'arn', negated: true },
  Null: { kind: 'null', negated: false },
};

export interface ParsedOperator { name: string; base: string; qualifier: Qualifier; ifExists: boolean; op: BaseOp }

/** "ForAnyValue:StringLikeIfExists" -> its parts; undefined for an unknown operator. */
export function parseOperator(name: string): ParsedOperator | undefined {
  let rest = name, qualifier: Qualifier;
  for (const q of ['ForAnyValue', 'ForAllValues'] as const) {
    if (rest.startsWith(q + ':')) { qualifier = q; rest = rest.slice(q.length + 1); break; }
  }
  let ifExists = false;
  if (rest.endsWith('IfExists') && rest !== 'IfExists') { ifExists = true; rest = rest.slice(0, -'IfExists'.length); }
  const op = BASE_OPERATORS[rest];
  if (!op || (op.kind === 'null' && (ifExists || qualifier))) return undefined;
  return { name, base: rest, qualifier, ifExists, op };
}

/** Epoch milliseconds of a policy or request date: ISO 8601 or epoch seconds. */
export function parseDate(s: string): number | undefined {
  if (/^-?\d+(\.\d+)?$/.test(s.trim())) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
}

function parseNumber(s: string): number | undefined {
  if (!/^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/.test(s)) return undefined;
  return Number(s);
}

export interface CompiledCondition {
  operator: string; base: string; qualifier: Qualifier; ifExists: boolean; key: string; values: string[];
  test(keys: KeyLookup): boolean;
}

/** One value of the policy, as a test of one request value. */
type ValueTest = (requestValue: string, keys: KeyLookup) => boolean;

function valueTest(op: BaseOp, base: string, key: string, v: string, variables: boolean): ValueTest {
  const tmpl = (ic: boolean, wild: boolean): ValueTest => {
    const t: Template = compileTemplate(v, variables, wild);
    if (!t.vars) { const m = compileUnits(t.units(() => undefined)!, ic); return (rv) => m.test(rv); }
    return (rv, keys) => { const u: Unit[] | undefined = t.units(keys); return !!u && compileUnits(u, ic).test(rv); };
  };
  switch (op.kind) {
    case 'string': return tmpl(false, false);
    case 'stringIgnoreCase': return tmpl(true, false);
    case 'stringLike': return tmpl(false, true);
    case 'arn': {
      if (!variables || !v.includes('${')) { const m = compileArn(v); return (rv) => m.test(rv); }
      return (rv, keys) => { const t = compileTemplate(v, true, false); const u = t.units(keys); if (!u) return false;
        return compileArn(u.map((x) => (typeof x === 'string' ? x : x === STAR ? '*' : '?')).join('')).test(rv); };
    }
    case 'numeric': {
      const n = parseNumber(v);
      if (n === undefined) return () => false;
      return (rv) => { const r = parseNumber(rv); return r !== undefined && op.cmp!(r, n); };
    }
    case 'date': {
      const d = parseDate(v);
      if (d === undefined) return () => false;
      return (rv) => { const r = parseDate(rv); return r !== undefined && op.cmp!(r, d); };
    }
    case 'bool': { const want = v.toLowerCase(); return (rv) => rv.toLowerCase() === want; }
    case 'binary': { const want = Buffer.from(v, 'base64'); return (rv) => Buffer.from(rv, 'base64').equals(want); }
    case 'ip': {
      const c: Cidr | undefined = parseCidr(v);
      if (!c) throw new PolicyError('Invalid IP address in Conditions');
      return (rv) => { const a = parseIp(rv); return !!a && cidrContains(c, a); };
    }
    default: throw new PolicyError(`Invalid Condition type : ${base}`);
  }
}

/** Compiles one (operator, key, values) triple. `variables`: policy variables are on (Version 2012-10-17). */
export function compileCondition(p: ParsedOperator, key: string, values: string[], variables: boolean): CompiledCondition {
  const { op, qualifier, ifExists } = p;
  const base = { operator: p.name, base: p.base, qualifier, ifExists, key, values };
  if (op.kind === 'null') {
    const wants = values.map((v) => v.toLowerCase());
    return {
      ...base,
      test(keys) {
        const raw = keys(key);
        const present = raw !== undefined && (!Array.isArray(raw) || raw.length > 0);
        return wants.some((w) => (w === 'true' ? !present : w === 'false' ? present : false));
      },
    };
  }
  const tests = values.map((v) => valueTest(op, p.base, key, v, variables));
  const any = (rv: string, keys: KeyLookup) => tests.some((t) => t(rv, keys));
  const one = (rv: string, keys: KeyLookup) => (op.negated ? !any(rv, keys) : any(rv, keys));
  return {
    ...base,
    test(keys) {
      const raw = keys(key);
      const vals = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
      const missing = vals.length === 0;
      if (qualifier === 'ForAllValues') return missing || vals.every((rv) => one(rv, keys));
      if (qualifier === 'ForAnyValue') return missing ? ifExists : vals.some((rv) => one(rv, keys));
      if (missing) return ifExists || op.negated;
      return op.negated ? !vals.some((rv) => any(rv, keys)) : vals.some((rv) => any(rv, keys));
    },
  };
}
