import type { CallContext, HealthProbe } from './common.js';

export interface TransferResult {
  reference: string;
  digest: string;
  /** Bytes of all blobs in the image. */
  size: number;
  /** Bytes actually moved (blobs already present are skipped). */
  transferred: number;
}

/** Port `vmregistry.registry.v1`: moves images between the local store and a remote registry. */
export interface RegistryClient extends HealthProbe {
  /** Fetches `reference` into the local image store (port images) and prepares its base disk. */
  pull(reference: string, ctx: CallContext): Promise<TransferResult>;
  /** Pushes a local image; `destination` pushes it under another name (cross-repo mount where possible). */
  push(reference: string, destination: string, ctx: CallContext, opts?: PushOptions): Promise<TransferResult>;
}

export interface PushOptions {
  /** `vmregistry` (default): our VM image; `containerdisk`: a KubeVirt containerDisk (disk/disk.qcow2 in one tar layer). */
  format?: 'vmregistry' | 'containerdisk';
}
