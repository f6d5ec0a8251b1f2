// Minimal QMP (QEMU Machine Protocol) client over a unix socket.
// One connection per use: QEMU's QMP socket serves one client at a time, so
// callers should connect, run their commands and close.
import * as net from 'node:net';

export class QmpError extends Error {
  constructor(
    message: string,
    public readonly errorClass?: string,
  ) {
    super(message);
    this.name = 'QmpError';
  }
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class QmpClient {
  private sock: net.Socket | null = null;
  private buf = '';
  private nextId = 1;
  private pending = new Map<string, Pending>();
  private greeting: { resolve: (v: unknown) => void; reject: (e: Error) => void } | null = null;
  private closedErr: Error | null = null;

  private constructor(private readonly path: string) {}

  /** Connect, read the greeting and negotiate capabilities. */
  static async connect(path: string, timeoutMs = 5000): Promise<QmpClient> {
    const c = new QmpClient(path);
    await c.open(timeoutMs);
    try {
      await c.execute('qmp_capabilities', undefined, timeoutMs);
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  private open(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const sock = net.connect({ path: this.path });
      this.sock = sock;
      const timer = setTimeout(() => {
        const err = new QmpError(`QMP greeting timeout on ${this.path}`);
        this.fail(err);
        reject(err);
      }, timeoutMs);
      this.greeting = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => this.onData(d));
      sock.on('error', (e) => this.fail(e));
      sock.on('close', () => this.fail(new QmpError(`QMP connection closed (${this.path})`)));
    });
  }

  private onData(d: string): void {
    this.buf += d;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (!line) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if ('QMP' in msg) {
        const g = this.greeting;
        this.greeting = null;
        g?.resolve(msg);
        continue;
      }
      if ('event' in msg) continue; // events are ignored
      const id = msg.id === undefined ? undefined : String(msg.id);
      const p = id !== undefined ? this.pending.get(id) : undefined;
      if (!p || id === undefined) continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      if ('error' in msg) {
        const e = msg.error as { class?: string; desc?: string };
        p.reject(new QmpError(e?.desc ?? 'QMP error', e?.class));
      } else {
        p.resolve(msg.return);
      }
    }
  }

  private fail(e: Error): void {
    if (!this.closedErr) this.closedErr = e;
    const g = this.greeting;
    this.greeting = null;
    g?.reject(e);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(e);
      this.pending.delete(id);
    }
    this.sock?.destroy();
  }

  /** Run one command; resolves with its `return` value. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 5000): Promise<T> {
    if (this.closedErr || !this.sock) return Promise.reject(this.closedErr ?? new QmpError('QMP not connected'));
    const id = String(this.nextId++);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpError(`QMP command ${command} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      const msg: Record<string, unknown> = { execute: command, id };
      if (args) msg.arguments = args;
      this.sock!.write(JSON.stringify(msg) + '\n');
    });
  }

  close(): void {
    this.fail(new QmpError('QMP client closed'));
  }
}

/** Connect, run one command, close. */
export async function qmpExecute<T = unknown>(
  path: string,
  command: string,
  args?: Record<string, unknown>,
  timeoutMs = 5000,
): Promise<T> {
  const c = await QmpClient.connect(path, timeoutMs);
  try {
    return await c.execute<T>(command, args, timeoutMs);
  } finally {
    c.close();
  }
}
