// Key pairs: only the public half is kept (an OpenSSH line); the private
// key of a created pair is handed out once and never stored.
import crypto from 'node:crypto';
import { getPool, inTransaction } from './pool';
import { ec2Failure } from './errors';
import { loadTags, saveTags, type Tag } from './securityGroups';

export interface KeyPairRow {
  id: string; accountId: string; name: string; keyType: 'rsa' | 'ed25519'; fingerprint: string;
  /** OpenSSH line "<type> <base64> <name>", what the metadata service serves as public-keys/0/openssh-key */
  publicKey: string;
  createdAt: Date; tags: Tag[];
}

export const newKeyPairId = () => `key-${crypto.randomBytes(9).toString('hex').slice(0, 17)}`;

const keyOf = (r: any): KeyPairRow => ({
  id: r.id, accountId: r.account_id, name: r.name, keyType: r.key_type, fingerprint: r.fingerprint,
  publicKey: r.public_key, createdAt: r.created_at, tags: [],
});

async function withTags(rows: KeyPairRow[]): Promise<KeyPairRow[]> {
  const tags = await loadTags(rows.map((r) => r.id));
  for (const r of rows) r.tags = tags.get(r.id) ?? [];
  return rows;
}

/** The account's key pair of that name (case-sensitive), for RunInstances and the metadata service. */
export async function getKeyPair(accountId: string, name: string): Promise<KeyPairRow | undefined> {
  const [rows] = await getPool().query<any[]>('SELECT * FROM key_pairs WHERE account_id = ? AND name = ?', [accountId, name]);
  return rows[0] ? (await withTags([keyOf(rows[0])]))[0] : undefined;
}

export async function listKeyPairs(accountId: string): Promise<KeyPairRow[]> {
  const [rows] = await getPool().query<any[]>('SELECT * FROM key_pairs WHERE account_id = ? ORDER BY created_at, id', [accountId]);
  return withTags(rows.map(keyOf));
}

export interface NewKeyPair { name: string; keyType: 'rsa' | 'ed25519'; fingerprint: string; publicKey: string; tags: Tag[] }

export async function insertKeyPair(accountId: string, k: NewKeyPair): Promise<KeyPairRow> {
  const id = newKeyPairId();
  try {
    await inTransaction(async (conn) => {
      await conn.query('INSERT INTO key_pairs (id, account_id, name, key_type, fingerprint, public_key) VALUES (?, ?, ?, ?, ?, ?)',
        [id, accountId, k.name, k.keyType, k.fingerprint, k.publicKey]);
      await saveTags(conn, accountId, id, 'key-pair', k.tags);
    });
  } catch (e: any) {
    if (e?.code === 'ER_DUP_ENTRY') throw ec2Failure('InvalidKeyPair.Duplicate', `The keypair '${k.name}' already exists.`);
    throw e;
  }
  const [rows] = await getPool().query<any[]>('SELECT * FROM key_pairs WHERE id = ?', [id]);
  return (await withTags([keyOf(rows[0])]))[0];
}

/** Deletes by name or id; a key pair that is not there is no error (AWS). Returns the id deleted. */
export async function deleteKeyPair(accountId: string, by: { name?: string; id?: string }): Promise<string | undefined> {
  return inTransaction(async (conn) => {
    const [rows] = by.id !== undefined
      ? await conn.query<any[]>('SELECT id FROM key_pairs WHERE account_id = ? AND id = ? FOR UPDATE', [accountId, by.id])
      : await conn.query<any[]>('SELECT id FROM key_pairs WHERE account_id = ? AND name = ? FOR UPDATE', [accountId, by.name]);
    const id = rows[0]?.id as string | undefined;
    if (!id) return undefined;
    await conn.query('DELETE FROM key_pairs WHERE id = ?', [id]);
    await conn.query('DELETE FROM tags WHERE resource_id = ?', [id]);
    return id;
  });
}
