import type { CallContext, HealthProbe } from './common.js';

export type NetworkMode = 'nat' | 'isolated' | 'routed' | 'bridge';

export interface NetworkInfo {
  name: string;
  uuid: string;
  active: boolean;
  persistent: boolean;
  autostart: boolean;
  mode: NetworkMode | string;
  bridge: string;
  /** CIDR, e.g. `192.168.122.0/24`; empty for bridge mode. */
  subnet: string;
  gateway: string;
  dhcpStart: string;
  dhcpEnd: string;
  forwardDevice: string;
  /** DNS domain. */
  domain: string;
  /** VMs of any owner whose interfaces use this network and that are running. */
  vmCount: number;
  /** Labels recorded at create (NetworkSpec.labels) in the network's metadata; compose finds its networks by them. */
  labels?: Record<string, string>;
}

export interface NetworkSpec {
  name: string;
  mode: NetworkMode;
  /** CIDR; required except in bridge mode. */
  subnet: string;
  /** Empty: first host address of the subnet. */
  gateway: string;
  dhcp: boolean;
  /** Empty: a range covering the upper half of the subnet. */
  dhcpStart: string;
  dhcpEnd: string;
  /** Host bridge to attach to (bridge mode) or the bridge libvirt creates (others; empty: generated). */
  bridgeName: string;
  forwardDevice: string;
  domain: string;
  autostart: boolean;
  activate: boolean;
  /** Labels the daemon records (e.g. compose project) in the network's metadata. */
  labels?: Record<string, string>;
}

/** Port `vmregistry.networks.v1`. */
export interface NetworkManager extends HealthProbe {
  list(ctx: CallContext): Promise<NetworkInfo[]>;
  get(name: string, ctx: CallContext): Promise<NetworkInfo>;
  create(spec: NetworkSpec, ctx: CallContext): Promise<NetworkInfo>;
  activate(name: string, ctx: CallContext): Promise<NetworkInfo>;
  /** Refuses (FAILED_PRECONDITION) while running VMs use it, unless `force`. */
  deactivate(name: string, opts: { force: boolean }, ctx: CallContext): Promise<NetworkInfo>;
  delete(name: string, opts: { force: boolean }, ctx: CallContext): Promise<void>;
}
