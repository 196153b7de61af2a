// What `vmr import` was given: a VMFile (undefined here, the usual path) or a bare disk, for which
// the VMFile is made, printed (stderr, so --json stays one document) and optionally saved.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Cli } from './runtime.js';
import { UsageError } from './errors.js';
import type { LocalVmFile } from './files.js';
import { isDiskImage, vmfileForDisk } from './diskVmFile.js';

export async function localImportSource(cli: Cli, file: string, opts: { vmfileOut?: string; onDaemon?: boolean; inline?: boolean; quiet?: boolean }): Promise<LocalVmFile | undefined> {
  if (!(await isDiskImage(file))) {
    if (opts.vmfileOut) throw new UsageError('--vmfile-out is for importing a bare disk; this is a VMFile already');
    return undefined;
  }
  if (opts.onDaemon || opts.inline) throw new UsageError('--on-daemon and --inline need a VMFile; import a bare disk without them');
  const out = opts.vmfileOut ? path.resolve(opts.vmfileOut) : undefined;
  const { yaml, local } = await vmfileForDisk(file, out ? path.dirname(out) : undefined);
  if (out) {
    await fs.writeFile(out, yaml, { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot write --vmfile-out "${opts.vmfileOut}": ${err.code === 'EEXIST' ? 'it exists already' : err.code ?? err.message}`);
    });
  }
  if (!opts.quiet) cli.note(`No VMFile given; using this one${out ? ` (saved to ${out})` : ''}:\n${yaml.trimEnd().split('\n').map((l) => `  ${l}`).join('\n')}`);
  return local;
}
