// Image commands: docker's top-level verbs (pull, push, images, rmi, tag, inspect) plus import, export,
// validate and gc, and the same set under `vmr image …`.
import path from 'node:path';
import { Command, Option } from 'commander';
import { action } from '../runtime.js';
import { examples } from '../help.js';
import { humanSize, parseOrRaw, relativeTime, shortDigest, table } from '../format.js';
import { readText, readVmFile } from '../files.js';
import { imageOperation } from '../operations.js';
import { streamImport } from '../importStream.js';
import { ServerError, UsageError } from '../errors.js';
import { fileSink, layoutSink, receiveExport } from '../exportStream.js';
import { load, save } from './archive.js';
import { defineCommands, type CommandTable } from '../commandTable.js';
import { eachTarget } from '../batch.js';
import { inspectCommand } from './inspect.js';
import { localImportSource } from '../importSource.js';
import type {
  ExportFormat, ExportImageResponse, ImageInfo, ImportImageResponse, ValidationIssue,
} from '../messages.js';

const INLINE_LIMIT = 64 * 1024 * 1024;

function pull(cmd: Command): Command {
  cmd.description('Download an image from a registry')
    .argument('<reference>', 'image reference: [registry/]repository[:tag|@digest]')
    .option('-q, --quiet', 'no progress output')
    .action(action(async (cli, opts, reference: string) => {
      const res = await imageOperation(cli, 'PullImageWithProgress', { reference }, 'pull',
        { quiet: opts.quiet, fallback: 'PullImage' });
      cli.result(res, (r) => opts.quiet ? r.reference : [
        `Digest: ${r.digest}`,
        `Status: ${r.message || `Pulled ${r.reference}`} (${humanSize(r.size)}, ${humanSize(r.transferred)} transferred)`,
        r.reference,
      ].join('\n'));
    }));
  return examples(cmd, ['{cmd} localhost:5000/demo/debian:12', '{cmd} -q registry.example/vm/ubuntu@sha256:…']);
}

function push(cmd: Command): Command {
  cmd.description('Upload an image to a registry')
    .argument('<reference>', 'local image')
    .argument('[destination]', 'push under this name instead')
    .addOption(new Option('--format <format>', 'vmregistry: our VM image; containerdisk: a KubeVirt containerDisk (disk/disk.qcow2 in a container image)')
      .choices(['vmregistry', 'containerdisk']).default('vmregistry'))
    .option('-q, --quiet', 'no progress output')
    .action(action(async (cli, opts, reference: string, destination?: string) => {
      // Field 3 is left out for the default, so a daemon from before it gets the request it knows.
      const format = opts.format === 'containerdisk' ? { format: 'CONTAINERDISK' as const } : {};
      const res = await imageOperation(cli, 'PushImageWithProgress',
        { reference, destination: destination ?? '', ...format }, 'push', { quiet: opts.quiet, fallback: 'PushImage' });
      cli.result(res, (r) => opts.quiet ? r.reference : [
        `${r.reference}: digest: ${r.digest} size: ${humanSize(r.size)} (${humanSize(r.transferred)} uploaded)`,
        r.message,
      ].filter(Boolean).join('\n'));
    }));
  return examples(cmd, ['{cmd} localhost:5000/demo/debian:12', '{cmd} debian-12:latest localhost:5000/team/debian:12',
    '{cmd} --format containerdisk debian-12:latest registry.example/kubevirt/debian:12']);
}

