import type { ConfigSchema } from '../../core/plugins/configSchema.js';

// A type alias (not an interface) so it is assignable to the host's Record<string, unknown>.
export type LibvirtPluginConfig = {
  /** Used when the current context names no libvirt URI. */
  uri: string;
  /** `auto`: kvm when /dev/kvm is usable, else qemu (TCG). */
  domainType: 'auto' | 'kvm' | 'qemu';
  /** Overlays, cloud-init seeds and console logs; empty: the plugin's data dir. */
  stateDir: string;
  keepaliveIntervalMs: number;
  connectTimeoutMs: number;
};

export const libvirtConfigSchema: ConfigSchema = {
  type: 'object',
  properties: {
    uri: { type: 'string', default: 'qemu:///system', description: 'Default libvirt URI (a context may name another).' },
    domainType: { type: 'string', enum: ['auto', 'kvm', 'qemu'], default: 'auto', description: 'Domain type for new VMs.' },
    stateDir: { type: 'string', default: '', description: 'Where VM overlays, seeds and console logs live (empty: the plugin data dir).' },
    keepaliveIntervalMs: { type: 'integer', minimum: 0, default: 5000, description: 'Ping libvirtd after this much silence (0: off).' },
    connectTimeoutMs: { type: 'integer', minimum: 100, default: 15000, description: 'Bound on connecting to libvirtd.' },
  },
};
