// Every workflow the CLC worker runs.
export { runInstances } from './runInstances';
export { launchInstance } from './launchInstance';
export { terminateInstance } from './terminateInstance';
export { stopInstance } from './stopInstance';
export { startInstance } from './startInstance';
export { rebootInstance } from './rebootInstance';
export { instanceInitiatedShutdown } from './instanceInitiatedShutdown';
export { getConsoleOutput } from './getConsoleOutput';
export { reconcileNode, reconcileZone } from './reconcile';
export { applySecurityRules } from './applySecurityRules';
export { associateAddress, disassociateAddress, releaseAddress } from './associateAddress';
export { walrusLifecycle } from './walrus/lifecycle';
