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

/** A DNS host entry of a network: its DNS answers `hostnames` with `ip`. */
export interface DnsHost {
  ip: string;
  hostnames: string[];
}

/** A DHCP host reservation: the network's DHCP always hands `ip` to `mac`. */
export interface DhcpHost {
  mac: string;
  ip: string;
}

export interface NetworkHosts {
  dns: DnsHost[];
  dhcp: DhcpHost[];
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
  /** Optional: the network's DNS host entries and DHCP host reservations (as configured). */
  hosts?(name: string, ctx: CallContext): Promise<NetworkHosts>;
  /**
   * Optional: removes then adds DNS host entries / DHCP reservations, live on an active network (no
   * restart) and in its persistent config. Entries to remove that are not there are skipped. Refused
   * before any change: an address not a host address of the subnet, a name not a DNS name, a bad or
   * multicast MAC (INVALID_ARGUMENT); an added DNS entry sharing its IP or a hostname with a kept one, a
   * reservation sharing its MAC or IP (ALREADY_EXISTS); a network without a subnet (FAILED_PRECONDITION).
   */
  updateHosts?(name: string, change: { remove: NetworkHosts; add: NetworkHosts }, ctx: CallContext): Promise<NetworkHosts>;
}