function importCmd(cmd: Command): Command {
  cmd.description('Import a VMFile and its disk, or a bare disk (a VMFile is made for it), as a local image')
    .argument('<vmfile>', 'path of the VMFile (YAML; its spec.disk.path is relative to it), or of a qcow2/raw disk')
    .option('--vmfile-out <file>', 'with a bare disk: also save the VMFile made for it, to edit and import again')
    .option('-t, --tag <reference>', 'store under this reference (default <metadata.name>:latest)')
    .option('--on-daemon', 'the daemon reads the VMFile and disk from its own filesystem (no upload; only under its paths.import)')
    .option('--allow-outside-paths', 'with --on-daemon: allow spec.disk.path outside the VMFile\'s directory')
    .option('--verify', 'hash the disk first and have the daemon check the sha256 (reads the disk twice)')
    .option('--inline', 'send the disk in one message (ImportImage; disks under 64 MiB)')
    .option('-q, --quiet', 'no progress output')
    .action(action(async (cli, opts, file: string) => {
      let res: ImportImageResponse;
      const made = await localImportSource(cli, file, opts);
      if (made) {
        res = await streamImport(cli, made, { reference: opts.tag, verify: opts.verify, quiet: opts.quiet });
      } else if (opts.onDaemon) {
        res = await imageOperation(cli, 'ImportImageFile',
          { vmfilePath: path.resolve(file), reference: opts.tag ?? '', allowOutsidePaths: Boolean(opts.allowOutsidePaths) },
          'import', { quiet: opts.quiet });
      } else if (opts.inline) {
        const local = await readVmFile(file);
        const { readFile, stat } = await import('node:fs/promises');
        const size = (await stat(local.diskPath).catch(() => {
          throw new UsageError(`cannot read the disk "${local.diskPath}" named by spec.disk.path`);
        })).size;
        if (size > INLINE_LIMIT) throw new UsageError(`--inline takes disks up to 64 MiB; this one is ${humanSize(size)}: drop --inline to stream it`);
        res = await cli.daemon().call('ImportImage',
          { vmfile: local.vmfile, diskData: await readFile(local.diskPath), reference: opts.tag ?? '' });
      } else {
        res = await streamImport(cli, await readVmFile(file), { reference: opts.tag, verify: opts.verify, quiet: opts.quiet });
      }
      cli.result(res, (r) => opts.quiet ? r.reference : `Imported ${r.reference}\nDigest: ${r.digest}\nSize: ${humanSize(r.size)}`);
    }));
  return examples(cmd, [
    '{cmd} ./debian-12/vmfile.yaml',
    '{cmd} -t localhost:5000/demo/debian:12 --verify vmfile.yaml',
    '{cmd} --on-daemon /srv/images/debian-12/vmfile.yaml',
  ]);
}

const exportFormats: Record<string, ExportFormat> = { oci: 'OCI_LAYOUT_DIR', 'oci-archive': 'OCI_ARCHIVE', disk: 'DISK' };

function exportCmd(cmd: Command): Command {
  cmd.description('Write an image to a local path (OCI layout, OCI archive or bare disk); the daemon streams the bytes')
    .argument('<reference>', 'local image')
    .argument('<output>', 'output path, written by vmr with your permissions')
    .addOption(new Option('--format <format>', 'what to write').choices(Object.keys(exportFormats)).default('oci'))
    .addOption(new Option('--disk-format <format>', 'with --format disk').choices(['raw', 'qcow2']))
    .option('-f, --force', 'replace an existing output path')
    .option('--on-daemon', 'the daemon writes <output> on its own host (only under its paths.export)')
    .option('-q, --quiet', 'no progress output')
    .action(action(async (cli, opts, reference: string, output: string) => {
      const outputPath = path.resolve(output);
      const onDaemon = () => imageOperation(cli, 'ExportImageWithProgress', {
        reference, outputPath, format: exportFormats[opts.format],
        overwrite: Boolean(opts.force), diskFormat: opts.diskFormat ?? '',
      }, 'export', { quiet: opts.quiet, fallback: 'ExportImage' });
      let res: ExportImageResponse;
      if (opts.onDaemon) res = await onDaemon();
      else {
        const disk = opts.format === 'disk';
        const sink = opts.format === 'oci' ? await layoutSink(outputPath, Boolean(opts.force)) : await fileSink(outputPath, Boolean(opts.force));
        try {
          res = await receiveExport(cli, { reference, format: disk ? 'DISK' : 'OCI_ARCHIVE', diskFormat: disk ? (opts.diskFormat ?? '') : '' }, sink, { quiet: opts.quiet });
        } catch (err) {
          // A daemon from before ExportImageStream: it can only write on its own host.
          if (!(err instanceof ServerError && err.code === 'UNIMPLEMENTED')) throw err;
          cli.note('this daemon cannot stream exports; it writes the file on its own host instead');
          res = await onDaemon();
        }
        res = { ...res, outputPath };
      }
      cli.result(res, (r) => opts.quiet ? r.outputPath : `Exported to ${r.outputPath}\nDigest: ${r.digest}\nSize: ${humanSize(r.size)}`);
    }));
  return examples(cmd, [
    '{cmd} debian-12:latest ./debian-oci',
    '{cmd} --format oci-archive debian-12:latest debian.tar',
    '{cmd} --format disk --disk-format qcow2 debian-12:latest debian.qcow2',
  ]);
}

