// Security-group enforcement of one zone: read the zone's desired state from the database (clc)
// and load it into the CC's nft table (cc.<zone>) in one transaction. Idempotent; safe to run
// concurrently (the CC skips a state older than the one it already loaded). Started by the API
// after Authorize*/Revoke* (which waits for it), by launch/terminate and by reconcileZone.
import { clc, cc } from './lib/hosts';

export interface ApplySecurityRulesResult {
  zone: string;
  instances: number;
  rules: number;
  /** CC-side apply time (render + nft) */
  ms: number;
  skipped?: boolean;
}

export async function applySecurityRules(zone: string): Promise<ApplySecurityRulesResult> {
  const desired = await clc.zoneRuleSet(zone);
  const r = await cc(zone).applySecurityRules(desired);
  return { zone, instances: desired.instances.length, rules: r.rules, ms: r.ms, ...(r.skipped ? { skipped: true } : {}) };
}
