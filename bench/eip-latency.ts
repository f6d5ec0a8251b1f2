// Elastic IP latency (not a test): from AssociateAddress to the address answering, as
// medians over N tries (default 20). The host (root namespace) stands for the internet
// and probes the address every 10 ms (TCP SYN, answered by a reset or a connection)
// from the moment the API has answered.
//   cloud:      AssociateAddress request -> response (API answer) -> first answer;
//               DisassociateAddress request -> response -> first unanswered probe.
//               Needs a running instance (--instance i-..., or one is launched and
//               terminated at the end) and the public segment wired (EUCA_EIP_E2E=1).
//     source .cloud/eucarc; node --import tsx bench/eip-latency.ts [--runs 20] [--instance i-x]
//   dataplane:  namespaces only (prefix eutb, 100.64.253.0/24): applyNat -> first reply,
//               the CC-side cost without Temporal and the API.
//     node --import tsx bench/eip-latency.ts --dataplane [--runs 20]
import net from 'node:net';
import {
  EC2Client, AllocateAddressCommand, AssociateAddressCommand, DisassociateAddressCommand, ReleaseAddressCommand,
  RunInstancesCommand, TerminateInstancesCommand, DescribeInstancesCommand,
} from '@aws-sdk/client-ec2';

const argv = process.argv;
const arg = (name: string) => { const i = argv.indexOf(name); return i > 0 ? argv[i + 1] : undefined; };
const runs = Number(arg('--runs')) || 20;
const env = process.env;
const sleep = (n: number) => new Promise((r) => setTimeout(r, n));
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

/**
 * Probes `ip` every 10 ms with a TCP SYN to port 9 from the root namespace (the host):
 * an answer is a connection or a reset (the guest's kernel answers either way), silence
 * is no answer within 100 ms. Resolves with ms since `t0` at the first answer (or the
 * first silence when `until` is 'silent').
 */
async function probe(ip: string, t0: number, until: 'answer' | 'silent', timeoutMs = 10_000): Promise<number> {
  const once = () => new Promise<boolean>((resolve) => {
    const s = net.connect({ host: ip, port: 9 });
    const end = (v: boolean) => { clearTimeout(t); s.destroy(); resolve(v); };
    const t = setTimeout(() => end(false), 100);
    s.once('connect', () => end(true));
    s.once('error', (e: NodeJS.ErrnoException) => end(e.code === 'ECONNREFUSED'));
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await once();
    if (ok === (until === 'answer')) return Date.now() - t0;
    if (!ok) continue; // a timeout already waited 100 ms
    await sleep(10);
  }
  throw new Error(`${ip}: no ${until} within ${timeoutMs} ms`);
}

function report(name: string, xs: number[]) {
  console.log(`${name.padEnd(44)} median ${median(xs).toFixed(0).padStart(5)} ms   p90 ${pct(xs, 0.9).toFixed(0).padStart(5)} ms   min ${Math.min(...xs)}  max ${Math.max(...xs)}  (n=${xs.length})`);
}

async function cloud() {
  const ec2 = new EC2Client({ endpoint: env.EC2_URL, region: env.AWS_DEFAULT_REGION, maxAttempts: 1 });
  let instanceId = arg('--instance');
  let launched = false;
  if (!instanceId) {
    const r = await ec2.send(new RunInstancesCommand({ ImageId: env.EUCA_TEST_IMAGE, InstanceType: 't1.micro', MinCount: 1, MaxCount: 1 }));
    instanceId = r.Instances![0]!.InstanceId!;
    launched = true;
    for (;;) {
      const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
      const s = d.Reservations?.[0]?.Instances?.[0]?.State?.Name;
      if (s === 'running') break;
      if (s === 'terminated') throw new Error(`${instanceId} terminated while launching`);
      await sleep(1000);
    }
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
      answer.push(await probe(ip, t0, 'answer'));
      t0 = Date.now();
      await ec2.send(new DisassociateAddressCommand({ PublicIp: ip }));
      dapi.push(Date.now() - t0);
      silent.push(await probe(ip, t0, 'silent'));
    }
  } finally {
    await ec2.send(new DisassociateAddressCommand({ PublicIp: ip })).catch(() => undefined);
    await ec2.send(new ReleaseAddressCommand({ PublicIp: ip })).catch(() => undefined);
    if (launched) await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] })).catch(() => undefined);
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
