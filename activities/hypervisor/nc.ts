// NC activities (task queue `nc.<node>`): VMs and the image cache on one node.
// Thin, idempotent adapters over QEMU (./qemu) and the node's data plane.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import crypto from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import * as qemu from './qemu';
import { ensureVnet } from '../network/vnet';
import { listLinks } from '../network/ip';
import type { BootPlan, ZoneNetworkPlan } from '../../workflows/types';

export interface NcHost { node: string; netns: string; runRoot: string; cacheDir: string; accel: qemu.Accel }

async function sha256File(file: string): Promise<string> {
  const h = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export function createNcActivities(host: NcHost) {
  const vmDir = (instanceId: string) => path.join(host.runRoot, 'vms', instanceId);
  const inFlight = new Map<string, Promise<string>>();   // one fetch per image file per node

  /** Copies an image file into the node cache (verified by checksum), once however many launches ask. */
  function cached(src: string, sha?: string | null): Promise<string> {
    const key = sha ?? src;
    let p = inFlight.get(key);
    if (!p) {
      p = (async () => {
        const dest = path.join(host.cacheDir, sha ?? crypto.createHash('sha256').update(src).digest('hex'));
        if (fs.existsSync(dest)) return dest;
        await fsp.mkdir(host.cacheDir, { recursive: true });
        const tmp = `${dest}.tmp-${process.pid}`;
        await fsp.copyFile(src, tmp);
        if (sha && (await sha256File(tmp)) !== sha) {
          await fsp.rm(tmp, { force: true });
          throw ApplicationFailure.create({ type: 'ImageChecksumMismatch', message: `checksum mismatch for ${src}`, nonRetryable: true });
        }
        await fsp.rename(tmp, dest);
        return dest;
      })().finally(() => inFlight.delete(key));
      inFlight.set(key, p);
    }
    return p;
  }

  const spec = (plan: BootPlan, files: { kernel: string; ramdisk: string }): qemu.VmSpec => ({
    instanceId: plan.instanceId, netns: host.netns, runDir: vmDir(plan.instanceId), vcpus: plan.vcpus, memoryMiB: plan.memoryMiB,
    kernelPath: files.kernel, initrdPath: files.ramdisk, cmdline: 'console=ttyS0 panic=-1 quiet', mac: plan.mac,
    tapName: qemu.tapNameFor(plan.instanceId), bridge: `vb${plan.vni}`, accel: host.accel,
  });
  const ref = (instanceId: string) => ({ instanceId, runDir: vmDir(instanceId) });

  return {
    /** The node's side of the zone network: bridge + VXLAN to the CC and the other nodes. */
    async prepareNodeNetwork(plan: ZoneNetworkPlan): Promise<void> {
      const self = plan.nodeUnderlayIps[host.node];
      const peers = [plan.ccUnderlayIp, ...Object.values(plan.nodeUnderlayIps).filter((ip) => ip !== self)];
      await ensureVnet({ netns: host.netns, vni: plan.vni, peers });
    },
    async cacheImage(plan: BootPlan): Promise<{ kernel: string; ramdisk: string }> {
      const [kernel, ramdisk] = await Promise.all([cached(plan.kernelPath, plan.kernelSha256), cached(plan.ramdiskPath, plan.ramdiskSha256)]);
      return { kernel, ramdisk };
    },
    async startVm(plan: BootPlan, files: { kernel: string; ramdisk: string }): Promise<{ pid: number }> {
      return qemu.launchVm(spec(plan, files));
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
