// Read-only actions through the AWS CLI: images, zones (Eucalyptus verbose), regions, types, account attributes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { aws, stackUp, imageId, region, closeDb } from './helpers';

const skip = stackUp ? false : 'the test cloud is not up (run through npm test)';
after(closeDb);

test('DescribeImages lists the test guest, with owners and filters', { skip }, async () => {
  const all = await aws(['ec2', 'describe-images']);
  const img = all.Images.find((i: any) => i.ImageId === imageId);
  assert.ok(img, 'the test image is registered');
  assert.equal(img.State, 'available'); assert.equal(img.Public, true); assert.equal(img.Name, 'test-guest');
  const byName = await aws(['ec2', 'describe-images', '--filters', 'Name=name,Values=test-*']);
  assert.deepEqual(byName.Images.map((i: any) => i.ImageId), [imageId]);
  const self = await aws(['ec2', 'describe-images', '--owners', 'self']);
  assert.ok(self.Images.some((i: any) => i.ImageId === imageId));
  const none = await aws(['ec2', 'describe-images', '--owners', '000000000000']);
  assert.equal(none.Images.length, 0);
});

test('DescribeAvailabilityZones, with the verbose capacity listing', { skip }, async () => {
  const z = await aws(['ec2', 'describe-availability-zones']);
  assert.deepEqual(z.AvailabilityZones.map((a: any) => [a.ZoneName, a.State, a.RegionName]), [[process.env.EUCA_ZONE ?? 'test-1a', 'available', region]]);
  const v = await aws(['ec2', 'describe-availability-zones', '--zone-names', 'verbose']);
  const small = v.AvailabilityZones.find((a: any) => a.ZoneName === '|- m1.small');
  assert.ok(small, 'a line per instance type');
  const [free, max] = small.State.match(/(\d+) \/ (\d+)/).slice(1).map(Number);
  assert.ok(max >= 2 && free <= max, small.State);
});

test('DescribeRegions, DescribeInstanceTypes, DescribeAccountAttributes', { skip }, async () => {
  const r = await aws(['ec2', 'describe-regions']);
  assert.deepEqual(r.Regions.map((x: any) => x.RegionName), [region]);
  const t = await aws(['ec2', 'describe-instance-types', '--instance-types', 'm1.small', 'm1.large']);
  const byName = Object.fromEntries(t.InstanceTypes.map((x: any) => [x.InstanceType, x]));
  assert.equal(byName['m1.large'].VCpuInfo.DefaultVCpus, 2);
  assert.equal(byName['m1.small'].MemoryInfo.SizeInMiB, 192);
  const a = await aws(['ec2', 'describe-account-attributes', '--attribute-names', 'supported-platforms']);
  assert.equal(a.AccountAttributes[0].AttributeValues[0].AttributeValue, 'EC2');
});
