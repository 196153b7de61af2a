// The resolved project: what `up` converges to, after interpolation, validation and file reading.
import type { CloudInit, NetworkMode } from '../../plugin-api/index.js';

/** Readiness a dependent waits for, weakest first (see readiness.ts for how each is checked). */
export const CONDITIONS = ['started', 'ip_assigned', 'ssh_ready', 'cloud_init_done', 'service_healthy'] as const;
export type Condition = (typeof CONDITIONS)[number];

/** A service's health test, run inside the VM through the guest agent. */
export interface Healthcheck {
  /** argv; CMD-SHELL strings become `/bin/sh -c STRING`. */
  test: string[];
  intervalSeconds: number;
  timeoutSeconds: number;
  /** Consecutive failures (after start_period) before the service is unhealthy. */
  retries: number;
  /** Failures in this window after boot do not count. */
  startPeriodSeconds: number;
}

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
  healthcheck?: Healthcheck;
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
  /** The service's healthcheck as JSON, so ps can run it without the file. */
  healthcheck: 'vmregistry.compose.healthcheck',
} as const;

export function encodeDeps(deps: Dependency[]): string {
  return deps.map((d) => `${d.service}:${d.condition}:${d.timeoutSeconds}`).join(',');
}

export function decodeDeps(s: string | undefined): Dependency[] {
  if (!s) return [];
  return s.split(',').filter(Boolean).map((part) => {
    const [service = '', condition = 'started', t = '0'] = part.split(':');
    return { service, condition: asCondition(condition), timeoutSeconds: Number(t) || 0 };
  });
}

export const asCondition = (v: unknown): Condition => (CONDITIONS as readonly unknown[]).includes(v) ? v as Condition : 'started';

export function encodeHealthcheck(h: Healthcheck | undefined): Record<string, string> {
  return h ? { [LABEL.healthcheck]: JSON.stringify(h) } : {};
}

export function decodeHealthcheck(s: string | undefined): Healthcheck | undefined {
  if (!s) return undefined;
  try {
    const h = JSON.parse(s) as Healthcheck;
    return Array.isArray(h.test) && h.test.every((x) => typeof x === 'string') ? h : undefined;
  } catch {
    return undefined;
  }
}
