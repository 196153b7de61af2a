// Port refs: typed string ids. Keyed by id (never object identity) so that a plugin carrying its own
// copy of the plugin API still meets the host's ports.
import type { AuthProvider } from '../ports/auth.js';
import type { ComposeRunner } from '../ports/compose.js';
import type { Hypervisor } from '../ports/hypervisor.js';
import type { ImageStore } from '../ports/images.js';
import type { NetworkManager } from '../ports/network.js';
import type { RegistryClient } from '../ports/registry.js';
import type { ContextReader, StateStore } from '../ports/state.js';
import type { VmService } from '../ports/vms.js';

export interface PortRef<T> {
  readonly id: string;
  /** Human name used in messages ("no plugin provides the hypervisor"). */
  readonly title: string;
  /** Phantom field carrying the implementation type. */
  readonly __type?: T;
}

export function createPortRef<T>(id: string, title: string): PortRef<T> {
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)*\.v\d+$/.test(id)) {
    throw new Error(`port id "${id}" must look like "vendor.name.v1"`);
  }
  return Object.freeze({ id, title });
}

export const hypervisorPort = createPortRef<Hypervisor>('vmregistry.hypervisor.v1', 'hypervisor');
export const networksPort = createPortRef<NetworkManager>('vmregistry.networks.v1', 'networks');
export const registryPort = createPortRef<RegistryClient>('vmregistry.registry.v1', 'registry client');
export const authPort = createPortRef<AuthProvider>('vmregistry.auth.v1', 'auth provider');
export const composePort = createPortRef<ComposeRunner>('vmregistry.compose.v1', 'compose runner');
// Provided by the core itself; plugins may require them.
export const imagesPort = createPortRef<ImageStore>('vmregistry.images.v1', 'image store');
export const vmsPort = createPortRef<VmService>('vmregistry.vms.v1', 'VM service');
export const statePort = createPortRef<StateStore>('vmregistry.state.v1', 'state store');
export const contextsPort = createPortRef<ContextReader>('vmregistry.contexts.v1', 'contexts');

/** Ports a config-selected plugin may provide, with the plugin that provides each by default. */
export const PLUGGABLE_PORTS = [
  { ref: hypervisorPort, suggest: 'libvirt' },
  { ref: networksPort, suggest: 'libvirt' },
  { ref: registryPort, suggest: 'registry-oci' },
  { ref: authPort, suggest: 'auth-oidc' },
  { ref: composePort, suggest: 'compose' },
] as const;

export const CORE_PORTS = [imagesPort, vmsPort, statePort, contextsPort] as const;
