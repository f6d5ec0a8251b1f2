// Time from AuthorizeSecurityGroupIngress to the rule being in force in the
// CC's data plane (the API answers once the zone's rules are reloaded; this
// checks the nft table too), and the same for Revoke; medians over N tries.
// Usage: source .cloud/eucarc; node --import tsx bench/authorize-latency.ts [--runs 20]
import { execFileSync } from 'node:child_process';
import { EC2Client, CreateSecurityGroupCommand, DeleteSecurityGroupCommand, AuthorizeSecurityGroupIngressCommand,
  RevokeSecurityGroupIngressCommand, RunInstancesCommand, TerminateInstancesCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { config } from '../lib/config';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 20;
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const ccNs = `${config.prefix}-cc-${config.zone}`;
const ruleInForce = (port: number) => execFileSync('ip', ['netns', 'exec', ccNs, 'nft', 'list', 'table', 'inet', 'euca_sg']).toString().includes(`dport ${port}`);

async function main() {
  const ec2 = new EC2Client({ endpoint: process.env.EC2_URL, region: process.env.AWS_DEFAULT_REGION, maxAttempts: 1 });
  const name = `bench-${Date.now()}`;
  await ec2.send(new CreateSecurityGroupCommand({ GroupName: name, Description: 'authorize latency' }));
  const r = await ec2.send(new RunInstancesCommand({ ImageId: process.env.EUCA_TEST_IMAGE, MinCount: 1, MaxCount: 1, InstanceType: 't1.micro', SecurityGroups: [name] }));
  const id = r.Instances![0].InstanceId!;
  for (;;) {
    const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    if (d.Reservations![0].Instances![0].State!.Name === 'running') break;
    await new Promise((res) => setTimeout(res, 500));
  }
  const auth: number[] = []; const revoke: number[] = [];
  for (let i = 0; i < runs; i++) {
    const port = 20000 + i;
    const perm = { GroupName: name, IpProtocol: 'tcp', FromPort: port, ToPort: port, CidrIp: '10.0.0.0/8' };
    let t0 = Date.now();
    await ec2.send(new AuthorizeSecurityGroupIngressCommand(perm));
    while (!ruleInForce(port)) { /* poll */ }
    auth.push(Date.now() - t0);
    t0 = Date.now();
    await ec2.send(new RevokeSecurityGroupIngressCommand(perm));
    while (ruleInForce(port)) { /* poll */ }
    revoke.push(Date.now() - t0);
  }
  console.log(`over ${runs} tries (ms): authorize -> in force median ${median(auth)} (min ${Math.min(...auth)}, max ${Math.max(...auth)}); revoke -> gone median ${median(revoke)} (min ${Math.min(...revoke)}, max ${Math.max(...revoke)})`);
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  for (let i = 0; i < 60; i++) {
    try { await ec2.send(new DeleteSecurityGroupCommand({ GroupName: name })); break; } catch { await new Promise((res) => setTimeout(res, 1000)); }
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
