import { InvalidArgumentError } from '../../../core/errors.js';

const VM_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function validateVmName(name: string): void {
  if (!VM_NAME.test(name)) {
    throw new InvalidArgumentError(
      `VM name "${name}" is invalid: use 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit`,
      { field: 'name' },
    );
  }
}

export function isUuid(s: string): boolean {
  return UUID.test(s);
}

/** A DNS-safe hostname derived from a VM name (names may hold '_' and '.', hostnames may not). */
export function hostnameFor(name: string): string {
  return name.replace(/[_.]/g, '-').replace(/-+$/, '').toLowerCase() || 'vm';
}
