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

export interface PortRef<T, Id extends string = string> {
  readonly id: Id;
  /** Human name used in messages ("no plugin provides the hypervisor"). */
  readonly title: string;
  /** Phantom field carrying the implementation type. */
  readonly __type?: T;
}

export function createPortRef<T, Id extends string = string>(id: Id, title: string): PortRef<T, Id> {
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)*\.v\d+$/.test(id)) {
    throw new Error(`port id "${id}" must look like "vendor.name.v1"`);
  }
  return Object.freeze({ id, title });
}

export const hypervisorPort = createPortRef<Hypervisor, 'vmregistry.hypervisor.v1'>('vmregistry.hypervisor.v1', 'hypervisor');
export const networksPort = createPortRef<NetworkManager, 'vmregistry.networks.v1'>('vmregistry.networks.v1', 'networks');
export const registryPort = createPortRef<RegistryClient, 'vmregistry.registry.v1'>('vmregistry.registry.v1', 'registry client');
export const authPort = createPortRef<AuthProvider, 'vmregistry.auth.v1'>('vmregistry.auth.v1', 'auth provider');
export const composePort = createPortRef<ComposeRunner, 'vmregistry.compose.v1'>('vmregistry.compose.v1', 'compose runner');
// Provided by the core itself; plugins may require them.
export const imagesPort = createPortRef<ImageStore, 'vmregistry.images.v1'>('vmregistry.images.v1', 'image store');
export const vmsPort = createPortRef<VmService, 'vmregistry.vms.v1'>('vmregistry.vms.v1', 'VM service');
export const statePort = createPortRef<StateStore, 'vmregistry.state.v1'>('vmregistry.state.v1', 'state store');
export const contextsPort = createPortRef<ContextReader, 'vmregistry.contexts.v1'>('vmregistry.contexts.v1', 'contexts');

/**
 * The implementation type of each port a plugin may provide, by port id: what `implementations` is
 * checked against at compile time. A plugin defining its own port adds it by declaration merging:
 * `declare module 'vmregistry/plugin-api' { interface PortTypes { 'acme.quota.v1': QuotaService } }`.
 */
export interface PortTypes {
  'vmregistry.hypervisor.v1': Hypervisor;
  'vmregistry.networks.v1': NetworkManager;
  'vmregistry.registry.v1': RegistryClient;
  'vmregistry.auth.v1': AuthProvider;
  'vmregistry.compose.v1': ComposeRunner;
}

/** Ports a config-selected plugin may provide, with the plugin that provides each by default. */
export const PLUGGABLE_PORTS = [
  { ref: hypervisorPort, suggest: 'libvirt' },
  { ref: networksPort, suggest: 'libvirt' },
  { ref: registryPort, suggest: 'registry-oci' },
  { ref: authPort, suggest: 'auth-oidc' },
  { ref: composePort, suggest: 'compose' },
] as const;

export const CORE_PORTS = [imagesPort, vmsPort, statePort, contextsPort] as const;
