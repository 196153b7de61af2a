// VMRecord from what libvirt holds (domain XML, our metadata, state, leases), and the small error
// helpers the lifecycle code shares.
import { type ErrorCode, hasCode, NotFoundError, type VMRecord, type VmrError, type VMStatus } from '../../../plugin-api/index.js';
import { DomainState } from '../rpc/index.js';
import type { Found } from './connections.js';

export function toRecord(f: Found, state: number, leases: Map<string, string[]>): VMRecord {
  const status = statusOf(state);
  const active = state !== DomainState.SHUTOFF;
  return {
    id: f.dom.uuid,
    name: f.facts.name,
    status,
    image: f.meta.image,
    imageDigest: f.meta.imageDigest,
    created: f.meta.created,
    startedAt: active ? f.meta.startedAt : undefined,
    memoryMb: f.facts.memoryMb,
    vcpuCount: f.facts.vcpuCount,
    ephemeral: f.meta.ephemeral,
    labels: f.meta.labels,
    compose: f.meta.compose,
    defaultUser: f.meta.defaultUser,
    cloudInit: f.meta.cloudInit,
    disks: f.facts.disks,
    consoleLog: f.facts.console.logFile,
    networks: f.facts.interfaces.map((i) => ({ ...i, ipAddresses: active ? (leases.get(i.mac) ?? []) : [] })),
  };
}

function statusOf(state: number): VMStatus {
  switch (state) {
    case DomainState.RUNNING:
    case DomainState.BLOCKED:
      return 'running';
    case DomainState.PAUSED:
      return 'paused';
    case DomainState.SHUTDOWN:
      return 'shutting-down';
    case DomainState.SHUTOFF:
      return 'stopped';
    case DomainState.CRASHED:
      return 'crashed';
    case DomainState.PMSUSPENDED:
      return 'suspended';
    default:
      return 'unknown';
  }
}

export function stoppedCopy(r: VMRecord): VMRecord {
  return { ...r, status: 'stopped', startedAt: undefined, networks: r.networks.map((n) => ({ ...n, ipAddresses: [] })) };
}

export function notOurs(vm: string, cause?: unknown): VmrError {
  return new NotFoundError(`no VM "${vm}" (vmregistry lists only the VMs it created)`, { field: 'vm', cause });
}

export const IGNORED = Symbol('ignored');

/** Runs fn, turning errors with one of `codes` into IGNORED (e.g. "domain is not running" on destroy). */
export async function ignoring<T>(codes: ErrorCode[], fn: () => Promise<T>): Promise<T | typeof IGNORED> {
  try {
    return await fn();
  } catch (err) {
    if (hasCode(err, ...codes)) return IGNORED;
    throw err;
  }
}

/** Retries fn while libvirtd is unreachable (UNAVAILABLE), for at most `ms`. */
export async function retryWhileUnavailable<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!hasCode(err, 'UNAVAILABLE') || Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
