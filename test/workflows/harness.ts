// Harness for workflow tests against a REAL Temporal dev server and a REAL
// MariaDB: the real workflows and CLC (database) activities, plus fake CC and
// NC host workers that keep their state in memory and can be told to fail.
//
// Each test file gets its own Temporal dev server and its own database
// (eucawf_<pid>_<n>, never the `eucacloud` database of the e2e tests). Each
// test gets its own zone and nodes (a "FakeCloud"), so tests never share
// capacity, round-robin cursors or task queues.
//
// The db modules read MYSQL_URL when they are first imported, so this module
// imports them dynamically, after it has pointed MYSQL_URL at the test database.
import { execFileSync } from 'node:child_process';
import type { InstanceMetadataDoc } from '../../metadata/doc';
import path from 'node:path';
import fs from 'node:fs';
import mysql from 'mysql2/promise';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, Runtime, DefaultLogger, LogLevel, makeTelemetryFilterString } from '@temporalio/worker';
import { Context } from '@temporalio/activity';
import {
  ApplicationFailure, CancelledFailure, defineSearchAttributeKey, SearchAttributeType,
} from '@temporalio/common';
import {
  Client, WithStartWorkflowOperation, WorkflowIdConflictPolicy, WorkflowIdReusePolicy,
} from '@temporalio/client';
import type { Admission, BootPlan, RunInstancesInput, ZoneNetworkPlan, StateChange } from '../../workflows/types';
import type { CcActivities } from '../../activities/network/cc';
import type { NcActivities } from '../../activities/hypervisor/nc';

export const repoRoot = path.resolve(__dirname, '..', '..');
const DEFAULT_MYSQL_URL = 'mysql://euca:euca@127.0.0.1:3307/eucacloud';

// ---------------------------------------------------------------- logging
let runtimeReady = false;
function installRuntime() {
  if (runtimeReady) return;
  runtimeReady = true;
  const level = (process.env.WF_TEST_LOG ?? 'ERROR') as LogLevel;
  try {
    Runtime.install({
      logger: new DefaultLogger(level),
      telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } },
    });
  } catch { /* already installed by someone else in this process */ }
}

// ---------------------------------------------------------------- database
interface DbTarget { baseUrl: URL; testUrl: string; dbName: string }

/** The MariaDB root socket of the server that listens on `port` (EUCA_HOME's, the test cloud's or the default cloud's). */
function rootSocket(port: number): string | undefined {
  const candidates = [
    process.env.WF_MYSQL_ROOT_SOCKET,
    process.env.EUCA_HOME && path.join(process.env.EUCA_HOME, 'mysql.sock'),
    path.join(repoRoot, '.cloud-test', 'mysql.sock'),
    path.join(repoRoot, '.cloud', 'mysql.sock'),
  ].filter(Boolean) as string[];
  return candidates.find((s) => {
    if (!fs.existsSync(s)) return false;
    try {
      const out = execFileSync('mariadb', ['--no-defaults', `--socket=${s}`, '-u', 'root', '-N', '-e', 'SELECT @@port'], { stdio: ['ignore', 'pipe', 'pipe'] });
      return Number(String(out).trim()) === port;
    } catch { return false; }
  });
}

function asRoot(socket: string, sql: string) {
  execFileSync('mariadb', ['--no-defaults', `--socket=${socket}`, '-u', 'root', '-e', sql], { stdio: ['ignore', 'pipe', 'pipe'] });
}

let dbCounter = 0;
/**
 * Creates a fresh database for this process. The `euca` user may lack
 * CREATE rights; then MariaDB's root (unix socket) creates it and grants the
 * user rights on `eucawf\_%` databases only.
 * Returns a reason string when no MariaDB answers (the test file skips).
 */
