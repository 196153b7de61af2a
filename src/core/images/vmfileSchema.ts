// The VMFile document (shared/docs/API.md "VMFile"): field names, limits and defaults.
import type { VMFile } from '../ports/images.js';

export const VMFILE_API_VERSION = 'vmregistry.io/v1alpha1';
export const VMFILE_KIND = 'VMFile';

/** Bounds beyond which a value is a typo, not a VM (4 TiB RAM, 1024 vCPUs, 64 TiB disk). */
export const LIMITS = {
  memoryMb: { min: 16, max: 4 * 1024 * 1024 },
  vcpuCount: { min: 1, max: 1024 },
  diskSizeGb: { min: 0, max: 64 * 1024 },
};

export const ARCHITECTURES = ['x86_64', 'aarch64', 'riscv64', 'ppc64le', 's390x', 'i686', 'armv7l'];
export const FIRMWARES = ['bios', 'uefi'];
export const DISK_FORMATS = ['qcow2', 'raw'];

export const NAME_RE = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;

/** Keys accepted in the YAML (snake_case, as in API.md) with the camelCase the wire type uses. */
export const KEYS: Record<string, Record<string, string>> = {
  '': { api_version: 'apiVersion', kind: 'kind', metadata: 'metadata', spec: 'spec' },
  metadata: { name: 'name', description: 'description', author: 'author', source: 'source', labels: 'labels' },
  spec: { disk: 'disk', resources: 'resources', os: 'os' },
  'spec.disk': { path: 'path', format: 'format' },
  'spec.resources': { memory_mb: 'memoryMb', vcpu_count: 'vcpuCount', disk_size_gb: 'diskSizeGb' },
  'spec.os': { architecture: 'architecture', firmware: 'firmware', default_user: 'defaultUser' },
};

export function emptyVMFile(): VMFile {
  return {
    apiVersion: '',
    kind: '',
    metadata: { name: '', description: '', author: '', source: '', labels: {} },
    spec: {
      disk: { path: '', format: '' },
      resources: { memoryMb: 0, vcpuCount: 0, diskSizeGb: 0 },
      os: { architecture: '', firmware: '' },
    },
  };
}
