// Resource ids in Eucalyptus' short style (i-1a2b3c4d). Pure: safe in workflow code.
export type IdPrefix = 'i' | 'r' | 'emi' | 'eki' | 'eri';

/** Turns 8+ hex chars of a (deterministic, in workflows) uuid into a resource id. */
export function idFromUuid(prefix: IdPrefix, uuid: string): string {
  return `${prefix}-${uuid.replace(/-/g, '').slice(0, 8)}`;
}

export const instanceIdPattern = /^i-[0-9a-f]{8}([0-9a-f]{9})?$/;
export const imageIdPattern = /^e[mkr]i-[0-9a-f]{8}([0-9a-f]{9})?$|^ami-[0-9a-f]{8}([0-9a-f]{9})?$/;
