// Uncompressed bytes of a container layer, by its media type: tar as is, gzip through zlib, zstd through
// the system `zstd` binary (as the store's own codec). Streams end to end: memory stays bounded by the
// stream buffers whatever the layer size.
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { InvalidArgumentError, isVmrError } from '../../errors.js';

export type LayerCompression = 'none' | 'gzip' | 'zstd';

const TAR_LAYER = /^application\/vnd\.(oci\.image\.layer(\.nondistributable)?\.v1\.tar|docker\.image\.rootfs\.(foreign\.)?diff\.tar)(\.gzip|\+gzip|\+zstd)?$/;

/** The compression of a layer media type; undefined when it is no tar layer at all. */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  const m = TAR_LAYER.exec(mediaType);
  if (!m) return undefined;
  const suffix = m[4] ?? '';
  return suffix === '+zstd' ? 'zstd' : suffix ? 'gzip' : 'none';
}

/** A failure of the source (e.g. a digest check) wins over what it made the decompressor say. */
function sourceFirst(err: unknown, sourceErr: unknown): unknown {
  return sourceErr !== undefined && isVmrError(sourceErr) ? sourceErr : err;
}

async function* gunzip(source: AsyncIterable<Buffer>, what: string): AsyncGenerator<Buffer> {
  const z = createGunzip();
  let sourceErr: unknown;
  const feeding = pipeline(Readable.from(source), z).catch((e: unknown) => { sourceErr ??= e; });
  try {
    for await (const c of z) yield c as Buffer;
  } catch (err) {
    await feeding;
    const first = sourceFirst(err, sourceErr);
    if (isVmrError(first)) throw first;
    throw new InvalidArgumentError(`${what} is not valid gzip: ${(err as Error).message}`, { field: 'reference' });
  } finally {
    z.destroy();
  }
  await feeding;
  if (sourceErr !== undefined) throw sourceErr;
}

async function* unzstd(source: AsyncIterable<Buffer>, what: string, signal: AbortSignal): AsyncGenerator<Buffer> {
  const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'], signal });
  const stderr: Buffer[] = [];
  child.stderr!.on('data', (b: Buffer) => { if (stderr.length < 8) stderr.push(b); });
  const exited = new Promise<number | null>((resolve) => {
    child.once('close', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  let sourceErr: unknown;
  const feeding = pipeline(Readable.from(source), child.stdin!).catch((e: unknown) => {
    sourceErr ??= e;
    child.kill('SIGKILL');
  });
  try {
    for await (const c of child.stdout!) yield c as Buffer;
    await feeding;
    const code = await exited;
    if (isVmrError(sourceErr)) throw sourceErr;
    if (code !== 0) {
      throw new InvalidArgumentError(`${what} is not valid zstd: ${Buffer.concat(stderr).toString().trim().slice(0, 200) || `zstd exited with ${code}`}`, { field: 'reference' });
    }
    if (sourceErr !== undefined) throw sourceErr;
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await feeding;
  }
}

export function decompressLayer(source: AsyncIterable<Buffer>, compression: LayerCompression, what: string, signal: AbortSignal): AsyncIterable<Buffer> {
  if (compression === 'gzip') return gunzip(source, what);
  if (compression === 'zstd') return unzstd(source, what, signal);
  return source;
}
