// An empty qcow2 (version 3) overlay on a raw backing file, as `qemu-img create -f qcow2 -F raw -b BASE`
// writes it: a header naming the backing file and its format, a one-cluster refcount table, one
// refcount block and an all-zero L1 table. Written in-process because it is on the path of every
// `vmr run` and qemu-img's start was most of that step (issue 17). All numbers are big-endian.

const CLUSTER_BITS = 16;
const CLUSTER = 1 << CLUSTER_BITS;
const HEADER_LENGTH = 104; // version 3 without the optional compression-type byte: zlib
const EXT_BACKING_FORMAT = 0xe2792aca;
/** QEMU refuses longer backing file names. */
const MAX_BACKING_NAME = 1023;

/** The overlay's bytes: `virtualSize` (rounded up to 512 as QEMU does) over the raw file `backingPath`. */
export function qcow2Overlay(backingPath: string, virtualSize: number): Buffer {
  const name = Buffer.from(backingPath, 'utf8');
  if (name.length === 0 || name.length > MAX_BACKING_NAME) throw new Error(`backing file name of ${name.length} bytes (1–${MAX_BACKING_NAME})`);
  const size = Math.ceil(virtualSize / 512) * 512;
  // One L1 entry per L2 table; an L2 table (one cluster of 8-byte entries) maps CLUSTER / 8 clusters.
  const l1Entries = Math.max(1, Math.ceil(size / (CLUSTER * (CLUSTER / 8))));
  const l1Clusters = Math.ceil((l1Entries * 8) / CLUSTER);
  const clusters = 3 + l1Clusters; // header, refcount table, refcount block, L1
  if (clusters > CLUSTER / 2) throw new Error(`virtual size ${virtualSize} needs more than one refcount block`);

  const fmt = Buffer.from('raw', 'latin1');
  const extLen = 8 + Math.ceil(fmt.length / 8) * 8;
  const nameAt = HEADER_LENGTH + extLen + 8; // after the backing-format extension and the end marker
  if (nameAt + name.length > CLUSTER) throw new Error('qcow2 header does not fit its cluster');

  const img = Buffer.alloc(3 * CLUSTER + l1Entries * 8);
  img.writeUInt32BE(0x514649fb, 0); // "QFI\xfb"
  img.writeUInt32BE(3, 4);
  img.writeBigUInt64BE(BigInt(nameAt), 8);
  img.writeUInt32BE(name.length, 16);
  img.writeUInt32BE(CLUSTER_BITS, 20);
  img.writeBigUInt64BE(BigInt(size), 24);
  // 32: no encryption
  img.writeUInt32BE(l1Entries, 36);
  img.writeBigUInt64BE(BigInt(3 * CLUSTER), 40); // L1 table
  img.writeBigUInt64BE(BigInt(CLUSTER), 48); // refcount table
  img.writeUInt32BE(1, 56); // refcount table clusters
  // 60: no snapshots; 72-95: no incompatible, compatible or autoclear features
  img.writeUInt32BE(4, 96); // refcount order: 16-bit refcounts
  img.writeUInt32BE(HEADER_LENGTH, 100);
  img.writeUInt32BE(EXT_BACKING_FORMAT, HEADER_LENGTH);
  img.writeUInt32BE(fmt.length, HEADER_LENGTH + 4);
  fmt.copy(img, HEADER_LENGTH + 8);
  // the end-of-extensions marker (type 0, length 0) is already zeros
  name.copy(img, nameAt);

  img.writeBigUInt64BE(BigInt(2 * CLUSTER), CLUSTER); // refcount table → the one refcount block
  for (let c = 0; c < clusters; c++) img.writeUInt16BE(1, 2 * CLUSTER + 2 * c);
  return img;
}
