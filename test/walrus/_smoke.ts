import { createS3App } from '/work/main/api/s3/index';
import { lookupCredential } from '/work/main/db/accounts';
import { migrate } from '/work/main/db/migrate';
import pino from 'pino';
(async () => {
  console.log(await migrate());
  const app = createS3App({ log: pino({ level: 'warn' }), dataDir: '/tmp/walrus-smoke', lookupCredential, region: 'local-1' });
  await app.ready;
  const s = app.listen(Number(process.env.PORT ?? 18774), '127.0.0.1', () => console.log('listening'));
  s.requestTimeout = 0;
})();
