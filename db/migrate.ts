// Applies db/migrations/NNN_*.sql in order, once each, recorded in schema_migrations.
import fs from 'node:fs';
import path from 'node:path';
import { getPool, closePool } from './pool';

export async function migrate(): Promise<string[]> {
  const pool = getPool();
  await pool.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version VARCHAR(64) NOT NULL PRIMARY KEY, applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))`);
  const [rows] = await pool.query<any[]>('SELECT version FROM schema_migrations');
  const done = new Set(rows.map((r) => r.version));
  const dir = path.join(__dirname, 'migrations');
  const applied: string[] = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()) {
    const version = file.replace(/\.sql$/, '');
    if (done.has(version)) continue;
    const sql = fs.readFileSync(path.join(dir, file), 'utf8');
    // DDL auto-commits in MySQL; statements are split on ';' at line ends.
    for (const stmt of sql.split(/;\s*$/m).map((s) => s.replace(/^\s*--.*$/gm, '').trim()).filter(Boolean)) {
      await pool.query(stmt);
    }
    await pool.query('INSERT INTO schema_migrations (version) VALUES (?)', [version]);
    applied.push(version);
  }
  return applied;
}

if (require.main === module) {
  migrate().then((a) => { console.log(a.length ? `applied ${a.join(', ')}` : 'schema up to date'); return closePool(); })
    .catch((e) => { console.error(e.message); process.exit(1); });
}
