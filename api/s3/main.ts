// Standalone Walrus S3 listener (EUCA_S3_PORT, default 8774; data under EUCA_WALRUS_DIR or $EUCA_HOME/walrus).
// api/main.ts starts the same app beside the EC2 API; this entry is for running S3 alone (and the crash test).
import { config } from '../../lib/config';
import { makeLogger } from '../../lib/log';
import { lookupCredential } from '../../db/accounts';
import { closePool } from '../../db/pool';
import { migrate } from '../../db/migrate';
import { createS3App } from './index';
import { deferContinue } from './continue';
import { createHardenedServer, listen, s3Limits, type HardeningOptions } from '../http/hardening';

export async function startS3(log = makeLogger('s3'), port = config.s3Port, host = config.s3Host, limits: Partial<HardeningOptions> = {}) {
  const app = createS3App({ log, dataDir: config.walrusDir, lookupCredential, region: config.region, domains: config.s3Domains });
  await app.ready;
  // No whole-request timeout (multi-GiB uploads), but headers in time, a body that keeps
  // arriving, connections per address capped, XML answers for what Node refuses (api/http/hardening.ts).
  const server = createHardenedServer(app, { ...s3Limits(), ...limits, style: 's3', onReject: limits.onReject ?? ((r) => log.info(r, 'S3 connection cut')) });
  deferContinue(server);   // Expect: 100-continue answered after authentication and authorisation (api/s3/continue.ts)
  await listen(server, port, host);
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
