// IAM users (db/migrations/008_iam_users.sql): one row per user of an account,
// with AWS's stable unique id (AIDA...), path and creation date. Names are
// unique per account without regard to case, and looked up the same way.
//
// Until the IAM service creates users itself, a user also exists by having an
// access key: a key whose user has no row yet (written by a script or a test
// straight into access_keys) gets one the first time the user is looked up,
// dated from the user's first key.
import crypto from 'node:crypto';
import { getPool } from './pool';

export interface IamUserRow {
  accountId: string;
  userName: string;
  /** AWS's unique id of the user: AIDA + 17 characters, never reused */
  userId: string;
  path: string;
  createdAt: Date;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A new unique user id in AWS's form (AIDA + 17 base32 characters). */
export function newIamUserId(): string {
  const bytes = crypto.randomBytes(17);
  let s = 'AIDA';
  for (const b of bytes) s += BASE32[b & 31];
  return s;
}

/** The folding the unique key uses (IAM names are ASCII). */
export const foldUserName = (name: string) => name.toLowerCase();

const userOf = (r: any): IamUserRow => ({
  accountId: r.account_id, userName: r.user_name, userId: r.user_id, path: r.path, createdAt: r.created_at,
});

async function selectUser(accountId: string, userName: string): Promise<IamUserRow | undefined> {
  const [rows] = await getPool().query<any[]>(
    'SELECT account_id, user_name, user_id, path, created_at FROM iam_users WHERE account_id = ? AND name_folded = ?',
    [accountId, foldUserName(userName)]);
  return rows[0] ? userOf(rows[0]) : undefined;
}

/** A row for the user that keys of this account name, if any key does (a no-op when the row exists). */
async function adoptKeyUser(accountId: string, userName: string): Promise<void> {
  await getPool().query(
    `INSERT INTO iam_users (account_id, user_name, user_id, created_at)
       SELECT account_id, MIN(user_name), ?, MIN(created_at) FROM access_keys
       WHERE account_id = ? AND LOWER(user_name) = ? GROUP BY account_id
     ON DUPLICATE KEY UPDATE user_name = iam_users.user_name`,
    [newIamUserId(), accountId, foldUserName(userName)]);
}

/** The account's user of that name (case-insensitive), or undefined. Never another account's. */
export async function getIamUser(accountId: string, userName: string): Promise<IamUserRow | undefined> {
  if (userName === '' || userName.length > 64) return undefined;
  const found = await selectUser(accountId, userName);
  if (found) return found;
  await adoptKeyUser(accountId, userName);
  return selectUser(accountId, userName);
}

/** When the account was created (the root principal's CreateDate). */
export async function accountCreatedAt(accountId: string): Promise<Date | undefined> {
  const [rows] = await getPool().query<any[]>('SELECT created_at FROM accounts WHERE id = ?', [accountId]);
  return rows[0]?.created_at;
}
