// Fakes wrapped as plugins, so tests run the real loader, graph and host.
import { definePlugin, type PluginDefinition } from '../core/plugins/definePlugin.js';
import { authPort, hypervisorPort, imagesPort, networksPort, registryPort } from '../core/plugins/refs.js';
import { InMemoryHypervisor, type InMemoryHypervisorOptions } from './fakes/InMemoryHypervisor.js';
import { InMemoryNetworkManager } from './fakes/InMemoryNetworkManager.js';
import { InMemoryAuthProvider } from './fakes/InMemoryAuthProvider.js';
import { InMemoryRegistry } from './fakes/InMemoryRegistry.js';

export function fakeRegistryPlugin(onInit?: (r: InMemoryRegistry) => void): PluginDefinition {
  return definePlugin({
    id: 'fake-registry', apiVersion: '^1.0.0', provides: [registryPort], requires: [imagesPort],
    init: ({ deps }) => {
      const r = new InMemoryRegistry(deps.get(imagesPort));
      onInit?.(r);
      return { implementations: { [registryPort.id]: r } };
    },
  });
}

export function fakeAuthPlugin(users: Record<string, string> = {}, onInit?: (a: InMemoryAuthProvider) => void): PluginDefinition {
  return definePlugin({
    id: 'fake-auth', apiVersion: '^1.0.0', provides: [authPort],
    init: () => {
      const a = new InMemoryAuthProvider(users);
      onInit?.(a);
      return { implementations: { [authPort.id]: a } };
    },
  });
}

/** The in-memory hypervisor and network manager as one plugin (what `libvirt` provides). */
export function fakeLibvirtPlugin(opts: Omit<InMemoryHypervisorOptions, 'networks'> = {}, onInit?: (f: { hypervisor: InMemoryHypervisor; networks: InMemoryNetworkManager }) => void): PluginDefinition {
  return definePlugin({
    id: 'fake-libvirt', apiVersion: '^1.0.0', provides: [hypervisorPort, networksPort],
    init: () => {
      const networks = new InMemoryNetworkManager();
      const hypervisor = new InMemoryHypervisor({ ...opts, networks });
      onInit?.({ hypervisor, networks });
      return {
        implementations: { [hypervisorPort.id]: hypervisor, [networksPort.id]: networks },
        shutdown: () => { hypervisor.shutdown?.(); networks.shutdown?.(); },
      };
    },
  });
}
