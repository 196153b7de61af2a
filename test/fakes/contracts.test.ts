// The fakes must pass the same contracts as the real implementations.
import { runHypervisorContract } from '../contract/hypervisor.contract.js';
import { runNetworkContract } from '../contract/network.contract.js';
import { InMemoryHypervisor } from '../../src/testing/fakes/InMemoryHypervisor.js';
import { InMemoryNetworkManager } from '../../src/testing/fakes/InMemoryNetworkManager.js';

runHypervisorContract('in-memory', () => {
  const networks = new InMemoryNetworkManager();
  const hypervisor = new InMemoryHypervisor({ networks, delays: { run: 1, ip: 2 } });
  return { hypervisor, shutdown: () => hypervisor.shutdown() };
}, { expectIp: true });

runHypervisorContract('in-memory, no network manager', () => {
  const hypervisor = new InMemoryHypervisor();
  return { hypervisor, shutdown: () => hypervisor.shutdown() };
}, { expectIp: true });

runNetworkContract('in-memory', () => {
  const networks = new InMemoryNetworkManager({ hostBridges: ['br0'] });
  const hypervisor = new InMemoryHypervisor({ networks });
  return { networks, hypervisor, shutdown: () => networks.shutdown() };
}, { hostBridge: 'br0' });
