// Fixtures for the image store tests: temp dirs, generated disks, a call context.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, openSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CallContext, Logger, Progress } from '../../src/core/ports/common.js';
import { silentLogger } from '../../src/core/log/silentLogger.js';
import type { VMFile } from '../../src/core/ports/images.js';
import type { OciImageStore } from '../../src/core/images/index.js';
import assert from 'node:assert/strict';

export const MiB = 1 << 20;

const noop: Logger = silentLogger();

export function ctx(signal: AbortSignal = new AbortController().signal, progress?: (p: Progress) => void): CallContext {
  return {
    signal,
    log: noop,
    progress,
    context: { name: 'default', description: '', registryUrl: '', authServer: '', authClientId: '', libvirtUri: '', insecureRegistry: false, current: true, created: '' },
  };
}

export function tempDir(t: { after: (fn: () => void) => void } | undefined, prefix = 'vmr-images-'): string {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  t?.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A raw disk: `layout` is a list of [kind, MiB]; zeros are written as holes. */
export function makeRawDisk(file: string, layout: Array<['rand' | 'zero' | 'text', number]>): { size: number; sha256: string } {
  const fd = openSync(file, 'w');
  const h = createHash('sha256');
  let pos = 0;
  for (const [kind, mib] of layout) {
    for (let i = 0; i < mib; i++) {
      let b: Buffer;
      if (kind === 'zero') b = Buffer.alloc(MiB);
      else if (kind === 'rand') b = randomBytes(MiB);
      else b = Buffer.from(`line ${pos} of a compressible text block\n`.repeat(Math.ceil(MiB / 16))).subarray(0, MiB);
      h.update(b);
      if (kind !== 'zero') writeSync(fd, b, 0, b.length, pos);
      pos += MiB;
    }
  }
  ftruncateSync(fd, pos);
  closeSync(fd);
  return { size: pos, sha256: h.digest('hex') };
}

export function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

export function toQcow2(raw: string, out: string): void {
  execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, out]);
}

export function vmfile(name = 'test-vm', format: 'raw' | 'qcow2' = 'raw', diskPath = './disk.img'): VMFile {
  return {
    apiVersion: 'vmregistry.io/v1alpha1',
    kind: 'VMFile',
    metadata: { name, description: 'a test VM', author: 'tests', source: '', labels: { os: 'none' } },
    spec: {
      disk: { path: diskPath, format },
      resources: { memoryMb: 256, vcpuCount: 1, diskSizeGb: 0 },
      os: { architecture: 'x86_64', firmware: 'bios' },
    },
  };
}

export function writeVMFile(dir: string, diskPath: string, format: string, name = 'test-vm'): string {
  const f = path.join(dir, 'VMFile.yaml');
  writeFileSync(f, `api_version: vmregistry.io/v1alpha1
kind: VMFile
metadata:
  name: ${name}
  description: test image
  labels: { os: none }
spec:
  disk: { path: ${diskPath}, format: ${format} }
  resources: { memory_mb: 256, vcpu_count: 1, disk_size_gb: 1 }
  os: { architecture: x86_64, firmware: bios }
`);
  return f;
}

/** Yields a file in chunks of `chunk` bytes; optional hooks to stop early or stall. */
export async function* chunksOf(file: string, opts: { chunk?: number; stopAfter?: number; onChunk?: (i: number) => Promise<void> | void } = {}): AsyncGenerator<Buffer> {
  const data = readFileSync(file);
  const chunk = opts.chunk ?? 256 * 1024;
  let i = 0;
  for (let off = 0; off < data.length; off += chunk) {
    if (opts.stopAfter !== undefined && off >= opts.stopAfter) return;
    await opts.onChunk?.(i++);
    yield data.subarray(off, Math.min(off + chunk, data.length));
  }
}

export function allocatedBytes(file: string): number {
  return statSync(file).blocks * 512;
}

export function skopeo(args: string[]): string {
  return execFileSync('skopeo', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Nothing of a failed import may be visible: no blob, no index entry, no base disk, no temp file. */
export function assertNothingStored(store: OciImageStore): void {
  const p = store.paths;
  assert.deepEqual(readdirSync(path.join(p.layout, 'blobs', 'sha256')), []);
  assert.deepEqual(JSON.parse(readFileSync(path.join(p.layout, 'index.json'), 'utf8')).manifests, []);
  assert.deepEqual(readdirSync(p.disks), []);
  assert.deepEqual(readdirSync(p.tmp), []);
}