async function createTestDatabase(): Promise<DbTarget | string> {
  const baseUrl = new URL(process.env.MYSQL_URL ?? DEFAULT_MYSQL_URL);
  const dbName = `eucawf_${process.pid}_${++dbCounter}`;
  const admin = { host: baseUrl.hostname, port: Number(baseUrl.port || 3306), user: decodeURIComponent(baseUrl.username), password: decodeURIComponent(baseUrl.password) };
  let conn: mysql.Connection;
  try { conn = await mysql.createConnection({ ...admin, connectTimeout: 3000 }); }
  catch (e: any) { return `no MariaDB answers at ${baseUrl.host} (${e.code ?? e.message}); set MYSQL_URL`; }
  try {
    try { await conn.query(`CREATE DATABASE \`${dbName}\``); }
    catch (e: any) {
      if (e.code !== 'ER_DBACCESS_DENIED_ERROR' && e.code !== 'ER_ACCESS_DENIED_ERROR') throw e;
      const socket = rootSocket(admin.port);
      if (!socket) return `user ${admin.user} may not CREATE DATABASE and no MariaDB root socket was found (EUCA_HOME)`;
      for (const host of ['127.0.0.1', 'localhost']) {
        asRoot(socket, `GRANT ALL PRIVILEGES ON \`eucawf\\_%\`.* TO '${admin.user}'@'${host}'`);
      }
      await conn.end();
      conn = await mysql.createConnection({ ...admin, connectTimeout: 3000 });
      await conn.query(`CREATE DATABASE \`${dbName}\``);
    }
    await dropStaleDatabases(conn).catch(() => undefined);
  } finally { await conn.end(); }
  const testUrl = new URL(baseUrl.toString());
  testUrl.pathname = `/${dbName}`;
  return { baseUrl, testUrl: testUrl.toString(), dbName };
}

async function dropTestDatabase(t: DbTarget) {
  const port = Number(t.baseUrl.port || 3306);
  try {
    const conn = await mysql.createConnection({
      host: t.baseUrl.hostname, port, user: decodeURIComponent(t.baseUrl.username), password: decodeURIComponent(t.baseUrl.password),
    });
    try { await conn.query(`DROP DATABASE IF EXISTS \`${t.dbName}\``); } finally { await conn.end(); }
  } catch (e: any) {
    // The grant can vanish when the test cloud's MariaDB is recreated under us: try root, else just say so.
    const socket = rootSocket(port);
    try { if (!socket) throw e; asRoot(socket, `DROP DATABASE IF EXISTS \`${t.dbName}\``); }
    catch (e2: any) { console.warn(`could not drop test database ${t.dbName}: ${e2.message ?? e2}`); }
  }
}

