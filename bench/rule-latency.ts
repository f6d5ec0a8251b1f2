// Security-group apply latency (not a test): time of applySecurityRules — render + one `nft -f`
// transaction replacing table inet euca_sg — for one group holding 10, 100 and 1,000 rules, with
// 20 instances in it (and, in the last rows, 300 instances over 30 groups beside it). Medians of 5.
// Needs root; works in its own namespace eurb-bench (made and deleted here).
// Usage: node --import tsx bench/rule-latency.ts [--runs 5]
import { ip, listNetns } from '../activities/network/ip';
import { applySecurityRules, renderSecurityRules, type SgRule, type ZoneRuleSet } from '../activities/network/securityRules';
import { median } from './stats';

const NS = 'eurb-bench';
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 5;
const gid = (n: number) => `sg-${n.toString(16).padStart(17, '0')}`;
const iid = (n: number) => `i-${n.toString(16).padStart(8, '0')}`;
const addr = (n: number) => `10.${100 + (n >> 16)}.${(n >> 7) & 255}.${(n & 127) + 1}`;

/** One group with `rules` ingress rules (a mix of tcp/udp ranges, icmp, CIDR and group peers), `members` instances in it. */
function ruleSet(rules: number, members: number, bystanders: number): ZoneRuleSet {
  const G = gid(0xbe);
  const ingress: SgRule[] = [];
  for (let i = 0; i < rules; i++) {
    const cidr = `172.${16 + ((i >> 8) & 15)}.${i & 255}.0/24`;
    switch (i % 4) {
      case 0: ingress.push({ protocol: 'tcp', fromPort: 1000 + i, toPort: 1000 + i, cidr }); break;
      case 1: ingress.push({ protocol: 'udp', fromPort: 2000 + i, toPort: 2100 + i, cidr }); break;
      case 2: ingress.push({ protocol: 'icmp', fromPort: 8, toPort: -1, cidr }); break;
      default: ingress.push({ protocol: 'tcp', fromPort: 3000 + i, toPort: 3000 + i, sourceGroupId: gid(1 + (i % 30)) });
    }
  }
  const d: ZoneRuleSet = { controlPlane: ['10.199.0.0/24'], instances: [], groups: [{ groupId: G, memberIps: [], ingress, egress: [{ protocol: '-1', fromPort: -1, toPort: -1, cidr: '0.0.0.0/0' }] }] };
  for (let i = 0; i < members; i++) { d.instances.push({ instanceId: iid(i + 1), privateIp: addr(i + 1), groupIds: [G] }); d.groups[0]!.memberIps.push(addr(i + 1)); }
  for (let g = 1; g <= 30; g++) d.groups.push({ groupId: gid(g), memberIps: [], ingress: [{ protocol: '-1', fromPort: -1, toPort: -1, sourceGroupId: gid(g) }], egress: [{ protocol: '-1', fromPort: -1, toPort: -1, cidr: '0.0.0.0/0' }] });
  for (let i = 0; i < bystanders; i++) {
    const n = 0x10000 + i;
    const g = d.groups[1 + (i % 30)]!;
    d.instances.push({ instanceId: iid(n), privateIp: addr(n), groupIds: [g.groupId] });
    g.memberIps.push(addr(n));
  }
  return d;
}

async function main() {
  if ((await listNetns()).includes(NS)) await ip(null, ['netns', 'del', NS]);
  await ip(null, ['netns', 'add', NS]);
  try {
    const rows: string[][] = [['group rules', 'instances', 'nft rules', 'median ms', 'min ms', 'max ms', 'render ms']];
    for (const [rules, bystanders] of [[10, 0], [100, 0], [1000, 0], [10, 300], [100, 300], [1000, 300]] as const) {
      const d = ruleSet(rules, 20, bystanders);
      const t0 = performance.now();
      const r = renderSecurityRules(d);
      const render = performance.now() - t0;
      await applySecurityRules(NS, d); // warm-up (table exists from here on)
      const ms: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        await applySecurityRules(NS, d);
        ms.push(performance.now() - t);
      }
      rows.push([String(rules), String(d.instances.length), String(r.rules), median(ms).toFixed(1), Math.min(...ms).toFixed(1), Math.max(...ms).toFixed(1), render.toFixed(1)]);
    }
    const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    console.log(`applySecurityRules latency, ${runs} runs each (render + one nft -f transaction, table replaced)`);
    for (const r of rows) console.log(r.map((x, c) => x.padStart(w[c]!)).join('  '));
  } finally {
    await ip(null, ['netns', 'del', NS]).catch(() => undefined);
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
