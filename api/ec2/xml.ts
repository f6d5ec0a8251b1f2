/**
 * EC2 XML responses, serialized from the EC2 service model (api/model/xmlOutput.ts).
 * Handlers return plain objects keyed by the wire names (`instancesSet`) or the
 * model's member names (`Instances`); the output shape decides element names,
 * `<item>` lists, timestamps, booleans and order.
 */
import { loadService } from '../model/service';
import { renderEc2Error, renderEc2Response, type SerializeOptions } from '../model/xmlOutput';

export const DEFAULT_EC2_VERSION = '2016-11-15';
export { XML_DECL, xmlSafe } from '../model/xmlOutput';

export function renderResponse(action: string, requestId: string, body: object, version = DEFAULT_EC2_VERSION, opts?: SerializeOptions): string {
  return renderEc2Response(loadService('ec2'), action, requestId, body, version, opts);
}

export function renderError(code: string, message: string, requestId: string): string {
  return renderEc2Error(code, message, requestId);
}
