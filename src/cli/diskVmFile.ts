// `vmr import ./disk.qcow2`: a disk without a VMFile gets one made for it — name from the file,
// format from `qemu-img info` (or the qcow2 magic when qemu-img is not installed), default resources.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { childProcess } from './builtins.js';
import { UsageError } from './errors.js';
import { camelKeys, type LocalVmFile } from './files.js';
import type { VMFile } from './messages.js';

const pexec = (file: string, args: string[], opts: { timeout: number }) => promisify(childProcess().execFile)(file, args, opts);
const DISK_EXTENSIONS = new Set(['.qcow2', '.qcow', '.img', '.raw', '.disk']);
const QCOW_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);

/** True when `file` is a disk image rather than a VMFile (by extension, else by the qcow2 magic). */
export async function isDiskImage(file: string): Promise<boolean> {
  if (DISK_EXTENSIONS.has(path.extname(file).toLowerCase())) return true;
  try {
    const fh = await fs.open(file, 'r');
    try {
      const head = Buffer.alloc(4);
      await fh.read(head, 0, 4, 0);
      return head.equals(QCOW_MAGIC);
    } finally {
      await fh.close();
    }
  } catch {
    return false;
  }
}

/** An image name from a file name: lowercase letters, digits, . _ - (the VMFile's rule). */
export function nameFromFile(file: string): string {
  const base = path.basename(file).replace(/\.(qcow2?|img|raw|disk)$/i, '');
  const name = base.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').slice(0, 64)
    .replace(/[^a-z0-9]+$/, '');
  return name || 'disk';
}

async function diskFormat(file: string): Promise<'qcow2' | 'raw'> {
  try {
    const { stdout } = await pexec('qemu-img', ['info', '-U', '--output=json', file], { timeout: 30_000 });
    const format = (JSON.parse(stdout) as { format?: string }).format;
    if (format === 'qcow2' || format === 'raw') return format;
    throw new UsageError(`"${file}" is a ${format} disk; convert it first: qemu-img convert -O qcow2 ${file} disk.qcow2`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    // No qemu-img here: the qcow2 header says enough.
    const fh = await fs.open(file, 'r');
    try {
      const head = Buffer.alloc(4);
      await fh.read(head, 0, 4, 0);
      return head.equals(QCOW_MAGIC) ? 'qcow2' : 'raw';
    } finally {
      await fh.close();
    }
  }
}

const hostArch = (): string => ({ x64: 'x86_64', arm64: 'aarch64' } as Record<string, string>)[os.arch()] ?? 'x86_64';

/** The VMFile for a bare disk (YAML, disk path relative to `vmfileDir`) and the import source. */
export async function vmfileForDisk(file: string, vmfileDir?: string): Promise<{ yaml: string; local: LocalVmFile }> {
  const abs = path.resolve(file);
  const st = await fs.stat(abs).catch(() => undefined);
  if (!st?.isFile()) throw new UsageError(`cannot read the disk "${file}"`);
  const dir = path.resolve(vmfileDir ?? path.dirname(abs));
  const rel = path.relative(dir, abs) || path.basename(abs);
  const doc = {
    api_version: 'vmregistry.io/v1alpha1',
    kind: 'VMFile',
    metadata: { name: nameFromFile(abs), description: `imported from ${path.basename(abs)}` },
    spec: {
      disk: { path: rel.startsWith('.') || path.isAbsolute(rel) ? rel : `./${rel}`, format: await diskFormat(abs) },
      resources: { memory_mb: 1024, vcpu_count: 1 },
      os: { architecture: hostArch(), firmware: 'bios' },
    },
  };
  const { stringify } = await import('yaml');
  const yaml = stringify(doc);
  const vmfile = camelKeys(doc) as VMFile;
  return { yaml, local: { file: path.join(dir, 'vmfile.yaml'), dir, content: yaml, vmfile, diskPath: abs } };
}
