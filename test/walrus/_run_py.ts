import { createAccount } from '../../db/accounts';
import { migrate } from '../../db/migrate';
import { closePool } from '../../db/pool';
import { createS3App } from '../../api/s3/index';
import { lookupCredential } from '../../db/accounts';
import pino from 'pino';
import { spawnSync } from 'node:child_process';
(async () => {
  await migrate();
  const a = await createAccount('walrus-a'), b = await createAccount('walrus-b');
  const app = createS3App({ log: pino({ level: 'warn' }), dataDir: '/tmp/walrus-py', lookupCredential, region: 'local-1' });
  await app.ready;
  const srv = app.listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  const port = (srv.address() as any).port;
  const env = { ...process.env, ENDPOINT: `http://127.0.0.1:${port}`, REGION: 'local-1', AK1: a.accessKeyId, SK1: a.secretAccessKey, AK2: b.accessKeyId, SK2: b.secretAccessKey, TAG: Date.now().toString(36) };
  const r = await new Promise<number>((res) => { const c = require('child_process').spawn('python3', ['test/walrus/boto3_suite.py'], { env, stdio: 'inherit' }); c.on('exit', res); });
  srv.close(); await closePool(); process.exit(r);
})();
