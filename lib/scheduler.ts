// Node choice within a zone: Eucalyptus' three policies, capacity-aware. Pure.
export type SchedulingPolicy = 'GREEDY' | 'ROUNDROBIN' | 'POWERSAVE';

export interface NodeCapacity {
  name: string;
  freeVcpus: number; freeMemoryMiB: number; freeDiskGiB: number;
  instances: number;              // instances currently holding capacity there
}
export interface Need { vcpus: number; memoryMiB: number; diskGiB: number }

export function fits(n: NodeCapacity, need: Need): boolean {
  return n.freeVcpus >= need.vcpus && n.freeMemoryMiB >= need.memoryMiB && n.freeDiskGiB >= need.diskGiB;
}

/**
 * GREEDY: the first node (by name) that fits, filling it before the next.
 * ROUNDROBIN: the first node after `cursor` (the last one chosen) that fits.
 * POWERSAVE: the busiest node that still fits, so idle nodes stay idle (and could be powered down).
 */
export function pickNode(nodes: NodeCapacity[], need: Need, policy: SchedulingPolicy, cursor?: string | null): NodeCapacity | undefined {
  const sorted = [...nodes].sort((a, b) => a.name.localeCompare(b.name));
  const candidates = sorted.filter((n) => fits(n, need));
  if (candidates.length === 0) return undefined;
  switch (policy) {
    case 'GREEDY':
      return candidates[0];
    case 'POWERSAVE':
      return [...candidates].sort((a, b) => b.instances - a.instances || a.name.localeCompare(b.name))[0];
    case 'ROUNDROBIN':
    default: {
      if (!cursor) return candidates[0];
      return candidates.find((n) => n.name.localeCompare(cursor) > 0) ?? candidates[0];
    }
  }
}

/** Takes `need` out of the chosen node's free capacity (for placing several instances in one pass). */
export function take(n: NodeCapacity, need: Need): void {
  n.freeVcpus -= need.vcpus; n.freeMemoryMiB -= need.memoryMiB; n.freeDiskGiB -= need.diskGiB; n.instances += 1;
}
