// EC2 filters (api/ec2/actions/filters.ts) against hostile input: wildcard
// patterns that made the regex version backtrack for seconds, filter names
// that are Object.prototype's, and AWS's limits on filters per call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyFilters, MAX_FILTERS, MAX_FILTER_VALUES } from '../../api/ec2/actions/filters';
import { DescribeAccountAttributes } from '../../api/ec2/actions/catalog';
import { Ec2Error } from '../../api/ec2/errors';

interface Item { id: string; name: string; tags?: { key: string; value: string }[] }
const items: Item[] = [
  { id: 'i-1', name: 'web', tags: [{ key: 'env', value: 'prod' }, { key: 'Name', value: 'café 🚀' }] },
  { id: 'i-2', name: 'db', tags: [{ key: 'env', value: 'dev' }] },
  { id: 'i-3', name: 'a'.repeat(64) },
];
const fields = { 'instance-id': (i: Item) => i.id, name: (i: Item) => i.name };
const ids = (r: Item[]) => r.map((i) => i.id);

function ec2Throws(fn: () => unknown, code: string, status: number, message?: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Ec2Error, `expected an Ec2Error, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.httpStatus, status);
    if (message) assert.match(e.message, message);
    return true;
  });
}

test('filters still mean what they meant: wildcards, OR within, AND across, tag filters', () => {
  assert.deepEqual(ids(applyFilters(items, [{ name: 'name', values: ['w*'] }], fields)), ['i-1']);
  assert.deepEqual(ids(applyFilters(items, [{ name: 'name', values: ['d?', 'web'] }], fields)), ['i-1', 'i-2']);
  assert.deepEqual(ids(applyFilters(items, [{ name: 'instance-id', values: ['i-*'] }, { name: 'name', values: ['*b'] }], fields)), ['i-1', 'i-2']);
  assert.deepEqual(ids(applyFilters(items, [{ name: 'tag:env', values: ['prod'] }], fields)), ['i-1']);
  assert.deepEqual(ids(applyFilters(items, [{ name: 'tag-key', values: ['Name'] }], fields)), ['i-1']);
  assert.deepEqual(ids(applyFilters(items, [{ name: 'tag-value', values: ['caf? *'] }], fields)), ['i-1']);
  assert.deepEqual(ids(applyFilters(items, [{ name: 'name', values: ['a.*'] }], fields)), [], '. is no regex');
  assert.deepEqual(ids(applyFilters(items, [{ name: 'name', values: [] }], fields)), [], 'a filter without values matches nothing');
});

test('a hostile wildcard answers in well under 50 ms (the regex version stalled the process for ~5 s)', () => {
  const t0 = process.hrtime.bigint();
  const r = applyFilters(items, [{ name: 'name', values: ['*a*a*a*a*a*a*b'] }], fields);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.deepEqual(r, []);
  assert.ok(ms < 50, `took ${ms.toFixed(1)} ms`);
});

test("filter names of Object.prototype are unknown filters, not a crash", () => {
  for (const name of ['__proto__', 'constructor', 'hasOwnProperty', 'valueOf', 'toString', 'isPrototypeOf', '__defineGetter__']) {
    ec2Throws(() => applyFilters(items, [{ name, values: ['x'] }], fields), 'InvalidParameterValue', 400, new RegExp(`The filter '${name}' is invalid`));
  }
});

test("AWS's limits: 50 filters, 200 values a filter (FilterLimitExceeded), 255 characters a value", () => {
  const many = (n: number) => Array.from({ length: n }, () => ({ name: 'name', values: ['*'] }));
  assert.equal(applyFilters(items, many(MAX_FILTERS), fields).length, 3);
  ec2Throws(() => applyFilters(items, many(MAX_FILTERS + 1), fields), 'FilterLimitExceeded', 400, /filters specified on a single call is 50/);
  const values = (n: number) => Array.from({ length: n }, (_, k) => `v${k}`);
  assert.equal(applyFilters(items, [{ name: 'name', values: [...values(MAX_FILTER_VALUES - 1), 'web'] }], fields).length, 1);
  ec2Throws(() => applyFilters(items, [{ name: 'name', values: values(MAX_FILTER_VALUES + 1) }], fields),
    'FilterLimitExceeded', 400, /The maximum number of filter values specified on a single call is 200/);
  assert.equal(applyFilters(items, [{ name: 'name', values: ['*' + 'x'.repeat(254)] }], fields).length, 0);
  ec2Throws(() => applyFilters(items, [{ name: 'name', values: ['x'.repeat(256)] }], fields), 'InvalidParameterValue', 400);
  // limits hold even when nothing is there to filter
  ec2Throws(() => applyFilters([], many(MAX_FILTERS + 1), fields), 'FilterLimitExceeded', 400);
});

test("DescribeAccountAttributes: an attribute named like Object.prototype's members is invalid", async () => {
  const ctx = (names: string[]) => ({
    input: { AttributeNames: names }, dryRun: false,
  }) as unknown as Parameters<typeof DescribeAccountAttributes>[0];
  for (const n of ['constructor', '__proto__', 'toString']) {
    await assert.rejects(DescribeAccountAttributes(ctx([n])), (e: unknown) => e instanceof Ec2Error && e.code === 'InvalidParameterValue');
  }
  const ok = await DescribeAccountAttributes(ctx(['max-instances']));
  assert.deepEqual(ok.accountAttributeSet.map((a) => a.attributeName), ['max-instances']);
});
