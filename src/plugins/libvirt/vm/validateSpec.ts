import { InvalidArgumentError, type Issue, type RunVMSpec } from '../../../plugin-api/index.js';
import { validateVmName } from './names.js';

// XML 1.0 cannot carry these, and labels end up in the domain XML.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;

/** Everything wrong with a spec at once, before any file or domain is created. */
export function validateRunSpec(spec: RunVMSpec): void {
  validateVmName(spec.name);
  const issues: Issue[] = [];
  const bad = (path: string, message: string) => issues.push({ path, message });
  if (!Number.isInteger(spec.memoryMb) || spec.memoryMb < 16 || spec.memoryMb > 4 * 1024 * 1024) {
    bad('memory_mb', `must be a whole number of MiB between 16 and 4194304, got ${spec.memoryMb}`);
  }
  if (!Number.isInteger(spec.vcpuCount) || spec.vcpuCount < 1 || spec.vcpuCount > 512) {
    bad('vcpu_count', `must be a whole number between 1 and 512, got ${spec.vcpuCount}`);
  }
  if (!Number.isInteger(spec.diskSizeGb) || spec.diskSizeGb < 0 || spec.diskSizeGb > 65536) {
    bad('disk_size_gb', `must be a whole number of GiB between 0 and 65536, got ${spec.diskSizeGb}`);
  }
  if (!spec.image.baseDiskPath || !spec.image.baseDiskPath.startsWith('/')) {
    bad('image.base_disk_path', `must be an absolute path, got "${spec.image.baseDiskPath}"`);
  }
  if (spec.ephemeral && !spec.start) {
    bad('ephemeral', 'an ephemeral VM exists only while it runs, so it cannot be created without starting it');
  }
  for (const [k, v] of Object.entries(spec.labels)) {
    if (!k || CONTROL.test(k)) bad(`labels`, `label key "${k}" must be non-empty and free of control characters`);
    if (CONTROL.test(v)) bad(`labels.${k}`, 'label value must be free of control characters');
  }
  for (const [k, v] of Object.entries(spec.compose ?? {})) {
    if (typeof v === 'string' && CONTROL.test(v)) bad(`compose.${k}`, 'must be free of control characters');
  }
  if (issues.length) {
    throw new InvalidArgumentError(
      `invalid VM spec for "${spec.name}": ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
      { field: issues[0].path, issues },
    );
  }
}
