import crypto from 'node:crypto';
import { getPool } from './pool';

export interface CredentialRow { accessKeyId: string; secretAccessKey: string; accountId: string; userName: string }

export function newAccountId(): string {
  return String(crypto.randomInt(100000, 999999)) + String(crypto.randomInt(100000, 999999));
}

export async function createAccount(name: string): Promise<{ accountId: string; accessKeyId: string; secretAccessKey: string }> {
  const pool = getPool();
  const [existing] = await pool.query<any[]>('SELECT id FROM accounts WHERE name = ?', [name]);
  const accountId = existing[0]?.id ?? newAccountId();
  if (!existing[0]) await pool.query('INSERT INTO accounts (id, name) VALUES (?, ?)', [accountId, name]);
  const accessKeyId = 'AKI' + crypto.randomBytes(10).toString('hex').toUpperCase().slice(0, 17);
  const secretAccessKey = crypto.randomBytes(30).toString('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, 40);
  await pool.query('INSERT INTO access_keys (access_key_id, secret_key, account_id) VALUES (?, ?, ?)', [accessKeyId, secretAccessKey, accountId]);
  return { accountId, accessKeyId, secretAccessKey };
}

export async function lookupCredential(accessKeyId: string): Promise<CredentialRow | undefined> {
  const [rows] = await getPool().query<any[]>(
    'SELECT access_key_id, secret_key, account_id, user_name FROM access_keys WHERE access_key_id = ? AND active', [accessKeyId]);
  const r = rows[0];
  return r && { accessKeyId: r.access_key_id, secretAccessKey: r.secret_key, accountId: r.account_id, userName: r.user_name };
}
