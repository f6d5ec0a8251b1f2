// Browser-based POST uploads (multipart/form-data with a signed policy). Filled in below.
import { S3Error } from './errors';
import type { Ctx } from './context';
export async function postObject(_ctx: Ctx): Promise<void> {
  throw new S3Error('NotImplemented', 'POST uploads are not implemented yet');
}
