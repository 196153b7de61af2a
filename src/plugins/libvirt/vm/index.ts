// The libvirt plugin's VM side: the Hypervisor port on libvirt domains.
export { LibvirtHypervisor, type LibvirtHypervisorOptions } from './LibvirtHypervisor.js';
export type { DomainTypeSetting } from './domainType.js';
export { VM_XMLNS } from './vmMetadata.js';
