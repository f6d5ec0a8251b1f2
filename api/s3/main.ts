// Standalone Walrus S3 listener (EUCA_S3_PORT, default 8774; data under EUCA_WALRUS_DIR or $EUCA_HOME/walrus).
// api/main.ts starts the same app beside the EC2 API; this entry is for running S3 alone (and the crash test).
import { config } from '../../lib/config';
import { makeLogger } from '../../lib/log';
import { lookupCredential } from '../../db/accounts';
import { closePool } from '../../db/pool';
import { migrate } from '../../db/migrate';
import { createS3App } from './index';

export async function startS3(log = makeLogger('s3'), port = config.s3Port, host = config.s3Host) {
  const app = createS3App({ log, dataDir: config.walrusDir, lookupCredential, region: config.region, domains: config.s3Domains });
  await app.ready;
  const server = app.listen(port, host);
  server.requestTimeout = 0; // multi-GiB uploads
  await new Promise<void>((r) => server.once('listening', () => r()));
  const addr = server.address();
  log.info({ port: typeof addr === 'object' && addr ? addr.port : port, host, dataDir: config.walrusDir }, 'S3 (Walrus) listening');
  return server;
}

if (require.main === module) {
  (async () => {
    if (process.env.WALRUS_MIGRATE) await migrate();
    const server = await startS3();
    const addr = server.address();
    if (process.env.WALRUS_PRINT_PORT && typeof addr === 'object' && addr) console.log(`PORT ${addr.port}`);
    const stop = () => { server.close(() => closePool().then(() => process.exit(0))); setTimeout(() => process.exit(0), 3000).unref(); };
    process.on('SIGTERM', stop); process.on('SIGINT', stop);
  })().catch((e) => { console.error(e); process.exit(1); });
}
