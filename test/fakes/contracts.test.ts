// The fakes must pass the same contracts as the real implementations.
import { runAuthContract, runComposeContract, runHypervisorContract, runNetworkContract, runRegistryContract } from '../../src/testing/contracts/index.js';
import { InMemoryHypervisor } from '../../src/testing/fakes/InMemoryHypervisor.js';
import { InMemoryNetworkManager } from '../../src/testing/fakes/InMemoryNetworkManager.js';
import { InMemoryAuthProvider } from '../../src/testing/fakes/InMemoryAuthProvider.js';
import { InMemoryRegistry } from '../../src/testing/fakes/InMemoryRegistry.js';
import { makeTestImage, TempImageStore } from '../support/tempImageStore.js';

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

runRegistryContract('in-memory', async () => {
  const images = await TempImageStore.create();
  return {
    registry: new InMemoryRegistry(images), images,
    seed: async (ref: string) => ({ digest: (await makeTestImage(images, ref, [4096, 1000])).digest }),
    dispose: () => images.dispose(),
  };
});

runAuthContract('in-memory', () => ({ auth: new InMemoryAuthProvider({ alice: 'wonderland' }), user: { username: 'alice', password: 'wonderland' } }),
  { registers: true });
