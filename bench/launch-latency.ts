// Launch latency, broken down, over N launches one after another (not a test):
//   API answer            RunInstances request -> response (instance pending)
//   workflow -> QEMU      launch workflow started -> NC's startVm done
//   QEMU -> running       startVm done -> guest's boot marker seen -> running
// beside a raw QEMU boot of the same image (same accelerator, user-mode
// network with restrict=on so the guest reaches nothing) to the same marker.
// Usage: source .cloud/eucarc; npm run bench:launch [-- --runs 10]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EC2Client, RunInstancesCommand, TerminateInstancesCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { Connection, Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { config, paths } from '../lib/config';
import { resolveAccel } from '../activities/hypervisor/qemu';
import { median, sleep } from './stats';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 10;
const env = process.env;
const ms = (t: any) => Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);

async function historyTimes(client: Client, workflowId: string) {
  const h = await client.workflow.getHandle(workflowId).fetchHistory();
  const events = h.events ?? [];
  const T = temporal.api.enums.v1.EventType;
  const started = ms(events[0].eventTime);
  const scheduledType = new Map<string, string>();
  const done: Record<string, number> = {};
  for (const e of events) {
    if (e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) scheduledType.set(String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType!.name!);
    if (e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) {
      const name = scheduledType.get(String(e.activityTaskCompletedEventAttributes!.scheduledEventId))!;
      done[name] = ms(e.eventTime);
    }
  }
  return { started, qemuStarted: done.startVm, booted: done.waitForBoot, running: done.transition ?? ms(events.at(-1)!.eventTime) };
}

async function rawBoot(kernel: string, initrd: string, accel: string): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rawboot-'));
  const consoleFile = path.join(dir, 'console.log');
  const t0 = Date.now();
  const q = spawn('qemu-system-x86_64', ['-machine', 'q35', '-accel', accel, '-cpu', accel === 'kvm' ? 'host' : 'max', '-smp', '1', '-m', '192',
    '-nodefaults', '-no-user-config', '-display', 'none', '-kernel', kernel, '-initrd', initrd, '-append', 'console=ttyS0 panic=-1 quiet',
    '-chardev', `file,id=c0,path=${consoleFile}`, '-serial', 'chardev:c0',
    '-netdev', 'user,id=n0,restrict=on', '-device', 'virtio-net-pci,netdev=n0'], { stdio: 'ignore' });
  try {
    for (;;) {
      if (fs.existsSync(consoleFile) && fs.readFileSync(consoleFile, 'utf8').includes('EUCA-BOOT-OK')) return Date.now() - t0;
      if (Date.now() - t0 > 120_000) throw new Error('raw boot timed out');
      await sleep(50);
    }
  } finally { q.kill('SIGKILL'); fs.rmSync(dir, { recursive: true, force: true }); }
}

async function main() {
  const ec2 = new EC2Client({ endpoint: env.EC2_URL, region: env.AWS_DEFAULT_REGION, maxAttempts: 1 });
  const client = new Client({ connection: await Connection.connect({ address: config.temporalAddress }) });
  const imageId = env.EUCA_TEST_IMAGE!;
  const rows: { api: number; toQemu: number; qemuToRunning: number; total: number }[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = Date.now();
    const r = await ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: 'm1.small', MinCount: 1, MaxCount: 1 }));
    const api = Date.now() - t0;
    const id = r.Instances![0].InstanceId!;
    for (;;) {
      const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
      const s = d.Reservations![0].Instances![0].State!.Name;
      if (s === 'running') break;
      if (s === 'terminated') throw new Error(`${id} terminated during the benchmark`);
      await sleep(200);
    }
    const h = await historyTimes(client, `launch-${id}`);
    rows.push({ api, toQemu: h.qemuStarted - h.started, qemuToRunning: h.running - h.qemuStarted, total: h.running - t0 });
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    console.log(`run ${i + 1}: api ${api} ms, workflow->qemu ${rows.at(-1)!.toQemu} ms, qemu->running ${rows.at(-1)!.qemuToRunning} ms`);
    await sleep(3000);   // let the terminate finish before the next launch
  }
  const img = path.join(paths.imagesDir(), 'test-guest');
  const accel = await resolveAccel(config.accel);
  const raw: number[] = [];
  for (let i = 0; i < Math.min(runs, 5); i++) raw.push(await rawBoot(path.join(img, 'vmlinuz'), path.join(img, 'initrd.img'), accel));
  const col = (k: keyof typeof rows[0]) => median(rows.map((r) => r[k]));
  console.log(`\nlaunch latency over ${runs} launches (medians, ms; accel ${accel})`);
  console.log(`  API answer (RunInstances -> pending)     ${col('api')}`);
  console.log(`  launch workflow start -> QEMU started   ${col('toQemu')}`);
  console.log(`  QEMU started -> running (boot marker)    ${col('qemuToRunning')}`);
  console.log(`  request -> running                       ${col('total')}`);
  console.log(`  raw QEMU boot of the same image          ${median(raw)}  (${raw.length} runs)`);
  console.log(`  overhead ratio (request->running / raw)  ${(col('total') / median(raw)).toFixed(2)}`);
  await client.connection.close();
}
main().catch((e) => { console.error(e); process.exit(1); });
