// The resolved project: what `up` converges to, after interpolation, validation and file reading.
import type { CloudInit, NetworkMode } from '../../plugin-api/index.js';

export type Condition = 'started' | 'ip_assigned';

export interface Dependency {
  service: string;
  condition: Condition;
  /** 0: the request's timeout. */
  timeoutSeconds: number;
}

export interface ResolvedNetwork {
  /** Key in the file. */
  key: string;
  /** Name on the host: `<project>-<key>`, or the key itself when external. */
  name: string;
  external: boolean;
  mode: NetworkMode;
  subnet: string;
  gateway: string;
  dhcp: boolean;
  dhcpStart: string;
  dhcpEnd: string;
  bridge: string;
  forwardDevice: string;
  domain: string;
  labels: Record<string, string>;
}

export interface ResolvedService {
  name: string;
  image: string;
  memoryMb: number;
  vcpuCount: number;
  diskSizeGb: number;
  /** Host network name ('' = the hypervisor default). */
  networkName: string;
  /** Fixed address on that network (a DHCP reservation for macAddress); single-replica services only. */
  ipv4Address?: string;
  /** MAC of the interface: mac_address, or derived from project/service when ipv4Address is set. */
  macAddress?: string;
  cloudInit?: CloudInit;
  ephemeral: boolean;
  replicas: number;
  labels: Record<string, string>;
  dependsOn: Dependency[];
  /** Hash of everything that shapes a replica (not replicas, not depends_on). */
  hash: string;
  /** `<project>-<service>-<n>`, n = 1..replicas. */
  vmNames: string[];
}

export interface Project {
  name: string;
  networks: ResolvedNetwork[];
  /** In dependency order (dependencies first; ties by name). */
  services: ResolvedService[];
}

/** Label keys the runner writes on VMs and networks, next to the VM's compose label. */
export const LABEL = {
  project: 'vmregistry.compose.project',
  service: 'vmregistry.compose.service',
  network: 'vmregistry.compose.network',
  /** `db:ip_assigned:0,cache:started:30`: lets down and restart order services without the file. */
  dependsOn: 'vmregistry.compose.depends_on',
} as const;

export function encodeDeps(deps: Dependency[]): string {
  return deps.map((d) => `${d.service}:${d.condition}:${d.timeoutSeconds}`).join(',');
}

export function decodeDeps(s: string | undefined): Dependency[] {
  if (!s) return [];
  return s.split(',').filter(Boolean).map((part) => {
    const [service = '', condition = 'started', t = '0'] = part.split(':');
    return { service, condition: condition === 'ip_assigned' ? 'ip_assigned' : 'started', timeoutSeconds: Number(t) || 0 };
  });
}
