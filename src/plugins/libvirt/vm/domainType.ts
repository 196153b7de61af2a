// kvm only where it really works: the CPU advertises vmx/svm and /dev/kvm opens. A nested VM can
// have /dev/kvm without the flags, and a KVM guest there spins without output (test-guest.md).
import fs from 'node:fs/promises';
import type { DomainType } from './domainXml.js';

export type DomainTypeSetting = 'auto' | 'kvm' | 'qemu';

let localKvm: Promise<boolean> | undefined;

export function hostHasKvm(): Promise<boolean> {
  localKvm ??= probeKvm();
  return localKvm;
}

async function probeKvm(): Promise<boolean> {
  try {
    const cpuinfo = await fs.readFile('/proc/cpuinfo', 'utf8');
    if (!/^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo)) return false;
    const fh = await fs.open('/dev/kvm', 'r+');
    await fh.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Picks the domain type for a connection. `driverType` is libvirt's CONNECT_GET_TYPE ("QEMU", "TEST");
 * `local` says whether the hypervisor runs on this host (so /proc and /dev are the right ones);
 * for a remote host the capabilities must list kvm for the guest arch.
 */
export async function chooseDomainType(opts: {
  setting: DomainTypeSetting;
  driverType: string;
  local: boolean;
  capabilitiesHaveKvm: () => Promise<boolean>;
}): Promise<DomainType> {
  if (opts.driverType.toUpperCase() === 'TEST') return 'test';
  if (opts.setting !== 'auto') return opts.setting;
  if (opts.local) return (await hostHasKvm()) ? 'kvm' : 'qemu';
  return (await opts.capabilitiesHaveKvm()) ? 'kvm' : 'qemu';
}
