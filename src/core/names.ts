// The one rule for VM and network names, applied to every request field that names one, before any
// backend sees it: a NUL or a control character reaching libvirt's XDR encoder used to come back as UNKNOWN.
import { InvalidArgumentError, quote } from './errors.js';

/** VM names become hostnames, libvirt domain names and file names: 1–63 of [A-Za-z0-9_.-], alphanumeric first. */
export const VM_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** Network names (libvirt's, and the bridge derives from them): 1–64 of [A-Za-z0-9_.-], alphanumeric first. */
export const NETWORK_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isVmName = (s: string): boolean => VM_NAME_RE.test(s);
export const isNetworkName = (s: string): boolean => NETWORK_NAME_RE.test(s);
export const isUuid = (s: string): boolean => UUID_RE.test(s);

/** A name for a new VM; returns it, or throws INVALID_ARGUMENT naming `field`. */
export function checkVmName(name: string, field = 'name'): string {
  if (!isVmName(name)) {
    throw new InvalidArgumentError(
      `VM name ${quote(name)} is invalid: use 1-63 letters, digits, "_", "." or "-", starting with a letter or digit`, { field });
  }
  return name;
}

/** A reference to an existing VM: its name or its UUID. */
export function checkVmRef(ref: string, field = 'vm'): string {
  if (!isVmName(ref) && !isUuid(ref)) {
    throw new InvalidArgumentError(
      `${field} ${quote(ref)} is neither a VM name (1-63 letters, digits, "_", "." or "-", starting with a letter or digit) nor a VM id (UUID)`,
      { field });
  }
  return ref;
}

export function checkNetworkName(name: string, field = 'name'): string {
  if (!isNetworkName(name)) {
    throw new InvalidArgumentError(
      `network name ${quote(name)} is invalid: use 1-64 letters, digits, "_", "." or "-", starting with a letter or digit`, { field });
  }
  return name;
}
