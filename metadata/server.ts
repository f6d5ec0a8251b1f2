// The instance metadata service: one process per CC, run INSIDE the CC's network
// namespace (the only place guests can reach it; it has no route to the root
// namespace and needs none: it reads documents from the state dir).
//
//   ip netns exec NS node --import tsx metadata/server.ts --state-dir DIR [--port 8775] [--host 0.0.0.0]
//
// Writes <DIR>/metadata/server.pid once it listens, removes it on SIGTERM/SIGINT.
// Started and stopped by activities/network/metadata.ts (ensureMetadataService).
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_METADATA_PORT, metadataRoot } from './doc';
import { createMetadataServer } from './handler';

export const PID_FILE = 'server.pid';
export const SECRET_FILE = 'token.key';

function arg(argv: string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}`) return argv[i + 1];
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

/** The HMAC secret for IMDSv2 tokens, kept in the state dir (0600) so tokens survive restarts. */
export async function loadSecret(root: string): Promise<Buffer> {
  const f = path.join(root, SECRET_FILE);
  try {
    const b = await fs.readFile(f);
    if (b.length >= 32) return b;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const tmp = `${f}.tmp-${process.pid}`;
  await fs.writeFile(tmp, randomBytes(32), { mode: 0o600 });
  try {
    await fs.link(tmp, f); // first writer wins; a concurrent start reads the winner's key
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    await fs.rm(tmp, { force: true });
  }
  return fs.readFile(f);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const stateDir = arg(argv, 'state-dir');
  if (!stateDir) throw new Error('usage: server.ts --state-dir DIR [--port 8775] [--host 0.0.0.0]');
  const port = Number(arg(argv, 'port') ?? DEFAULT_METADATA_PORT);
  const host = arg(argv, 'host') ?? '0.0.0.0';
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad port ${port}`);
  const root = metadataRoot(stateDir);
  await fs.mkdir(root, { recursive: true, mode: 0o700 });
  const secret = await loadSecret(root);

  const server = createMetadataServer({ stateDir, secret });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => resolve());
  });
  server.on('error', (e) => console.error(`metadata: server error: ${e}`));

  const pidFile = path.join(root, PID_FILE);
  const tmp = `${pidFile}.tmp-${process.pid}`;
  await fs.writeFile(tmp, `${process.pid}\n`);
  await fs.rename(tmp, pidFile);
  console.log(`metadata: pid ${process.pid} listening on ${host}:${port}, state ${root}`);

  const stop = async (sig: string) => {
    console.log(`metadata: ${sig}, stopping`);
    try {
      if ((await fs.readFile(pidFile, 'utf8')).trim() === String(process.pid)) await fs.rm(pidFile, { force: true });
    } catch {
      /* gone */
    }
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`metadata: ${(e as Error).stack ?? e}`);
    process.exit(1);
  });
}