function list(cmd: Command): Command {
  cmd.description('List local images')
    .option('-q, --quiet', 'only references (what rmi, tag and run take)')
    .option('--digests', 'show full digests')
    .option('--no-trunc', 'do not shorten digests')
    .action(action(async (cli, opts) => {
      const res = await cli.daemon().call('ListLocalImages', {});
      if (opts.quiet && !cli.json) {
        if (res.images.length) cli.out(res.images.map((i) => i.reference).join('\n'));
        return;
      }
      const full = opts.digests || opts.trunc === false;
      cli.result(res, (r) => table(['REPOSITORY', 'TAG', full ? 'DIGEST' : 'IMAGE ID', 'ARCH', 'SOURCE', 'CREATED', 'SIZE'],
        r.images.map((i) => [i.repository, i.tag || '<none>', shortDigest(i.digest, !full), i.architecture || '-',
          i.sourceFormat || '-', relativeTime(i.created), humanSize(i.size)])));
    }));
  return examples(cmd, ['{cmd}', '{cmd} -q', '{cmd} --json | jq -r \'.images[].reference\'']);
}

function remove(cmd: Command): Command {
  cmd.description('Remove local images (untag; content goes at the next gc)')
    .argument('<reference...>', 'images to remove')
    .option('-f, --force', 'remove even while VMs use the image')
    .action(action(async (cli, opts, refs: string[]) => {
      await eachTarget(cli, refs,
        (reference) => cli.daemon().call('DeleteImage', { reference, force: Boolean(opts.force) }),
        (_ref, r) => [...r.untagged.map((u) => `Untagged: ${u}`), ...r.deleted.map((d) => `Deleted: ${d}`)].join('\n'));
    }));
  return examples(cmd, ['{cmd} debian-12:latest', '{cmd} -f localhost:5000/demo/debian:12 debian-12:old']);
}

function tag(cmd: Command): Command {
  cmd.description('Give an existing image another reference (no bytes copied)')
    .argument('<source>', 'existing local image')
    .argument('<target>', 'new reference')
    .action(action(async (cli, _opts, source: string, target: string) => {
      const res = await cli.daemon().call('TagImage', { source, target });
      cli.result(res, (r) => `Tagged ${r.reference} (${r.digest})`);
    }));
  return examples(cmd, ['{cmd} debian-12:latest localhost:5000/demo/debian:12']);
}

function inspect(cmd: Command): Command {
  cmd.description('Show an image\'s manifest and config')
    .argument('<reference>', 'local image')
    .action(action(async (cli, _opts, reference: string) => {
      const res = await cli.daemon().call(
        'GetImageManifest', { reference });
      cli.result(res, (r) => JSON.stringify({
        reference, digest: r.digest, mediaType: r.mediaType, manifest: parseOrRaw(r.manifestJson), config: parseOrRaw(r.configJson),
      }, null, 2));
    }));
  return examples(cmd, ['{cmd} debian-12:latest', '{cmd} --json debian-12:latest | jq -r .manifestJson']);
}

