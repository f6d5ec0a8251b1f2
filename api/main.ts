// The API process: the EC2 Query API on EUCA_API_PORT (default 8773, as in Eucalyptus).
import { config } from '../lib/config';
import { makeLogger } from '../lib/log';
import { temporalClient } from '../lib/temporal';
import { lookupCredential } from '../db/accounts';
import { getPool, closePool } from '../db/pool';
import { createApiServer } from './server';
import { ec2Router } from './ec2/router';
import { ec2Actions } from './ec2/actions';
import { stsActions } from './sts/actions';
import { iamActions } from './iam/actions';
import { setTemporalClient } from './operations';
import { startS3 } from './s3/main';

async function main() {
  const log = makeLogger('api');
  setTemporalClient(await temporalClient());
  const server = createApiServer({
    log,
    health: async (_req, res) => {
      try { await getPool().query('SELECT 1'); res.json({ ok: true }); } catch { res.status(503).json({ ok: false }); }
    },
    ec2: ec2Router({ actions: ec2Actions, services: { sts: stsActions, iam: iamActions }, lookupCredential, log, region: process.env.EUCA_PIN_REGION ? config.region : undefined }),
  });
  // timeouts, connections per address, XML answers for what Node refuses: api/http/hardening.ts
  server.listen(config.apiPort, config.apiHost, () => log.info({ port: config.apiPort, host: config.apiHost }, 'EC2 API listening'));
  const s3 = await startS3(log.child({ component: 's3' })); // Walrus on EUCA_S3_PORT
  const stop = () => { s3.close(); log.info('stopping'); server.close(() => closePool().then(() => process.exit(0))); setTimeout(() => process.exit(0), 5000).unref(); };
  process.on('SIGTERM', stop); process.on('SIGINT', stop);
}
main().catch((err) => { console.error(err); process.exit(1); });
