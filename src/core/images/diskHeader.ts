// A disk is data, never a reference to other files. Before qemu-img sees a file we read its header
// ourselves and decide its format from an allow-list; qemu-img is then always told that format (no
// probing), so a header we did not accept can never make QEMU open another file (CVE-2024-32498 class:
// qcow2 external data files, backing files, vmdk extents).
//
// Allowed: raw (bytes only) and qcow2 without backing file, external data file or encryption. That is
// what the store keeps (raw windows) and what cloud images ship; every other format qemu-img knows
// (vmdk, vdi, vhdx, vpc, qed, parallels, luks, cloop, bochs, qcow v1) can reference other files or
// needs keys, so it is refused and the user converts it with qemu-img themselves.
import type { FileHandle } from 'node:fs/promises';
import { InvalidArgumentError, type VmrError } from '../errors.js';

export const ALLOWED_DISK_FORMATS = ['raw', 'qcow2'] as const;
export type AllowedDiskFormat = (typeof ALLOWED_DISK_FORMATS)[number];

const HEAD = 4096;
const QCOW_MAGIC = 0x514649fb; // "QFI\xfb"
const QCOW2_INCOMPAT_DATA_FILE = 1n << 2n;
// dirty, corrupt, external data file, compression type, extended L2: the bits QEMU 7.2 knows.
const QCOW2_INCOMPAT_KNOWN = 0x1fn;
const EXT_DATA_FILE = 0x44415441; // "DATA"
const EXT_BACKING_FORMAT = 0xe2792aca;

/** What qemu-img would probe these bytes as, for the formats we refuse (first match wins). */
const FOREIGN: Array<{ format: string; test: (b: Buffer) => boolean }> = [
  { format: 'qed', test: (b) => b.subarray(0, 4).equals(Buffer.from('QED\0', 'latin1')) },
  { format: 'vmdk', test: (b) => ['KDMV', 'COWD'].includes(b.subarray(0, 4).toString('latin1')) },
  { format: 'vmdk', test: (b) => /# Disk DescriptorFile|createType\s*=/.test(b.toString('latin1')) },
  { format: 'vpc', test: (b) => b.subarray(0, 8).toString('latin1') === 'conectix' },
  { format: 'vhdx', test: (b) => b.subarray(0, 8).toString('latin1') === 'vhdxfile' },
  { format: 'vdi', test: (b) => b.length >= 0x44 && b.readUInt32LE(0x40) === 0xbeda107f },
  { format: 'parallels', test: (b) => ['WithoutFreeSpace', 'WithouFreSpacExt'].includes(b.subarray(0, 16).toString('latin1')) },
  { format: 'luks', test: (b) => b.subarray(0, 6).equals(Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe])) },
  { format: 'cloop', test: (b) => b.subarray(0, 128).toString('latin1').includes('#V2.0 Format') },
  { format: 'bochs', test: (b) => b.subarray(0, 32).toString('latin1').startsWith('Bochs Virtual HD Image') },
  { format: 'dmg', test: (b) => b.subarray(0, 4).toString('latin1') === 'koly' },
];

export interface HeaderVerdict {
  format: AllowedDiskFormat;
}

function refuse(headerField: string, message: string): VmrError {
  return new InvalidArgumentError(`the disk's header ${message}; vmregistry stores disks as data only (raw, or qcow2 without external references): flatten it with "qemu-img convert -O qcow2 in out.qcow2"`, {
    field: 'spec.disk.path',
    issues: [{ path: headerField, message }],
  });
}

/** Reads the header of an opened disk and returns its (allowed) format, or throws INVALID_ARGUMENT naming the header field. */
export async function inspectDiskHeader(fh: FileHandle, size: number): Promise<HeaderVerdict> {
  const head = Buffer.alloc(Math.min(HEAD, size));
  const { bytesRead } = await fh.read(head, 0, head.length, 0);
  return classifyHeader(head.subarray(0, bytesRead), async (pos, len) => {
    const b = Buffer.alloc(len);
    const r = await fh.read(b, 0, len, pos);
    return b.subarray(0, r.bytesRead);
  }, size);
}

/** The virtual size a qcow2 header declares (bytes 24–31, big-endian); the header was checked by `inspectDiskHeader`. */
export async function qcow2VirtualSize(fh: FileHandle): Promise<number> {
  const b = Buffer.alloc(8);
  const { bytesRead } = await fh.read(b, 0, 8, 24);
  if (bytesRead !== 8) throw refuse('size', 'is a truncated qcow2 header');
  return Number(b.readBigUInt64BE(0));
}

