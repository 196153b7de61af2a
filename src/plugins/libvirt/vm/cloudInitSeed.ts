// The NoCloud seed: an ISO9660 volume labelled `cidata` holding user-data, meta-data and
// (optionally) network-config, as cloud-init's NoCloud datasource looks for it.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { CloudInit } from '../../../core/ports/hypervisor.js';
import { metaDataWithDefaults } from '../../../plugin-api/index.js';
import { hostnameFor } from './names.js';
import { run } from './exec.js';

export interface SeedFiles {
  'user-data': string;
  'meta-data': string;
  'network-config'?: string;
}

/** The seed's files; instance-id and local-hostname default from the VM name when meta-data lacks them. */
export function seedFiles(vmName: string, ci: CloudInit | undefined): SeedFiles {
  const defaults: Record<string, string> = { 'instance-id': vmName, 'local-hostname': hostnameFor(vmName) };
  const files: SeedFiles = {
    'user-data': ci?.userData ?? '#cloud-config\n',
    'meta-data': metaDataWithDefaults(ci?.metaData ?? '', defaults),
  };
  if (ci?.networkConfig) files['network-config'] = ci.networkConfig;
  return files;
}

/** Writes the seed ISO at `isoPath` (via a private staging dir beside it); its mode is the caller's (VmFiles.secure). */
export async function writeSeedIso(isoPath: string, files: SeedFiles, signal?: AbortSignal): Promise<void> {
  const staging = await fs.mkdtemp(path.join(path.dirname(isoPath), '.seed-'));
  try {
    for (const [name, content] of Object.entries(files)) {
      if (content !== undefined) await fs.writeFile(path.join(staging, name), content);
    }
    await run('xorriso', ['-as', 'mkisofs', '-quiet', '-V', 'cidata', '-J', '-r', '-o', isoPath, staging], signal);
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}
