// Wire ⇄ domain conversions shared by handlers. Wire objects are what proto-loader gives with
// keepCase:false, defaults:true (camelCase, every field present, int64 as strings): the `__Output` types
// generated from proto/; what handlers send back are the (permissive) input types.
import { InvalidArgumentError, type Issue } from '../../errors.js';
import { checkNetworkName, checkVmRef } from '../../names.js';
import type { ContextInfo } from '../../ports/common.js';
import type { VMRecord } from '../../ports/hypervisor.js';
import type { ImageInfo, VMFile } from '../../ports/images.js';
import type { NetworkInfo } from '../../ports/network.js';
import type * as pb from '../../../generated/proto/messages.js';

/** An untyped message, for an RPC added to proto/ before the types were regenerated (npm run build). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Wire = Record<string, any>;

export const issueToWire = (i: Issue): pb.ValidationIssue => ({ path: i.path, message: i.message, line: i.line ?? 0 });

export function contextToWire(c: ContextInfo): pb.ContextInfo {
  return { ...c };
}

export function contextFromWire(w: Partial<pb.ContextInfo__Output> | undefined | null): ContextInfo {
  const c: Partial<pb.ContextInfo__Output> = w ?? {};
  return {
    name: String(c.name ?? '').trim(),
    description: String(c.description ?? ''),
    registryUrl: String(c.registryUrl ?? '').trim(),
    authServer: String(c.authServer ?? '').trim(),
    authClientId: String(c.authClientId ?? '').trim(),
    libvirtUri: String(c.libvirtUri ?? '').trim(),
    insecureRegistry: Boolean(c.insecureRegistry),
    current: false,
    created: '',
  };
}

export function vmfileFromWire(w: Partial<pb.VMFile__Output> | undefined | null): VMFile {
  const v: Partial<pb.VMFile__Output> = w ?? {};
  return {
    apiVersion: v.apiVersion ?? '',
    kind: v.kind || 'VMFile',
    metadata: {
      name: v.metadata?.name ?? '',
      description: v.metadata?.description ?? '',
      author: v.metadata?.author ?? '',
      source: v.metadata?.source ?? '',
      labels: { ...(v.metadata?.labels ?? {}) },
    },
    spec: {
      disk: { path: v.spec?.disk?.path ?? '', format: v.spec?.disk?.format ?? '' },
      resources: {
        memoryMb: v.spec?.resources?.memoryMb ?? 0,
        vcpuCount: v.spec?.resources?.vcpuCount ?? 0,
        diskSizeGb: v.spec?.resources?.diskSizeGb ?? 0,
      },
      os: {
        architecture: v.spec?.os?.architecture ?? '', firmware: v.spec?.os?.firmware ?? '',
        ...(v.spec?.os?.defaultUser ? { defaultUser: v.spec.os.defaultUser } : {}),
      },
    },
  };
}

export const vmfileToWire = (v: VMFile): pb.VMFile => ({ ...v });

export function imageInfoToWire(i: ImageInfo): pb.ImageInfo {
  return { ...i, size: String(i.size), diskSize: String(i.diskSize) };
}

export function networkToWire(n: NetworkInfo): pb.NetworkInfo {
  return { ...n };
}

export function uptime(since: string | undefined, now = Date.now()): string {
  if (!since) return '';
  let s = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return `${d ? `${d}d` : ''}${d || h ? `${h}h` : ''}${d || h || m ? `${m}m` : ''}${s}s`;
}

export function vmToProcessWire(v: VMRecord): pb.VMProcessInfo {
  return {
    vmId: v.id, name: v.name, status: v.status, image: v.image, created: v.created,
    uptime: v.status === 'running' ? uptime(v.startedAt) : '',
    networks: v.networks.map((n) => ({ ...n })),
    memoryMb: v.memoryMb, vcpuCount: v.vcpuCount, labels: v.labels,
  };
}

export function vmToInfoWire(v: VMRecord): pb.VMInfo {
  return {
    vmId: v.id, name: v.name, status: v.status, image: v.image, created: v.created, memoryMb: v.memoryMb,
    vcpuCount: v.vcpuCount, imageDigest: v.imageDigest, ephemeral: v.ephemeral, labels: v.labels,
    composeProject: v.compose?.project ?? '', composeService: v.compose?.service ?? '',
  };
}

export function required(value: unknown, field: string, what = field): string {
  const s = typeof value === 'string' ? value.trim() : '';
  if (!s) throw new InvalidArgumentError(`${what} is required`, { field });
  return s;
}

/** A required field naming an existing VM (name or id), checked by the one name rule. */
export const vmRef = (value: unknown, field: string): string => checkVmRef(required(value, field), field);

/** A required field naming a network, checked by the one name rule. */
export const networkName = (value: unknown, field: string): string => checkNetworkName(required(value, field), field);