/** Drops the databases of earlier runs that were killed before their teardown (their pid is gone). */
async function dropStaleDatabases(conn: mysql.Connection) {
  const [rows] = await conn.query<any[]>(`SHOW DATABASES LIKE 'eucawf\\_%'`);
  for (const r of rows) {
    const name = Object.values(r)[0] as string;
    const pid = Number(/^eucawf_(\d+)_/.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    let alive = true;
    try { process.kill(pid, 0); } catch (e: any) { alive = e.code === 'EPERM'; }
    if (!alive) await conn.query(`DROP DATABASE IF EXISTS \`${name}\``).catch(() => undefined);
  }
}

// ---------------------------------------------------------------- fakes
/** What a fake host step does instead of (or besides) its normal work. */
export type Fault =
  | 'fail'            // throws a non-retryable ApplicationFailure (type InjectedFault) before doing anything
  | 'failAfterApply'  // does the work, then throws (the host applied it but the answer was lost)
  | 'hang'            // never answers and never heartbeats (a frozen or killed host); ends only on local worker shutdown
  | { slowMs: number }; // heartbeats every 200 ms for slowMs, honouring cancellation, then does the work

export interface Call { host: string; step: string; args: unknown[]; at: number; outcome?: 'ok' | 'failed' | 'cancelled' }
export interface FakeVm { instanceId: string; node: string; mac: string; ip: string; status: 'running' | 'stopped' }

export class FakeCloud {
  readonly calls: Call[] = [];
  /** cc DHCP table: mac -> entry */
  readonly dhcp = new Map<string, { vni: number; ip: string; hostname: string }>();
  readonly zoneNetworks = new Set<number>();
  readonly nodeNetworks = new Map<string, Set<number>>();
  readonly vms = new Map<string, Map<string, FakeVm>>();        // node -> instanceId -> vm
  readonly cached = new Map<string, Set<string>>();             // node -> image ids
  readonly metadata = new Map<string, InstanceMetadataDoc>();   // "vni/ip" -> document
  private faults = new Map<string, Fault>();                    // "host:step" or "*:step"
  private hooks = new Map<string, () => unknown>();             // run once after a step succeeded on a host
  private workers = new Map<string, { worker: Worker; running: Promise<void> }>();

  constructor(readonly h: Harness, readonly zone: string, readonly nodes: string[], readonly vni: number) {
    for (const n of nodes) { this.vms.set(n, new Map()); this.nodeNetworks.set(n, new Set()); this.cached.set(n, new Set()); }
  }

  get ccHost() { return `cc.${this.zone}`; }
  node(i: number) { return this.nodes[i - 1]; }
  /** Injects a fault: host is a node name, 'cc', or '*' (every host). */
  fault(host: string, step: string, f: Fault | undefined) {
    const key = `${host === 'cc' ? this.ccHost : host}:${step}`;
    if (f) this.faults.set(key, f); else this.faults.delete(key);
  }
  /** Runs `fn` once, just after `step` has succeeded on `host` (after its answer is on its way). */
  afterStep(host: string, step: string, fn: () => unknown) {
    this.hooks.set(`${host === 'cc' ? this.ccHost : host}:${step}`, fn);
  }
  callsOf(step: string, host?: string) {
    return this.calls.filter((c) => c.step === step && (!host || c.host === (host === 'cc' ? this.ccHost : host)));
  }
  allVms(): FakeVm[] { return [...this.vms.values()].flatMap((m) => [...m.values()]); }
  vmOf(instanceId: string): FakeVm | undefined { return this.allVms().find((v) => v.instanceId === instanceId); }

  private async step<T>(host: string, step: string, args: unknown[], apply: () => T | Promise<T>): Promise<T> {
    const call: Call = { host, step, args, at: Date.now() };
    this.calls.push(call);
    const f = this.faults.get(`${host}:${step}`) ?? this.faults.get(`*:${step}`);
    const ctx = Context.current();
    try {
      if (f === 'fail') throw ApplicationFailure.create({ type: 'InjectedFault', message: `injected failure in ${host} ${step}`, nonRetryable: true });
      if (f === 'hang') { await ctx.cancelled; }
      if (f && typeof f === 'object') {
        const end = Date.now() + f.slowMs;
        while (Date.now() < end) { ctx.heartbeat(); await ctx.sleep(200); }
      }
      const r = await apply();
      if (f === 'failAfterApply') throw ApplicationFailure.create({ type: 'InjectedFault', message: `injected failure after ${host} ${step}`, nonRetryable: true });
      call.outcome = 'ok';
      const hook = this.hooks.get(`${host}:${step}`);
      if (hook) { this.hooks.delete(`${host}:${step}`); setTimeout(hook, 0); }
      return r;
    } catch (err) {
      call.outcome = err instanceof CancelledFailure ? 'cancelled' : 'failed';
      throw err;
    }
  }

  /** The CC's NAT (elastic and launch addresses), in memory: public IP -> private IP. */
  readonly nat = new Map<string, string>();
  natActivities() {
    const host = this.ccHost;
    return {
      applyNat: (changes: { publicIp: string; privateIp: string | null }[]) => this.step(host, 'applyNat', [changes], () => {
        for (const c of changes) { if (c.privateIp) this.nat.set(c.publicIp, c.privateIp); else this.nat.delete(c.publicIp); }
        return { applied: changes.length, skipped: 0 };
      }),
      syncNat: (entries: { publicIp: string; privateIp: string }[]) => this.step(host, 'syncNat', [entries], () => {
        this.nat.clear(); for (const e of entries) this.nat.set(e.publicIp, e.privateIp);
        return { changed: entries.length };
      }),
    };
  }

  ccActivities(): CcActivities {
    const host = this.ccHost;
    return {
      applySecurityRules: (desired) => this.step(host, 'applySecurityRules', [desired], () => ({ rules: 0, ms: 0 })),
      ensureZoneNetwork: (plan: ZoneNetworkPlan) => this.step(host, 'ensureZoneNetwork', [plan], () => { this.zoneNetworks.add(plan.vni); }),
      removeNetwork: (plan: ZoneNetworkPlan) => this.step(host, 'removeNetwork', [plan], () => { this.zoneNetworks.delete(plan.vni); }),
      addDhcpHost: (vni: number, mac: string, ip: string, hostname: string) =>
        this.step(host, 'addDhcpHost', [vni, mac, ip, hostname], () => { this.dhcp.set(mac, { vni, ip, hostname }); }),
      removeDhcpHost: (vni: number, mac: string) => this.step(host, 'removeDhcpHost', [vni, mac], () => { this.dhcp.delete(mac); }),
      putInstanceMetadata: (vni: number, doc: InstanceMetadataDoc) =>
        this.step(host, 'putInstanceMetadata', [vni, doc], () => { this.metadata.set(`${vni}/${doc.privateIp}`, doc); }),
      removeInstanceMetadata: (vni: number, ip: string) =>
        this.step(host, 'removeInstanceMetadata', [vni, ip], () => { this.metadata.delete(`${vni}/${ip}`); }),
      syncInstanceMetadata: (vni: number, docs: InstanceMetadataDoc[]) =>
        this.step(host, 'syncInstanceMetadata', [vni, docs], () => {
          for (const k of [...this.metadata.keys()]) if (k.startsWith(`${vni}/`)) this.metadata.delete(k);
          for (const d of docs) this.metadata.set(`${vni}/${d.privateIp}`, d);
          return { written: docs.length, removed: 0 };
        }),
      syncDhcpHosts: (plan: ZoneNetworkPlan, entries: { mac: string; ip: string; hostname: string }[]) =>
        this.step(host, 'syncDhcpHosts', [plan, entries], () => {
          let added = 0; let removed = 0;
          const want = new Map(entries.map((e) => [e.mac, e]));
          for (const mac of [...this.dhcp.keys()]) if (!want.has(mac)) { this.dhcp.delete(mac); removed++; }
          for (const e of entries) if (!this.dhcp.has(e.mac)) { this.dhcp.set(e.mac, { vni: plan.vni, ip: e.ip, hostname: e.hostname }); added++; }
          return { added, removed };
        }),
    };
  }

  ncActivities(node: string): NcActivities {
    const vms = this.vms.get(node)!;
    return {
      prepareNodeNetwork: (plan: ZoneNetworkPlan) => this.step(node, 'prepareNodeNetwork', [plan], () => { this.nodeNetworks.get(node)!.add(plan.vni); }),
      removeNodeNetwork: (vni: number) => this.step(node, 'removeNodeNetwork', [vni], () => { this.nodeNetworks.get(node)!.delete(vni); }),
      cacheImage: (plan: BootPlan) => this.step(node, 'cacheImage', [plan], () => {
        this.cached.get(node)!.add(plan.imageId);
        return { kernel: `/fake/${node}/cache/${plan.imageId}.kernel`, ramdisk: `/fake/${node}/cache/${plan.imageId}.ramdisk` };
      }),
      startVm: (plan: BootPlan, files: { kernel: string; ramdisk: string }) => this.step(node, 'startVm', [plan, files], () => {
        if (plan.node !== node) throw ApplicationFailure.create({ message: `plan for ${plan.node} sent to ${node}`, nonRetryable: true });
        vms.set(plan.instanceId, { instanceId: plan.instanceId, node, mac: plan.mac, ip: plan.privateIp, status: 'running' });
        return { pid: 4242 };
      }),
      waitForBoot: (instanceId: string, _timeoutMs: number) => this.step(node, 'waitForBoot', [instanceId, _timeoutMs], () => {
        const vm = vms.get(instanceId);
        if (!vm || vm.status !== 'running') throw ApplicationFailure.create({ type: 'VmGone', message: `no VM ${instanceId} on ${node}`, nonRetryable: true });
        return { ip: vm.ip };
      }),
      powerdownVm: (instanceId: string) => this.step(node, 'powerdownVm', [instanceId], () => {
        const vm = vms.get(instanceId); if (vm) vm.status = 'stopped';
      }),
      rebootVm: (instanceId: string) => this.step(node, 'rebootVm', [instanceId], () => undefined),
      destroyVm: (instanceId: string, _purge: boolean) => this.step(node, 'destroyVm', [instanceId, _purge], () => { vms.delete(instanceId); }),
      vmStatus: (instanceId: string) => this.step(node, 'vmStatus', [instanceId], () => (vms.get(instanceId)?.status ?? 'absent') as any),
      readConsole: (instanceId: string) => this.step(node, 'readConsole', [instanceId], () => `console of ${instanceId}\n`),
      reconcileVms: (expected: string[]) => this.step(node, 'reconcileVms', [expected], () => {
        const stray = [...vms.keys()].filter((id) => !expected.includes(id));
        for (const id of stray) vms.delete(id);
        return stray;
      }),
    } as NcActivities;
  }

  /** Starts the fake worker of a host ('cc' or a node name). */
  async startWorker(host: string): Promise<void> {
    const taskQueue = host === 'cc' ? this.ccHost : `nc.${host}`;
    if (this.workers.has(taskQueue)) return;
    const worker = await Worker.create({
      connection: this.h.env.nativeConnection, namespace: this.h.env.namespace ?? 'default', taskQueue,
      activities: host === 'cc' ? { ...this.ccActivities(), ...this.natActivities() } : this.ncActivities(host),
      shutdownGraceTime: '1 second', maxConcurrentActivityTaskExecutions: 20,
    });
    this.workers.set(taskQueue, { worker, running: worker.run() });
  }

  /** Stops a host's worker (its in-flight activities are cancelled locally; the server notices nothing). */
  async stopWorker(host: string): Promise<void> {
    const taskQueue = host === 'cc' ? this.ccHost : `nc.${host}`;
    const w = this.workers.get(taskQueue);
    if (!w) return;
    this.workers.delete(taskQueue);
    w.worker.shutdown();
    await w.running.catch(() => undefined);
  }

  async close(): Promise<void> {
    for (const q of [...this.workers.keys()]) await this.stopWorker(q.startsWith('cc.') ? 'cc' : q.slice(3));
  }
}

// ---------------------------------------------------------------- harness
export interface CloudOptions {
  nodes?: number;                                    // default 2
  policy?: 'GREEDY' | 'ROUNDROBIN' | 'POWERSAVE';    // default ROUNDROBIN
  rrCursor?: string | null;                          // index name like 'nc1' (mapped to this cloud's node)
  nodeVcpus?: number;                                // default 2 (two m1.small per node)
  withoutWorkers?: string[];                         // hosts ('cc', 'nc1', ...) with no worker at all
}

export const searchAttributes = ['InstanceId', 'AccountId', 'Zone', 'Operation'].map((n) => defineSearchAttributeKey(n, SearchAttributeType.KEYWORD));

export class Harness {
  env!: TestWorkflowEnvironment;
  client!: Client;
  accountId = '100000000001';
  imageId = 'emi-0000f00d';
  private db!: DbTarget;
  private clcWorker?: { worker: Worker; running: Promise<void> };
  private clouds: FakeCloud[] = [];
  private zoneCounter = 0;
  private beat?: NodeJS.Timeout;
  pool!: mysql.Pool;
  private mods!: {
    pool: typeof import('../../db/pool'); catalog: typeof import('../../db/catalog'); nodes: typeof import('../../db/nodes');
  };

  /** Returns a reason to skip when no MariaDB is reachable. */
  async setup(): Promise<string | undefined> {
    const target = await createTestDatabase();
    if (typeof target === 'string') return target;
    this.db = target;
    process.env.MYSQL_URL = target.testUrl;     // before db/pool and lib/config are first imported
    const poolMod = await import('../../db/pool');
    const migrate = await import('../../db/migrate');
    const catalog = await import('../../db/catalog');
    const nodes = await import('../../db/nodes');
    const config = await import('../../lib/config');
    if (!config.config.mysqlUrl.includes(target.dbName)) {
      throw new Error(`lib/config was imported before the harness set MYSQL_URL (${config.config.mysqlUrl}); import the harness first`);
    }
    this.mods = { pool: poolMod, catalog, nodes };
    this.pool = poolMod.getPool();
    await migrate.migrate();
    await catalog.upsertInstanceTypes(config.defaultInstanceTypes);
    await this.pool.query('INSERT INTO accounts (id, name) VALUES (?, ?)', [this.accountId, 'wf-test']);
    await this.pool.query(
      `INSERT INTO images (id, account_id, name, image_type, kernel_path, ramdisk_path, is_public) VALUES (?, ?, 'wf-test-image', 'machine', '/fake/kernel', '/fake/initrd', TRUE)`,
      [this.imageId, this.accountId]);

    installRuntime();
    this.env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: process.env.TEMPORAL_CLI_PATH ?? path.join(repoRoot, '.tools', 'temporal') },
        searchAttributes,
        log: { format: 'pretty', level: 'error' },
      },
    });
    this.client = this.env.client;
    const { createClcActivities } = await import('../../activities/clc');
    const worker = await Worker.create({
      connection: this.env.nativeConnection, namespace: this.env.namespace ?? 'default', taskQueue: 'clc',
      workflowsPath: require.resolve('../../workflows'),
      activities: createClcActivities(this.client),
      shutdownGraceTime: '2 seconds', maxCachedWorkflows: 100, maxConcurrentActivityTaskExecutions: 20,
    });
    this.clcWorker = { worker, running: worker.run() };
    // Nodes are up while their heartbeat is fresh (the real NC workers beat every few seconds).
    this.beat = setInterval(() => {
      this.pool.query('UPDATE nodes SET last_heartbeat = UTC_TIMESTAMP(3)').catch(() => undefined);
    }, 1000);
    return undefined;
  }

  async teardown(): Promise<void> {
    if (this.beat) clearInterval(this.beat);
    for (const c of this.clouds) await c.close().catch(() => undefined);
    if (this.clcWorker) { this.clcWorker.worker.shutdown(); await this.clcWorker.running.catch(() => undefined); }
    if (this.env) await this.env.teardown().catch(() => undefined);
    if (this.mods) await this.mods.pool.closePool().catch(() => undefined);
    if (this.db) await dropTestDatabase(this.db);
  }

  /** A zone of its own with `nodes` fresh nodes and (unless told otherwise) a fake worker for each host. */
  async cloud(o: CloudOptions = {}): Promise<FakeCloud> {
    const n = ++this.zoneCounter;
    const zone = `wf${n}`;
    const vni = 3000 + n;
    const nodes = Array.from({ length: o.nodes ?? 2 }, (_, i) => `${zone}-nc${i + 1}`);
    await this.mods.catalog.upsertZone({ name: zone, region: 'wf', subnet: `10.210.${n}.0/24`, vni, policy: o.policy ?? 'ROUNDROBIN', ccUnderlayIp: `10.199.${n}.2` });
    if (o.rrCursor) await this.pool.query('UPDATE zones SET rr_cursor = ? WHERE name = ?', [`${zone}-${o.rrCursor}`, zone]);
    for (let i = 0; i < nodes.length; i++) {
      await this.mods.nodes.registerNode({ name: nodes[i], zone, underlayIp: `10.199.${n}.${11 + i}`, vcpus: o.nodeVcpus ?? 2, memoryMiB: 1024, diskGiB: 20 });
    }
    const cloud = new FakeCloud(this, zone, nodes, vni);
    this.clouds.push(cloud);
    const without = new Set((o.withoutWorkers ?? []).map((h) => (h === 'cc' ? 'cc' : `${zone}-${h}`)));
    if (!without.has('cc')) await cloud.startWorker('cc');
    for (const node of nodes) if (!without.has(node)) await cloud.startWorker(node);
    return cloud;
  }

  // ---------- operations, started the way api/operations.ts starts them
  runInput(cloud: FakeCloud, o: Partial<RunInstancesInput> = {}): RunInstancesInput {
    return {
      accountId: this.accountId, requestId: `req-${Date.now()}-${Math.random()}`, paramsHash: 'h'.repeat(64),
      imageId: this.imageId, instanceType: 'm1.small', minCount: 1, maxCount: 1, zone: cloud.zone, tags: [], ...o,
    };
  }

  async runInstances(input: RunInstancesInput, workflowId = `run-${input.accountId}-${input.clientToken ?? input.requestId}`,
    reuse: WorkflowIdReusePolicy = WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY): Promise<Admission & { workflowId: string }> {
    const { runInstances, admissionUpdate } = await import('../../workflows/runInstances');
    const admission = await this.client.workflow.executeUpdateWithStart(admissionUpdate, {
      args: [input.paramsHash],
      startWorkflowOperation: new WithStartWorkflowOperation(runInstances, {
        workflowId, taskQueue: 'clc', args: [input],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING, workflowIdReusePolicy: reuse,
        searchAttributes: { AccountId: [input.accountId], Operation: ['RunInstances'] },
      } as any),
    });
    return { ...admission, workflowId };
  }

  /** Starts a Stop/Start/Terminate workflow and waits for its `accepted` update, as the API does. */
  async instanceOp(op: 'terminateInstance' | 'stopInstance' | 'startInstance', instanceId: string): Promise<{ change: StateChange; workflowId: string }> {
    const wfs = await import('../../workflows');
    const { acceptedUpdate } = await import('../../workflows/lib/accepted');
    const prefix = { terminateInstance: 'terminate', stopInstance: 'stop', startInstance: 'start' }[op];
    const workflowId = `${prefix}-${instanceId}`;
    const change = await this.client.workflow.executeUpdateWithStart(acceptedUpdate, {
      args: [],
      startWorkflowOperation: new WithStartWorkflowOperation(wfs[op] as any, {
        workflowId, taskQueue: 'clc', args: [{ instanceId, accountId: this.accountId }],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING, workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        searchAttributes: { AccountId: [this.accountId], Operation: [op], InstanceId: [instanceId] },
      } as any),
    });
    return { change, workflowId };
  }

  /** The result of a workflow, waiting for it to be started first (launches start right after admission answers). */
  async result<T = unknown>(workflowId: string, waitStartMs = 15_000): Promise<T> {
    const end = Date.now() + waitStartMs;
    for (;;) {
      try {
        const r = await this.client.workflow.getHandle(workflowId).result() as T;
        // A launch that ended terminated says why in its StateReason: show it, it's what a failing assertion needs.
        if (r === 'terminated' && workflowId.startsWith('launch-')) {
          const [[row]] = await this.pool.query<any[]>('SELECT state_reason_message FROM instances WHERE id = ?', [workflowId.slice(7)]) as any;
          if (row?.state_reason_message) console.log(`${workflowId}: ${row.state_reason_message}`);
        }
        return r;
      }
      catch (e: any) {
        if (e?.name !== 'WorkflowNotFoundError' || Date.now() > end) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  // ---------- database views
  async instance(id: string): Promise<any> {
    const [rows] = await this.pool.query<any[]>('SELECT * FROM instances WHERE id = ?', [id]);
    return rows[0];
  }
  /** What an instance holds: private and public addresses, MACs and node capacity. */
  async held(id: string): Promise<{ ips: string[]; macs: string[]; allocations: string[]; publicIps: string[] }> {
    const [ips] = await this.pool.query<any[]>('SELECT ip FROM private_ips WHERE instance_id = ?', [id]);
    const [macs] = await this.pool.query<any[]>('SELECT mac FROM macs WHERE instance_id = ?', [id]);
    const [allocs] = await this.pool.query<any[]>('SELECT node FROM node_allocations WHERE instance_id = ?', [id]);
    const [pub] = await this.pool.query<any[]>('SELECT public_ip FROM addresses WHERE instance_id = ?', [id]);
    return { ips: ips.map((r) => r.ip), macs: macs.map((r) => r.mac), allocations: allocs.map((r) => r.node), publicIps: pub.map((r) => r.public_ip) };
  }
  async zoneAllocations(zone: string): Promise<{ instance_id: string; node: string }[]> {
    const [rows] = await this.pool.query<any[]>(
      'SELECT a.instance_id, a.node FROM node_allocations a JOIN nodes n ON n.name = a.node WHERE n.zone = ? ORDER BY a.node', [zone]);
    return rows;
  }
  async reservationsWithToken(token: string): Promise<any[]> {
    const [rows] = await this.pool.query<any[]>('SELECT * FROM reservations WHERE account_id = ? AND client_token = ?', [this.accountId, token]);
    return rows;
  }
}

/** Polls until `fn` returns truthy (or throws after timeoutMs). */
export async function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 30_000, everyMs = 100): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
