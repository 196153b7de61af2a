const ZERO = Buffer.alloc(1 << 20);

/** True when every byte is 0 (memcmp against a shared zero page, no allocation). */
export function isZero(b: Buffer): boolean {
  if (b.buffer === ZERO.buffer) return true; // a view of the shared zeros (zeroRun): nothing to compare
  for (let off = 0; off < b.length; off += ZERO.length) {
    const n = Math.min(ZERO.length, b.length - off);
    if (!b.subarray(off, off + n).equals(ZERO.subarray(0, n))) return false;
  }
  return true;
}

/**
 * `n` zero bytes as read-only views of one shared buffer (a run of zeros a client did not send): whoever takes them
 * copies or reads them, never writes into them.
 */
export function* zeroRun(n: number): Generator<Buffer> {
  for (let left = n; left > 0; left -= ZERO.length) yield ZERO.subarray(0, Math.min(ZERO.length, left));
}
