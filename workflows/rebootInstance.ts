// RebootInstances for one instance: an ACPI-less hard reset through QMP; the state stays running.
import { clc, nc } from './lib/hosts';
import type { InstanceOpInput } from './terminateInstance';

export async function rebootInstance({ instanceId }: InstanceOpInput): Promise<void> {
  const state = await clc.instanceState(instanceId);
  if (state?.state === 'running' && state.node) await nc(state.node).rebootVm(instanceId);
}
