import type { ConfigSchema } from '../../plugin-api/index.js';

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
  /** Bound on each libvirt call that names none itself (a stuck but alive libvirtd). */
  callTimeoutMs: number;
  /** URI query parameters a context's libvirt URI may use beyond `readonly` (see README: URI policy). */
  contextUriParams: string[];
};

export const libvirtConfigSchema: ConfigSchema = {
  type: 'object',
  properties: {
    uri: { type: 'string', default: 'qemu:///system', description: 'Default libvirt URI (a context may name another).' },
    domainType: { type: 'string', enum: ['auto', 'kvm', 'qemu'], default: 'auto', description: 'Domain type for new VMs.' },
    stateDir: { type: 'string', default: '', description: 'Where VM overlays, seeds and console logs live (empty: the plugin data dir).' },
    keepaliveIntervalMs: { type: 'integer', minimum: 0, default: 5000, description: 'Ping libvirtd after this much silence (0: off).' },
    connectTimeoutMs: { type: 'integer', minimum: 100, default: 15000, description: 'Bound on connecting to libvirtd.' },
    callTimeoutMs: {
      type: 'integer', minimum: 1000, maximum: 3_600_000, default: 120_000,
      description: 'Bound on each libvirt call (DEADLINE_EXCEEDED after it; the RPC deadline still applies when shorter).',
    },
    contextUriParams: {
      type: 'array', items: { type: 'string' }, default: [],
      description: 'Query parameters contexts may put in their libvirt URI (e.g. keyfile); none but readonly by default.',
    },
  },
};