function issueLines(kind: string, issues: ValidationIssue[]): string[] {
  return issues.map((i) => `${kind}: ${i.path || '(document)'}${i.line ? ` (line ${i.line})` : ''}: ${i.message}`);
}

function validate(cmd: Command): Command {
  cmd.description('Check a VMFile without importing it')
    .argument('<vmfile>', 'path of the VMFile')
    .option('--allow-outside-paths', 'allow spec.disk.path outside the VMFile\'s directory')
    .action(action(async (cli, opts, file: string) => {
      const abs = path.resolve(file);
      const content = await readText(abs, 'VMFile');
      const res = await cli.daemon().call(
        'ValidateVMFile', { content, baseDir: path.dirname(abs), allowOutsidePaths: Boolean(opts.allowOutsidePaths) });
      cli.result(res, (r) => [...issueLines('error', r.errors), ...issueLines('warning', r.warnings),
        r.valid ? `${file}: valid` : `${file}: invalid (${r.errors.length} error${r.errors.length === 1 ? '' : 's'})`].join('\n'));
      // An invalid file is the server's verdict on the input: exit 1 so scripts can gate on it.
      if (!res.valid) process.exitCode = 1;
    }));
  return examples(cmd, ['{cmd} vmfile.yaml', '{cmd} --json vmfile.yaml | jq .errors']);
}

function gc(cmd: Command): Command {
  cmd.description('Remove blobs, manifests and base disks no image references')
    .option('-n, --dry-run', 'only report what would be removed')
    .action(action(async (cli, opts) => {
      const res = await cli.daemon().call(
        'GarbageCollect', { dryRun: Boolean(opts.dryRun) });
      cli.result(res, (r) => [
        ...r.removedManifests.map((d) => `${opts.dryRun ? 'Would delete' : 'Deleted'} manifest: ${d}`),
        ...r.removedBlobs.map((d) => `${opts.dryRun ? 'Would delete' : 'Deleted'} blob: ${d}`),
        `${opts.dryRun ? 'Would reclaim' : 'Total reclaimed space'}: ${humanSize(r.freedBytes)}`,
      ].join('\n'));
    }));
  return examples(cmd, ['{cmd}', '{cmd} --dry-run']);
}

const imageCommands: CommandTable = [
  ['pull', (p) => pull(p.command('pull'))],
  ['push', (p) => push(p.command('push'))],
  ['import', (p) => importCmd(p.command('import'))],
  ['export', (p) => exportCmd(p.command('export'))],
  ['images', (p) => list(p.command('images'))],
  ['rmi', (p) => remove(p.command('rmi'))],
  ['tag', (p) => tag(p.command('tag'))],
  ['inspect', (p) => inspectCommand(p.command('inspect'))],
  ['validate', (p) => validate(p.command('validate'))],
  ['gc', (p) => gc(p.command('gc'))],
  ['image', imageGroup],
  ['save', (p) => save(p.command('save'))],
  ['load', (p) => load(p.command('load'))],
];

/** `vmr image …`: the same commands, grouped. */
function imageGroup(program: Command): void {
  const image = program.command('image').description('Manage images (the same commands, grouped)');
  list(image.command('ls').alias('list'));
  pull(image.command('pull'));
  push(image.command('push'));
  remove(image.command('rm').alias('remove'));
  tag(image.command('tag'));
  inspect(image.command('inspect'));
  importCmd(image.command('import'));
  exportCmd(image.command('export'));
  validate(image.command('validate'));
  gc(image.command('prune'));
  save(image.command('save'));
  load(image.command('load'));
  examples(image, ['{cmd} ls', '{cmd} pull localhost:5000/demo/debian:12', '{cmd} prune --dry-run']);
}

export function registerImageCommands(program: Command, word?: string): void {
  defineCommands(program, imageCommands, word);
}
