// Elastic IP latency (not a test): from AssociateAddress to the address answering, as
// medians over N tries (default 20). The host (root namespace) stands for the internet
// and probes the address every 10 ms with TCP SYNs from the moment the API has answered.
//   cloud:      AssociateAddress request -> response (API answer) -> first accepted
//               connection; DisassociateAddress request -> response -> first unanswered probe.
//               A guest listening on tcp/9 (busybox httpd from user-data) in a group that
//               allows tcp/9 from anywhere is launched and terminated at the end (or pass
//               --instance i-... of such a guest). Needs the public segment wired (the
//               `npm run up` default).
//     source .cloud/eucarc; node --import tsx bench/eip-latency.ts [--runs 20] [--instance i-x]
//   dataplane:  namespaces only (prefix eutb, 100.64.253.0/24): applyNat -> first reply
//               (the veth "VM" namespace's kernel answers with a reset),
//               the CC-side cost without Temporal and the API.
//     node --import tsx bench/eip-latency.ts --dataplane [--runs 20]
import {
  EC2Client, AllocateAddressCommand, AssociateAddressCommand, DisassociateAddressCommand, ReleaseAddressCommand,
  AuthorizeSecurityGroupIngressCommand, RunInstancesCommand, TerminateInstancesCommand, CreateSecurityGroupCommand, DeleteSecurityGroupCommand,
} from '@aws-sdk/client-ec2';
import { listenUserData, probe, report, sleep, waitConsole, waitRunning } from './stats';

const argv = process.argv;
const arg = (name: string) => { const i = argv.indexOf(name); return i > 0 ? argv[i + 1] : undefined; };
const runs = Number(arg('--runs')) || 20;
const env = process.env;

async function cloud() {
  const ec2 = new EC2Client({ endpoint: env.EC2_URL, region: env.AWS_DEFAULT_REGION, maxAttempts: 1 });
  let instanceId = arg('--instance');
  let groupId: string | undefined;
  if (!instanceId) {
    // a guest that listens on port 9, in a group that lets the outside reach that port
    groupId = (await ec2.send(new CreateSecurityGroupCommand({ GroupName: `bench-eip-${Date.now()}`, Description: 'eip latency bench' }))).GroupId!;
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 9, ToPort: 9, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
    const r = await ec2.send(new RunInstancesCommand({ ImageId: env.EUCA_TEST_IMAGE, InstanceType: 't1.micro', MinCount: 1, MaxCount: 1, SecurityGroupIds: [groupId], UserData: listenUserData(9) }));
    instanceId = r.Instances![0]!.InstanceId!;
    await waitRunning(ec2, instanceId);
    await waitConsole(ec2, instanceId, 'BENCH-LISTENING-9');
    console.log(`launched ${instanceId}`);
  }
  const a = await ec2.send(new AllocateAddressCommand({}));
  const ip = a.PublicIp!;
  const api: number[] = []; const answer: number[] = []; const dapi: number[] = []; const silent: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      let t0 = Date.now();
      await ec2.send(new AssociateAddressCommand({ PublicIp: ip, InstanceId: instanceId }));
      api.push(Date.now() - t0);
      answer.push(await probe(ip, t0, 'answer', { listening: true }));
      t0 = Date.now();
      await ec2.send(new DisassociateAddressCommand({ PublicIp: ip }));
      dapi.push(Date.now() - t0);
      silent.push(await probe(ip, t0, 'silent', { listening: true }));
    }
  } finally {
    await ec2.send(new DisassociateAddressCommand({ PublicIp: ip })).catch(() => undefined);
    await ec2.send(new ReleaseAddressCommand({ PublicIp: ip })).catch(() => undefined);
    if (groupId) {
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] })).catch(() => undefined);
      for (let i = 0; i < 60; i++) {
        try { await ec2.send(new DeleteSecurityGroupCommand({ GroupId: groupId })); break; } catch { await sleep(1000); }
      }
    }
  }
  console.log(`elastic IP ${ip} <-> ${instanceId}, ${runs} tries`);
  report('AssociateAddress: API answer', api);
  report('AssociateAddress -> address answers', answer);
  report('DisassociateAddress: API answer', dapi);
  report('DisassociateAddress -> first unanswered probe', silent);
}

async function dataplane() {
  const { destroyHosts, ensureHosts, planHosts } = await import('../activities/network/hosts');
  const { applyNat, ensureNat } = await import('../activities/network/elasticIps');
  const { ip } = await import('../activities/network/ip');
  const prefix = 'eutb';
  const plan = planHosts(prefix, '10.191.0.0/24', 'bench-1a', [], { publicCidr: '100.64.253.0/24' });
  const cc = plan.cc.netns; const vm = `${prefix}-vm1`; const eip = '100.64.253.10';
  await destroyHosts(prefix);
  try {
    await ensureHosts(plan);
    await ip(cc, ['link', 'add', 'name', 'vb4400', 'type', 'bridge']);
    await ip(cc, ['addr', 'add', '10.190.7.1/24', 'dev', 'vb4400']);
    await ip(cc, ['link', 'set', 'dev', 'vb4400', 'up']);
    await ip(null, ['netns', 'add', vm]);
    await ip(cc, ['link', 'add', 'name', 'tvm1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vm]);
    await ip(cc, ['link', 'set', 'dev', 'tvm1', 'master', 'vb4400', 'up']);
    await ip(vm, ['addr', 'add', '10.190.7.11/24', 'dev', 'eth0']);
    await ip(vm, ['link', 'set', 'dev', 'eth0', 'up']);
    await ip(vm, ['route', 'add', 'default', 'via', '10.190.7.1']);
    await ensureNat(cc);
    const apply: number[] = []; const answer: number[] = []; const silent: number[] = [];
    let seq = 0;
    for (let i = 0; i < runs; i++) {
      let t0 = Date.now();
      await applyNat(cc, [{ publicIp: eip, privateIp: '10.190.7.11', seq: ++seq }]);
      apply.push(Date.now() - t0);
      answer.push(await probe(eip, t0, 'answer'));
      t0 = Date.now();
      await applyNat(cc, [{ publicIp: eip, privateIp: null, seq: ++seq }]);
      silent.push(await probe(eip, t0, 'silent'));
    }
    console.log(`data plane only (namespaces), ${runs} tries`);
    report('applyNat (associate) returns', apply);
    report('applyNat (associate) -> address answers', answer);
    report('applyNat (disassociate) -> first unanswered probe', silent);
  } finally {
    await destroyHosts(prefix);
  }
}

(argv.includes('--dataplane') ? dataplane() : cloud()).catch((e) => { console.error(e); process.exit(1); });
