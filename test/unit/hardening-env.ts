// Imported first by http-hardening.test.ts, before lib/config reads the environment:
// the in-process S3 listener keeps its data in a temp dir and its database pool points
// at nothing, so that test needs no cloud and touches no cloud's files or database.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hardening-s3-'));
process.env.EUCA_WALRUS_DIR = dataDir;
process.env.MYSQL_URL = 'mysql://nobody:x@127.0.0.1:1/none';
