// `vmr save` / `vmr load`: docker-style OCI archives moved through the socket, read and written by vmr
// with the user's permissions (the daemon never opens a path for them).
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { action, type Cli } from '../runtime.js';
import { examples } from '../help.js';
import { humanSize } from '../format.js';
import { UsageError } from '../errors.js';
import { fileSink, receiveExport, stdoutSink } from '../exportStream.js';
import { progressFor } from '../operations.js';
import { uploadFile } from '../importStream.js';
import type { ImportImageResponse } from '../messages.js';

/** Sends an archive file over LoadImage in 1 MiB chunks, honouring backpressure. */
async function upload(cli: Cli, file: string, reference: string, quiet: boolean): Promise<ImportImageResponse> {
  const st = await fs.stat(file).catch((err: NodeJS.ErrnoException) => { throw new UsageError(`cannot read "${file}": ${err.code}`); });
  if (!st.isFile() || st.size === 0) throw new UsageError(`"${file}" is not a non-empty regular file`);
  const renderer = progressFor(cli, quiet);
  try {
    const res = await uploadFile(cli, 'LoadImage', { header: { reference, totalSize: String(st.size) } }, file, {
      sent: (n) => renderer?.update({ phase: 'upload', item: path.basename(file), current: String(n), total: String(st.size), unit: 'bytes', message: '' }),
    });
    renderer?.done();
    return res;
  } catch (err) {
    renderer?.abort();
    throw err;
  }
}

/** stdin has no size: spool it to a private temp file first (LoadImage declares total_size up front). */
async function spoolStdin(cli: Cli): Promise<{ file: string; cleanup: () => Promise<void> }> {
  if (cli.io.stdin.isTTY) throw new UsageError('vmr load reads an archive: pass -i FILE or pipe one in');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vmr-load-'));
  const file = path.join(dir, 'archive.tar');
  const out = createWriteStream(file, { mode: 0o600 });
  for await (const chunk of cli.io.stdin) {
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { file, cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
}

/** `save` (top level and under `image`). */
export function save(cmd: Command): void {
  examples(cmd.description('Write an image as an OCI archive (tar) to a file or standard output')
    .argument('<reference>', 'local image')
    .option('-o, --output <file>', 'write to this file (atomically) instead of standard output')
    .option('-f, --force', 'replace an existing file')
    .option('-q, --quiet', 'no progress output')
    .action(action(async (cli, opts, reference: string) => {
      if (!opts.output && cli.io.stdout.isTTY) throw new UsageError('refusing to write an archive to a terminal; pass -o FILE or redirect standard output');
      const dest = opts.output ? path.resolve(opts.output) : undefined;
      const sink = dest ? await fileSink(dest, Boolean(opts.force)) : stdoutSink(cli.io.stdout as unknown as Writable);
      const res = await receiveExport(cli, { reference, format: 'OCI_ARCHIVE' }, sink, { quiet: opts.quiet || !dest });
      if (dest) cli.result({ ...res, outputPath: dest }, (r) => opts.quiet ? r.outputPath : `Saved ${reference} to ${r.outputPath}\nDigest: ${r.digest}\nSize: ${humanSize(r.size)}`);
    })), ['{cmd} debian-12:latest -o debian.tar', '{cmd} debian-12:latest | ssh other vmr load']);
}

/** `load` (top level and under `image`). */
export function load(cmd: Command): void {
  examples(cmd.description('Load an image from an OCI archive (what vmr save writes)')
    .option('-i, --input <file>', 'read this file instead of standard input')
    .option('-t, --tag <reference>', 'store under this reference (default: the archive\'s own name)')
    .option('-q, --quiet', 'no progress output')
    .action(action(async (cli, opts) => {
      const spooled = opts.input ? undefined : await spoolStdin(cli);
      try {
        const res = await upload(cli, opts.input ? path.resolve(opts.input) : spooled!.file, opts.tag ?? '', Boolean(opts.quiet));
        cli.result(res, (r) => opts.quiet ? r.reference : `Loaded ${r.reference}\nDigest: ${r.digest}\nSize: ${humanSize(r.size)}`);
      } finally {
        await spooled?.cleanup();
      }
    })), ['{cmd} -i debian.tar', '{cmd} -t demo/debian:12 < debian.tar']);
}
