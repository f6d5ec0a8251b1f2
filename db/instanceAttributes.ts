// Instance attributes (ModifyInstanceAttribute, ResetInstanceAttribute,
// Monitor/UnmonitorInstances): single-row updates of the instance, some only
// while the instance is stopped (the next StartInstances boots with them).
import { getPool } from './pool';

/** Columns an attribute change may write, and whether the instance must be stopped for it. */
const COLUMNS = {
  instance_type: { stoppedOnly: true },
  user_data: { stoppedOnly: true },
  kernel_id: { stoppedOnly: true },
  ramdisk_id: { stoppedOnly: true },
  disable_api_termination: { stoppedOnly: false },
  shutdown_behavior: { stoppedOnly: false },
} as const;
export type AttributeColumn = keyof typeof COLUMNS;

/**
 * Sets one attribute column of an instance of this account. A stopped-only
 * column is written only while the instance is `stopped` (checked in the same
 * statement, so a StartInstances racing with it either sees the new value or
 * the change is refused). Returns false when no row was changed that way.
 */
export async function setInstanceAttribute(accountId: string, instanceId: string, column: AttributeColumn, value: string | boolean | null): Promise<boolean> {
  if (!Object.hasOwn(COLUMNS, column)) throw new Error(`not an instance attribute column: ${column}`);
  const guard = COLUMNS[column].stoppedOnly ? ` AND state = 'stopped'` : ` AND state <> 'terminated'`;
  const [r] = await getPool().query<any>(
    `UPDATE instances SET ${column} = ?, updated_at = updated_at WHERE id = ? AND account_id = ?${guard}`, [value, instanceId, accountId]);
  return r.affectedRows === 1;   // mysql2 sets CLIENT_FOUND_ROWS: matched rows, even when the value is unchanged
}

/** Detailed monitoring on or off for these instances of the account. */
export async function setMonitoring(accountId: string, instanceIds: string[], enabled: boolean): Promise<void> {
  if (!instanceIds.length) return;
  await getPool().query('UPDATE instances SET monitoring = ?, updated_at = updated_at WHERE account_id = ? AND id IN (?)',
    [enabled ? 'enabled' : 'disabled', accountId, instanceIds]);
}
