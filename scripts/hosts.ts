// Fake hosts on one machine (network namespaces + underlay bridge).
//   node --import tsx scripts/hosts.ts up   [--prefix euca] [--underlay 10.199.0.0/24] [--zone local-1a] [--nodes nc1,nc2]
//   node --import tsx scripts/hosts.ts down [--prefix euca]
//   node --import tsx scripts/hosts.ts plan [...same as up]   (prints the plan, changes nothing)
import { destroyHosts, ensureHosts, planHosts } from '../activities/network/hosts';
import { config } from '../lib/config';

function usage(msg?: string): never {
  if (msg) console.error(msg);
  console.error(
    'usage: hosts.ts up|down|plan [--prefix P] [--underlay CIDR] [--zone Z] [--nodes nc1,nc2]\n' +
      'defaults: EUCA_PREFIX or euca, UNDERLAY_CIDR or 10.199.0.0/24, EUCA_ZONE or local-1a, EUCA_NODES or nc1,nc2',
  );
  process.exit(2);
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  const opts: Record<string, string> = {
    prefix: process.env.EUCA_PREFIX ?? 'euca',
    underlay: process.env.UNDERLAY_CIDR ?? '10.199.0.0/24',
    zone: process.env.EUCA_ZONE ?? 'local-1a',
    nodes: process.env.EUCA_NODES ?? 'nc1,nc2',
  };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(a);
    if (!m || !(m[1]! in opts)) usage(`unknown argument ${a}`);
    const v = m[2] ?? rest[++i];
    if (v === undefined) usage(`missing value for ${a}`);
    opts[m[1]!] = v;
  }
  const nodes = opts.nodes!.split(',').map((s) => s.trim()).filter(Boolean);
  switch (cmd) {
    case 'up': {
      const plan = planHosts(opts.prefix!, opts.underlay!, opts.zone!, nodes, { publicCidr: config.publicCidr });
      await ensureHosts(plan);
      console.log(JSON.stringify(plan, null, 2));
      break;
    }
    case 'plan':
      console.log(JSON.stringify(planHosts(opts.prefix!, opts.underlay!, opts.zone!, nodes), null, 2));
      break;
    case 'down':
      await destroyHosts(opts.prefix!);
      break;
    default:
      usage(cmd ? `unknown command ${cmd}` : undefined);
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
