import type { CallContext } from './common.js';
import type { CloudInit, ComposeLabel, VMRecord } from './hypervisor.js';

export interface RunRequest {
  image: string;
  name: string;
  memoryMb: number;
  vcpuCount: number;
  diskSizeGb: number;
  ephemeral: boolean;
  cloudInit?: CloudInit;
  networkName: string;
  /** MAC of the VM's interface (compose: mac_address, or one derived for a fixed ipv4_address). */
  macAddress?: string;
  activateNetwork: boolean;
  labels: Record<string, string>;
  compose?: ComposeLabel;
  waitForIp: boolean;
  /** SSH public keys for the image's default user, merged into the user-data (never logged). */
  sshAuthorizedKeys?: string[];
}

/**
 * Port `vmregistry.vms.v1`, provided by the core: RunVM as the RPC does it — the image resolved
 * (pulled when missing and a registry is configured), its base disk prepared, defaults from its
 * VMFile — then handed to the hypervisor. The compose runner creates VMs through this.
 */
export interface VmService {
  run(req: RunRequest, ctx: CallContext): Promise<VMRecord>;
}
