import type { Issue } from '../errors.js';
import type { CallContext, ContextInfo, HealthProbe } from './common.js';
import type { ResolvedImage } from './images.js';

export interface CloudInit {
  userData?: string;
  metaData?: string;
  networkConfig?: string;
}

/** What a VM's cloud-init seed holds, recorded at run; never the user-data itself (it may hold secrets). */
export interface CloudInitSummary {
  userDataKind: 'cloud-config' | 'script' | 'multipart' | 'other' | 'none';
  userDataBytes: number;
  /** SSH public keys merged in for the default user. */
  sshAuthorizedKeys: number;
  metaData: boolean;
  networkConfig: boolean;
}

/** Which compose project/service a VM belongs to; stored in the domain's metadata. */
export interface ComposeLabel {
  project: string;
  service: string;
  /** 1-based replica index. */
  index: number;
  /** Hash of the resolved service definition, to detect changes. */
  hash: string;
}

/**
 * The image of a run, resolved once by the core (a ResolvedImage). The manifest, VMFile and config are
 * optional so hypervisors and callers written against the first version of this port keep compiling.
 */
export type RunImage = Pick<ResolvedImage, 'reference' | 'digest' | 'diskSize' | 'firmware' | 'architecture'> & {
  /** Sparse raw file; the VM's qcow2 overlay is backed by it and never writes to it. */
  baseDiskPath: string;
} & Partial<Pick<ResolvedImage, 'manifest' | 'vmfile' | 'config'>>;

/** Everything the hypervisor needs to create a VM; the core resolved the image already. */
export interface RunVMSpec {
  name: string;
  image: RunImage;
  memoryMb: number;
  vcpuCount: number;
  /** Grow the overlay's virtual size to this (0: same as the base). */
  diskSizeGb: number;
  ephemeral: boolean;
  cloudInit?: CloudInit;
  /** Empty: the hypervisor's default network (`default` on libvirt). */
  networkName: string;
  /** MAC of the VM's interface (lower case, unicast); absent: the hypervisor picks one. */
  macAddress?: string;
  activateNetwork: boolean;
  labels: Record<string, string>;
  compose?: ComposeLabel;
  /** Return only once a DHCP lease is seen (bounded by the call's signal). */
  waitForIp: boolean;
  /** Start after define (false: define only). */
  start: boolean;
  /** User `vmr ssh` logs in as; recorded in the VM's metadata. */
  defaultUser?: string;
  /** Recorded in the VM's metadata for inspect. */
  cloudInitSummary?: CloudInitSummary;
}

export type VMStatus = 'running' | 'stopped' | 'paused' | 'shutting-down' | 'crashed' | 'suspended' | 'unknown';

export interface VMNetwork {
  name: string;
  mac: string;
  /** `network`, `bridge`, `user` … as libvirt names the interface type. */
  interfaceType: string;
  ipAddresses: string[];
}

export interface VMRecord {
  /** Stable id (libvirt UUID). */
  id: string;
  name: string;
  status: VMStatus;
  image: string;
  imageDigest: string;
  /** RFC 3339. */
  created: string;
  /** RFC 3339 of the last start, when running. */
  startedAt?: string;
  memoryMb: number;
  vcpuCount: number;
  ephemeral: boolean;
  labels: Record<string, string>;
  compose?: ComposeLabel;
  networks: VMNetwork[];
  /** Recorded at run (absent for VMs created before it was). */
  defaultUser?: string;
  cloudInit?: CloudInitSummary;
  /** Detail a hypervisor may add for `get` (inspect). */
  disks?: VMDisk[];
  libvirtUri?: string;
  domainType?: string;
  /** Host file the serial console is logged to. */
  consoleLog?: string;
}

export interface VMDisk {
  target: string;
  device: string;
  path: string;
  format: string;
  backingPath?: string;
}

export interface LogOptions {
  /** Keep reading new output until the signal fires or the VM stops. */
  follow: boolean;
  /** Start with only the last N lines (0: all). */
  tailLines: number;
}

/** An attached interactive console: output as it comes, input written to the guest. */
export interface ConsoleSession {
  output: AsyncIterable<Buffer>;
  write(data: Buffer): void;
  close(): void;
}

export interface StopOptions {
  force: boolean;
  /** Graceful ACPI shutdown waits this long before a hard stop (0: default, 60 s). */
  timeoutSeconds: number;
}

/** A command run inside a guest by its agent: argv as given (no shell unless argv[0] is one). */
export interface GuestExecRequest {
  argv: string[];
  /** Kill and fail with DEADLINE_EXCEEDED after this long (the call's signal bounds it too). */
  timeoutSeconds: number;
}

export interface GuestExecResult {
  exitCode: number;
  /** Captured output, truncated to a few KiB each. */
  stdout: string;
  stderr: string;
}

/** A VM lifecycle change the hypervisor saw (libvirt domain events), whoever caused it. */
export interface HypervisorEvent {
  /** VM name. */
  vm: string;
  /** e.g. started, stopped, crashed, paused, resumed, shutdown, defined, undefined. */
  action: string;
  /** VM id, when known. */
  id?: string;
  attributes?: Record<string, string>;
}

/** Port `vmregistry.hypervisor.v1`. Only VMs this daemon created are visible through it. */
export interface Hypervisor extends HealthProbe {
  run(spec: RunVMSpec, ctx: CallContext): Promise<VMRecord>;
  start(vm: string, ctx: CallContext): Promise<VMRecord>;
  stop(vm: string, opts: StopOptions, ctx: CallContext): Promise<VMRecord>;
  restart(vm: string, opts: StopOptions, ctx: CallContext): Promise<VMRecord>;
  /** Refuses (FAILED_PRECONDITION) a running VM unless `force`. Removes overlay, seed and console log. */
  delete(vm: string, opts: { force: boolean }, ctx: CallContext): Promise<void>;
  /** By name or id; NOT_FOUND when the daemon does not own such a VM. */
  get(vm: string, ctx: CallContext): Promise<VMRecord>;
  list(ctx: CallContext): Promise<VMRecord[]>;
  /** Optional: the serial console log, then (follow) new output until the signal fires or the VM stops. */
  logs?(vm: string, opts: LogOptions, ctx: CallContext): AsyncIterable<Buffer>;
  /** Optional: attach to the serial console (FAILED_PRECONDITION when the VM is not running). */
  console?(vm: string, ctx: CallContext): Promise<ConsoleSession>;
  /**
   * Optional: run a command inside the guest through its guest agent (qemu-guest-agent's guest-exec).
   * FAILED_PRECONDITION when the VM is not running or has no agent channel; UNAVAILABLE while the agent
   * does not answer (not started yet, or not installed in the image).
   */
  guestExec?(vm: string, req: GuestExecRequest, ctx: CallContext): Promise<GuestExecResult>;
  /** Resolves once the VM has an IP address (or rejects on signal). */
  waitForIp?(vm: string, ctx: CallContext): Promise<string[]>;
  /**
   * Optional: report lifecycle changes of the daemon's VMs as they happen (also those not caused by an
   * RPC: a guest shutting itself down, a crash). Returns the function that stops the reports. The core
   * forwards them to the Events stream as `vm` events with attributes.source = "hypervisor".
   */
  onEvent?(listener: (e: HypervisorEvent) => void): () => void;
  /**
   * Optional: problems with a context's hypervisor fields (e.g. a libvirt URI the daemon refuses),
   * as issues with snake_case paths (`context.libvirt_uri`). Checked at ContextCreate/ContextUpdate.
   */
  validateContext?(context: ContextInfo): Issue[];
}