/** Pure part of `inspectDiskHeader` (tests feed it crafted bytes). */
export async function classifyHeader(head: Buffer, readAt: (pos: number, len: number) => Promise<Buffer>, size: number): Promise<HeaderVerdict> {
  if (head.length >= 4 && head.readUInt32BE(0) === QCOW_MAGIC) return checkQcow2(head, readAt, size);
  const foreign = FOREIGN.find((f) => f.test(head));
  if (foreign) throw refuse('format', `says it is ${foreign.format}, which is not accepted (only ${ALLOWED_DISK_FORMATS.join(' and ')})`);
  return { format: 'raw' };
}

async function checkQcow2(head: Buffer, readAt: (pos: number, len: number) => Promise<Buffer>, size: number): Promise<HeaderVerdict> {
  if (head.length < 72) throw refuse('header', 'is a truncated qcow2 header');
  const version = head.readUInt32BE(4);
  if (version === 1) throw refuse('version', 'is qcow version 1, which is not accepted');
  if (version !== 2 && version !== 3) throw refuse('version', `is a qcow2 header of unknown version ${version}`);
  const backingOffset = head.readBigUInt64BE(8);
  const backingSize = head.readUInt32BE(16);
  if (backingOffset !== 0n || backingSize !== 0) {
    const at = Number(backingOffset);
    const name = Number.isSafeInteger(at) && backingSize > 0 && backingSize <= 1023 && at + backingSize <= size
      ? (await readAt(at, backingSize)).toString('utf8') : '?';
    throw refuse('backing-filename', `names a backing file ("${name.slice(0, 128)}")`);
  }
  const clusterBits = head.readUInt32BE(20);
  if (clusterBits < 9 || clusterBits > 21) throw refuse('cluster_bits', `has an invalid cluster size (2^${clusterBits})`);
  if (head.readUInt32BE(32) !== 0) throw refuse('encrypt.format', 'says the qcow2 disk is encrypted');
  let headerLength = 72;
  if (version === 3) {
    if (head.length < 104) throw refuse('header', 'is a truncated qcow2 v3 header');
    const incompat = head.readBigUInt64BE(72);
    if (incompat & QCOW2_INCOMPAT_DATA_FILE) throw refuse('data-file', 'says the qcow2 data lives in an external data file');
    if (incompat & ~QCOW2_INCOMPAT_KNOWN) throw refuse('incompatible-features', `has unknown incompatible qcow2 features (0x${incompat.toString(16)})`);
    headerLength = head.readUInt32BE(100);
    if (headerLength < 104 || headerLength > (1 << clusterBits)) throw refuse('header_length', `has an invalid qcow2 header length ${headerLength}`);
  }
  // Header extensions follow the header up to the end of the first cluster.
  const end = Math.min(1 << clusterBits, size);
  let pos = headerLength;
  const ext = end <= head.length ? head : await readAt(0, end);
  for (let n = 0; n < 1024 && pos + 8 <= Math.min(end, ext.length); n++) {
    const type = ext.readUInt32BE(pos);
    const len = ext.readUInt32BE(pos + 4);
    if (type === 0) break;
    if (type === EXT_DATA_FILE) {
      const name = ext.subarray(pos + 8, Math.min(pos + 8 + len, ext.length)).toString('utf8');
      throw refuse('data-file', `names an external data file ("${name.slice(0, 128)}")`);
    }
    if (type === EXT_BACKING_FORMAT) throw refuse('backing-filename-format', 'carries a backing-format extension (a backing chain)');
    pos += 8 + Math.ceil(len / 8) * 8;
  }
  return { format: 'qcow2' };
}

/** What qemu-img info --output=json says, checked again for anything that names another file. */
export function checkQemuInfo(j: Record<string, unknown>, expected: AllowedDiskFormat): void {
  if (j.format !== expected) throw refuse('format', `was opened as ${expected} but qemu-img reports ${String(j.format)}`);
  for (const key of ['backing-filename', 'full-backing-filename', 'backing-filename-format']) {
    if (j[key] !== undefined) throw refuse(key, `names a backing file ("${String(j[key]).slice(0, 128)}")`);
  }
  if (j.encrypted === true) throw refuse('encrypted', 'says the disk is encrypted');
  const data = (j['format-specific'] as { data?: Record<string, unknown> } | undefined)?.data ?? {};
  if (data['data-file'] !== undefined) throw refuse('format-specific.data.data-file', `names an external data file ("${String(data['data-file']).slice(0, 128)}")`);
  if (data.encrypt !== undefined) throw refuse('format-specific.data.encrypt', 'says the disk is encrypted');
  if (Array.isArray(data.extents) && data.extents.length > 0) throw refuse('format-specific.data.extents', 'names extents in other files');
}
