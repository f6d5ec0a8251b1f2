// Multipart bookkeeping beside db/walrus.ts: who started an upload, and what a
// completed upload answered (CompleteMultipartUpload sent again gets the same result).
import { getPool, type Conn } from './pool';

/** How long a completed upload's answer is kept for a repeated CompleteMultipartUpload. */
export const COMPLETED_KEEP_HOURS = 24;

export async function setInitiator(uploadId: string, account: string, arn: string | null): Promise<void> {
  await getPool().query('UPDATE walrus_uploads SET initiator_account = ?, initiator_arn = ? WHERE upload_id = ?', [account, arn, uploadId]);
}

export interface CompletedUpload {
  uploadId: string; bucket: string; key: string; versionId: string; etag: string;
  checksumAlgo: string | null; checksum: string | null; checksumType: string | null; completedAt: Date;
}

/** Records the answer in the completing transaction (and forgets answers older than COMPLETED_KEEP_HOURS). */
export async function recordCompleted(c: Conn, u: Omit<CompletedUpload, 'completedAt'>): Promise<void> {
  await c.query(`DELETE FROM walrus_completed_uploads WHERE completed_at < NOW(3) - INTERVAL ${COMPLETED_KEEP_HOURS} HOUR LIMIT 100`);
  await c.query(`INSERT INTO walrus_completed_uploads (upload_id, bucket, object_key, version_id, etag, checksum_algo, checksum, checksum_type)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, [u.uploadId, u.bucket, Buffer.from(u.key, 'utf8'), u.versionId, u.etag, u.checksumAlgo, u.checksum, u.checksumType]);
}

export async function getCompleted(uploadId: string): Promise<CompletedUpload | undefined> {
  const [rows] = await getPool().query<any[]>(`SELECT * FROM walrus_completed_uploads WHERE upload_id = ? AND completed_at >= NOW(3) - INTERVAL ${COMPLETED_KEEP_HOURS} HOUR`, [uploadId]);
  const r = rows[0];
  return r && {
    uploadId: r.upload_id, bucket: r.bucket, key: Buffer.from(r.object_key).toString('utf8'), versionId: r.version_id, etag: r.etag,
    checksumAlgo: r.checksum_algo, checksum: r.checksum, checksumType: r.checksum_type, completedAt: r.completed_at,
  };
}
