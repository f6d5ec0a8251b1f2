// One bounded connection pool per process (Eucalyptus leaked 16,400).
import mysql from 'mysql2/promise';
import { config } from '../lib/config';

let pool: mysql.Pool | undefined;

export function getPool(): mysql.Pool {
  if (!pool) {
    pool = mysql.createPool({
      uri: config.mysqlUrl,
      connectionLimit: config.mysqlPoolSize,
      maxIdle: 2,
      idleTimeout: 60_000,
      waitForConnections: true,
      queueLimit: 1000,
      dateStrings: false,
      timezone: 'Z',
      multipleStatements: false,
      supportBigNumbers: true,
      // The schema's one character set and collation (db/migrations/007_utf8mb4.sql): what a
      // session compares its own strings with, beside the columns' (utf8mb4 = any script, emoji too).
      charset: 'UTF8MB4_BIN',
    });
    // Every session works in UTC so DATETIME columns mean the same everywhere.
    pool.on('connection', (conn) => { conn.query("SET time_zone = '+00:00'"); });
  }
  return pool;
}

export async function closePool(): Promise<void> {
  if (pool) { const p = pool; pool = undefined; await p.end(); }
}

export type Conn = mysql.PoolConnection;

// Runs fn in one transaction; retries a deadlock a few times, as MySQL advises, after a short
// random pause so the transactions that collided do not collide again in step.
export async function inTransaction<T>(fn: (conn: Conn) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    if (attempt > 1) await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
    const conn = await getPool().getConnection();
    try {
      await conn.beginTransaction();
      const result = await fn(conn);
      await conn.commit();
      return result;
    } catch (err: any) {
      await conn.rollback().catch(() => undefined);
      if ((err?.code === 'ER_LOCK_DEADLOCK' || err?.code === 'ER_LOCK_WAIT_TIMEOUT') && attempt < 8) continue;
      throw err;
    } finally {
      conn.release();
    }
  }
}
