// Coverage of a disk by its windows: every layer sits on a window boundary, has the window's size
// (the last may be short), lies within the disk, and no window appears twice. Missing windows are
// all-zero holes. Checked on import, before push and on pull (commitManifest).
import type { OciDescriptor, OciManifest, VmImageConfig } from '../ports/images.js';
import { DataLossError, ResourceExhaustedError } from '../errors.js';
import { isDigest } from './digest.js';
import { ANN_OFFSET, ANN_UDIGEST, ANN_USIZE, codecOfMediaType } from './mediaTypes.js';

export interface Window {
  layer: OciDescriptor;
  offset: number;
  size: number;
  udigest: string;
  codec: string;
}

const num = (s: string | undefined) => (s !== undefined && /^[0-9]{1,16}$/.test(s) ? Number(s) : NaN);

export function diskWindows(manifest: OciManifest, config: VmImageConfig): { windows: Window[]; virtualSize: number } {
  const disk = config.disks?.[0];
  if (!disk) throw new DataLossError('image config has no disk table');
  const { virtualSize, windowSize } = disk;
  if (!Number.isSafeInteger(virtualSize) || virtualSize <= 0 || !Number.isSafeInteger(windowSize) || windowSize <= 0) {
    throw new DataLossError(`image config has an invalid disk size (${virtualSize}) or window size (${windowSize})`);
  }
  const seen = new Set<number>();
  const windows: Window[] = [];
  for (const [i, layer] of (manifest.layers ?? []).entries()) {
    const codec = codecOfMediaType(layer.mediaType);
    if (!codec) continue; // not a disk window (future layers such as nvram)
    const a = layer.annotations ?? {};
    const offset = num(a[ANN_OFFSET]);
    const size = num(a[ANN_USIZE]);
    const udigest = a[ANN_UDIGEST] ?? '';
    const where = `layer ${i} (${layer.digest})`;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size) || !isDigest(udigest)) {
      throw new DataLossError(`${where} lacks valid ${ANN_OFFSET}/${ANN_USIZE}/${ANN_UDIGEST} annotations`);
    }
    if (offset % windowSize !== 0 || offset >= virtualSize) {
      throw new DataLossError(`${where}: offset ${offset} is not a window boundary inside the ${virtualSize}-byte disk`);
    }
    if (size !== Math.min(windowSize, virtualSize - offset)) {
      throw new DataLossError(`${where}: window at ${offset} has ${size} bytes, expected ${Math.min(windowSize, virtualSize - offset)}`);
    }
    if (seen.has(offset)) throw new DataLossError(`${where}: window at offset ${offset} appears twice`);
    seen.add(offset);
    windows.push({ layer, offset, size, udigest, codec });
  }
  windows.sort((x, y) => x.offset - y.offset);
  return { windows, virtualSize };
}

/**
 * The store's cap on a disk's virtual size (config `images.maxDiskGiB`). A few bytes can declare a huge disk — a
 * qcow2 header, a manifest with no windows, an import's total_size sent as `zeros` — and every byte of it would
 * become a window to hash and a base disk to hold; checked before any of that work starts.
 */
export function assertDiskFits(virtualSize: number, maxDiskSize: number | undefined, what: string): void {
  if (maxDiskSize === undefined || virtualSize <= maxDiskSize) return;
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(n % 2 ** 30 ? 2 : 0)} GiB`;
  throw new ResourceExhaustedError(`${what} is ${gib(virtualSize)} (${virtualSize} bytes); this daemon accepts disks of at most ${gib(maxDiskSize)} (config images.maxDiskGiB)`);
}
