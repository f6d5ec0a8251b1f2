// NC activities (task queue `nc.<node>`): VMs and the image cache on one node.
// Thin, idempotent adapters over QEMU (./qemu) and the node's data plane.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import * as qemu from './qemu';
import { ensureVnet, removeVnet } from '../network/vnet';
import { listLinks } from '../network/ip';
import { keyedMutex } from '../../lib/keyedMutex';
import { ImageCache, CacheError } from './imageCache';
import { config } from '../../lib/config';
import type { BootPlan, ZoneNetworkPlan, ImageFileRef } from '../../workflows/types';

export interface NcHost { node: string; netns: string; runRoot: string; cacheDir: string; accel: qemu.Accel; cacheMiB?: number }
export interface CachedFiles { kernel: string; ramdisk: string; disk?: string; diskFormat?: 'raw' | 'qcow2' }

/** Files of the image cache a VM on this node uses (written beside its qmp socket). */
const CACHE_FILES = 'cache-files.json';

export function createNcActivities(host: NcHost) {
  const perNetwork = keyedMutex();
  const vmDir = (instanceId: string) => path.join(host.runRoot, 'vms', instanceId);
  /** Cache files of the VMs that run here: never evicted. */
  async function filesInUse(): Promise<string[]> {
    const out: string[] = [];
    for (const id of await qemu.listVms(host.runRoot).catch(() => [] as string[])) {
      try { out.push(...JSON.parse(await fsp.readFile(path.join(vmDir(id), CACHE_FILES), 'utf8'))); } catch { /* none recorded */ }
    }
    return out;
  }
  const cache = new ImageCache({
    dir: host.cacheDir, maxBytes: (host.cacheMiB ?? config.nodeCacheMiB) * 1024 * 1024, inUse: filesInUse,
    onProgress: () => { try { Context.current().heartbeat(); } catch { /* not in an activity */ } },
  });
  const initDone = cache.init().catch(() => undefined);
  // Files handed out by cacheImage stay pinned until startVm (or 15 min), so a
  // concurrent fetch can't evict them in between.
  const pinned = new Map<string, { files: string[]; timer: NodeJS.Timeout }>();
  const unpin = (instanceId: string) => {
    const p = pinned.get(instanceId);
    if (!p) return;
    clearTimeout(p.timer); cache.release(p.files); pinned.delete(instanceId);
  };

  async function cached(ref: ImageFileRef | undefined, fallbackPath: string, fallbackSha: string | null | undefined, label: string): Promise<string> {
    const src = ref && (ref.url || ref.path) ? { ...ref, label } : { path: fallbackPath, sha256: fallbackSha, label };
    try {
      return await cache.get(src);
    } catch (e) {
      if (e instanceof CacheError) throw ApplicationFailure.create({ type: e.type, message: e.message, nonRetryable: !e.retryable });
      throw e;
    }
  }

  const spec = (plan: BootPlan, files: CachedFiles): qemu.VmSpec => ({
    instanceId: plan.instanceId, netns: host.netns, runDir: vmDir(plan.instanceId), vcpus: plan.vcpus, memoryMiB: plan.memoryMiB,
    kernelPath: files.kernel, initrdPath: files.ramdisk, ...(files.disk ? { diskPath: files.disk, diskFormat: files.diskFormat } : {}), cmdline: 'console=ttyS0 panic=-1 quiet', mac: plan.mac,
    tapName: qemu.tapNameFor(plan.instanceId), bridge: `vb${plan.vni}`, accel: host.accel,
  });
  const ref = (instanceId: string) => ({ instanceId, runDir: vmDir(instanceId) });

  return {
    /** The node's side of the zone network: bridge + VXLAN to the CC and the other nodes. */
    async prepareNodeNetwork(plan: ZoneNetworkPlan): Promise<void> {
      // Hub and spoke: a node's VXLAN reaches only the CC, which routes (and filters) all guest traffic.
      await perNetwork(String(plan.vni), () => ensureVnet({ netns: host.netns, vni: plan.vni, peers: [plan.ccUnderlayIp] }));
    },
    async removeNodeNetwork(vni: number): Promise<void> {
      await perNetwork(String(vni), () => removeVnet(host.netns, vni));
    },
    /** Fetches the image's files into the node cache (Walrus URL or local path), checksums verified, one fetch per file per node. */
    async cacheImage(plan: BootPlan): Promise<CachedFiles> {
      await initDone;
      const [kernel, ramdisk, disk] = await Promise.all([
        cached(plan.kernel, plan.kernelPath, plan.kernelSha256, `kernel of ${plan.imageId}`),
        cached(plan.ramdisk, plan.ramdiskPath, plan.ramdiskSha256, `ramdisk of ${plan.imageId}`),
        plan.disk ? cached(plan.disk, '', null, `disk of ${plan.imageId}`) : Promise.resolve(undefined),
      ]);
      const files: CachedFiles = { kernel, ramdisk, ...(disk && plan.disk ? { disk, diskFormat: plan.disk.format } : {}) };
      unpin(plan.instanceId);
      const list = [kernel, ramdisk, ...(disk ? [disk] : [])];
      cache.pin(list);
      pinned.set(plan.instanceId, { files: list, timer: setTimeout(() => unpin(plan.instanceId), 15 * 60_000).unref() });
      return files;
    },
    async startVm(plan: BootPlan, files: CachedFiles): Promise<{ pid: number }> {
      await fsp.mkdir(vmDir(plan.instanceId), { recursive: true });
      await fsp.writeFile(path.join(vmDir(plan.instanceId), CACHE_FILES), JSON.stringify([files.kernel, files.ramdisk, ...(files.disk ? [files.disk] : [])]));
      try {
        return await qemu.launchVm(spec(plan, files));
      } finally {
        unpin(plan.instanceId);
      }
    },
    /** Waits for the guest's boot marker on its console; heartbeats so a dead node shows up fast. */
    async waitForBoot(instanceId: string, timeoutMs: number): Promise<{ ip: string }> {
      const ctx = Context.current();
      const m = await qemu.waitForConsoleMarker(vmDir(instanceId), /EUCA-BOOT-OK ip=(\S+)/, timeoutMs, () => {
        ctx.heartbeat();
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
      });
      return { ip: m[1] };
    },
    async powerdownVm(instanceId: string): Promise<void> { await qemu.powerdownVm(ref(instanceId)); },
    async rebootVm(instanceId: string): Promise<void> { await qemu.rebootVm(ref(instanceId)); },
    async destroyVm(instanceId: string, purge: boolean): Promise<void> {
      await qemu.destroyVm({ ...ref(instanceId), netns: host.netns, tapName: qemu.tapNameFor(instanceId) } as qemu.VmSpec, { purge });
    },
    async vmStatus(instanceId: string) { return qemu.vmStatus(ref(instanceId)); },
    async readConsole(instanceId: string): Promise<string> { return qemu.readConsole(vmDir(instanceId)); },
    /** Reconcile: destroys every VM on this node that the database does not expect here. */
    async reconcileVms(expected: string[]): Promise<string[]> {
      const running = await qemu.listVms(host.runRoot);
      const stray = running.filter((id) => !expected.includes(id));
      // A launch killed between creating the tap and starting QEMU leaves only a tap.
      const expectedTaps = new Set(expected.map(qemu.tapNameFor));
      for (const link of await listLinks(host.netns)) {
        const m = /^tap([0-9a-f]{8})$/.exec(link.ifname);
        if (m && !expectedTaps.has(link.ifname) && !stray.includes(`i-${m[1]}`)) stray.push(`i-${m[1]}`);
      }
      for (const id of stray) await qemu.destroyVm({ ...ref(id), netns: host.netns, tapName: qemu.tapNameFor(id) } as qemu.VmSpec, { purge: false });
      return stray;
    },
  };
}
export type NcActivities = ReturnType<typeof createNcActivities>;
