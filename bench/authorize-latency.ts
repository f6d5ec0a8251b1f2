// Security-group latency (not a test): from AuthorizeSecurityGroupIngress to the rule taking
// effect on real traffic, and from RevokeSecurityGroupIngress to it ending; medians over N
// tries (default 20). One guest in a fresh group gets an elastic IP; the host (root namespace,
// "the internet") probes that address with TCP SYNs to port 9 every 10 ms. The group allows
// nothing from outside, so the CC rejects the SYNs; once "tcp 9 from 0.0.0.0/0" is in force
// the guest's server (busybox httpd from user-data) accepts them, and after Revoke it stops.
// Needs the public segment wired (the `npm run up` default).
//   source .cloud/eucarc; node --import tsx bench/authorize-latency.ts [--runs 20]
import {
  EC2Client, CreateSecurityGroupCommand, DeleteSecurityGroupCommand, AuthorizeSecurityGroupIngressCommand,
  RevokeSecurityGroupIngressCommand, RunInstancesCommand, TerminateInstancesCommand, AllocateAddressCommand,
  AssociateAddressCommand, ReleaseAddressCommand,
} from '@aws-sdk/client-ec2';
import { listenUserData, probe, report, sleep, waitConsole, waitRunning } from './stats';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 20;
const env = process.env;

async function main() {
  const ec2 = new EC2Client({ endpoint: env.EC2_URL, region: env.AWS_DEFAULT_REGION, maxAttempts: 1 });
  const name = `bench-authorize-${Date.now()}`;
  const { GroupId } = await ec2.send(new CreateSecurityGroupCommand({ GroupName: name, Description: 'authorize latency bench' }));
  const r = await ec2.send(new RunInstancesCommand({ ImageId: env.EUCA_TEST_IMAGE, MinCount: 1, MaxCount: 1, InstanceType: 't1.micro', SecurityGroupIds: [GroupId!], UserData: listenUserData(9) }));
  const id = r.Instances![0]!.InstanceId!;
  const { PublicIp: eip, AllocationId } = await ec2.send(new AllocateAddressCommand({}));
  const perm = { GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 9, ToPort: 9, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] };
  const authApi: number[] = []; const auth: number[] = []; const revokeApi: number[] = []; const revoke: number[] = [];
  try {
    await waitRunning(ec2, id);
    await waitConsole(ec2, id, 'BENCH-LISTENING-9');
    await ec2.send(new AssociateAddressCommand({ PublicIp: eip, InstanceId: id }));
    await probe(eip!, Date.now(), 'silent', { listening: true }); // nothing allowed yet
    for (let i = 0; i < runs; i++) {
      let t0 = Date.now();
      await ec2.send(new AuthorizeSecurityGroupIngressCommand(perm));
      authApi.push(Date.now() - t0);
      auth.push(await probe(eip!, t0, 'answer', { listening: true }));
      t0 = Date.now();
      await ec2.send(new RevokeSecurityGroupIngressCommand(perm));
      revokeApi.push(Date.now() - t0);
      revoke.push(await probe(eip!, t0, 'silent', { listening: true }));
    }
  } finally {
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] })).catch(() => undefined);
    await ec2.send(new ReleaseAddressCommand({ AllocationId })).catch(() => undefined);
    for (let i = 0; i < 60; i++) {
      try { await ec2.send(new DeleteSecurityGroupCommand({ GroupId })); break; } catch { await sleep(1000); }
    }
  }
  console.log(`security group ${GroupId}, ${id} at ${eip}, ${runs} tries`);
  report('AuthorizeSecurityGroupIngress: API answer', authApi);
  report('Authorize -> traffic allowed', auth);
  report('RevokeSecurityGroupIngress: API answer', revokeApi);
  report('Revoke -> traffic refused', revoke);
}
main().catch((e) => { console.error(e); process.exit(1); });
