const ZERO = Buffer.alloc(1 << 20);

/** True when every byte is 0 (memcmp against a shared zero page, no allocation). */
export function isZero(b: Buffer): boolean {
  for (let off = 0; off < b.length; off += ZERO.length) {
    const n = Math.min(ZERO.length, b.length - off);
    if (!b.subarray(off, off + n).equals(ZERO.subarray(0, n))) return false;
  }
  return true;
}
