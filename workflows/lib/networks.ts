// Tearing down a private network after its last instance, on the CC and every node.
import { clc, ccCleanup, ncCleanup } from './hosts';

export async function retireNetwork(networkId: string, zone: string): Promise<void> {
  const plan = await clc.retireNetworkIfUnused(networkId, zone);
  if (!plan) return;                               // still in use
  await ccCleanup(zone).removeNetwork(plan).catch(() => undefined);            // a gone CC drops it on reconcile
  for (const node of Object.keys(plan.nodeUnderlayIps)) {
    await ncCleanup(node).removeNodeNetwork(plan.vni).catch(() => undefined);  // likewise a gone node
  }
  await clc.deleteNetwork(networkId);
}
