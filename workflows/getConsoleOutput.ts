// GetConsoleOutput reads the serial console on the instance's node.
import { clc, ncCleanup } from './lib/hosts';

export async function getConsoleOutput(instanceId: string): Promise<string> {
  const state = await clc.instanceState(instanceId);
  if (!state?.node) return '';
  try { return await ncCleanup(state.node).readConsole(instanceId); } catch { return ''; }
}
