import { checkVmName } from '../../../plugin-api/index.js';

// The rule itself is the plugin API's (one rule for the daemon, compose and every hypervisor).
export { isUuid } from '../../../plugin-api/index.js';

export function validateVmName(name: string): void {
  checkVmName(name);
}

/** A DNS-safe hostname derived from a VM name (names may hold '_' and '.', hostnames may not). */
export function hostnameFor(name: string): string {
  return name.replace(/[_.]/g, '-').replace(/-+$/, '').toLowerCase() || 'vm';
}
