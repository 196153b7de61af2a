// The NoCloud seed: an ISO9660 volume labelled `cidata` holding user-data, meta-data and
// (optionally) network-config, as cloud-init's NoCloud datasource looks for it.
import fs from 'node:fs/promises';
import { metaDataWithDefaults, type CloudInit } from '../../../plugin-api/index.js';
import { hostnameFor } from './names.js';
import { isoImage } from './isoImage.js';

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

/** Writes the seed ISO at `isoPath` (private; VmFiles.secure gives QEMU access). */
export async function writeSeedIso(isoPath: string, files: SeedFiles, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  const entries = Object.entries(files).filter((e): e is [string, string] => e[1] !== undefined);
  await fs.writeFile(isoPath, isoImage('cidata', entries.map(([name, content]) => ({ name, data: Buffer.from(content) }))), { mode: 0o600 });
}
