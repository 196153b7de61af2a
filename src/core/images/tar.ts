// The tar header format (POSIX ustar with the GNU and pax extensions real images use): one reader of
// numeric fields for every tar the daemon parses (loadArchive.ts, containerDisk/tarReader.ts) and
// the header writer of a containerDisk push.

export const TAR_BLOCK = 512;

/** A numeric header field: octal text, or GNU base-256 (high bit set) for values past 8 GiB. NaN when corrupt. */
export function octal(b: Buffer, off: number, len: number): number {
  const f = b.subarray(off, off + len);
  if (f[0]! & 0x80) {
    let n = 0;
    for (let i = 1; i < f.length; i++) n = n * 256 + f[i]!;
    return n;
  }
  const s = f.toString('latin1').replace(/\0.*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) return NaN;
  return parseInt(s, 8);
}

const cstr = (b: Buffer, off: number, len: number) => b.subarray(off, off + len).toString('utf8').replace(/\0.*$/s, '');

export interface RawTarHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** The type flag ('0' regular, '5' directory, '2' symlink, …). */
  type: string;
  linkname: string;
}

/** Parses one 512-byte header; undefined when its checksum does not match (not a tar header). */
export function parseTarHeader(h: Buffer): RawTarHeader | undefined {
  const want = octal(h, 148, 8);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  if (!Number.isFinite(want) || want !== sum) return undefined;
  const ustar = h.subarray(257, 262).toString('latin1') === 'ustar';
  const prefix = ustar ? cstr(h, 345, 155) : '';
  const base = cstr(h, 0, 100);
  const type = h[156] === 0 ? '0' : String.fromCharCode(h[156]!);
  return {
    name: prefix ? `${prefix}/${base}` : base,
    mode: octal(h, 100, 8), uid: octal(h, 108, 8), gid: octal(h, 116, 8), size: octal(h, 124, 12),
    type, linkname: cstr(h, 157, 100),
  };
}

/** Records of a pax extended header ("<len> key=value\n"…). */
export function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    if (sp < 0) break;
    const len = parseInt(data.subarray(pos, sp).toString('latin1'), 10);
    if (!Number.isSafeInteger(len) || len <= sp - pos || pos + len > data.length) break;
    const rec = data.subarray(sp + 1, pos + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    pos += len;
  }
  return out;
}

function putOctal(h: Buffer, off: number, len: number, v: number): void {
  h.write(v.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
}

/** A ustar header for a regular file or directory (names up to 100 bytes, sizes below 8 GiB use octal, larger base-256). */
export function tarHeader(e: { name: string; size: number; mode: number; uid: number; gid: number; type: '0' | '5'; mtime?: number }): Buffer {
  const h = Buffer.alloc(TAR_BLOCK);
  if (Buffer.byteLength(e.name) > 100) throw new RangeError(`tar name "${e.name}" is longer than 100 bytes`);
  h.write(e.name, 0, 100, 'utf8');
  putOctal(h, 100, 8, e.mode);
  putOctal(h, 108, 8, e.uid);
  putOctal(h, 116, 8, e.gid);
  if (e.size < 8 ** 11) putOctal(h, 124, 12, e.size);
  else {
    h[124] = 0x80;
    let v = BigInt(e.size);
    for (let i = 135; i > 124; i--) { h[i] = Number(v & 0xffn); v >>= 8n; }
  }
  putOctal(h, 136, 12, e.mtime ?? 0);
  h.write(e.type, 156, 1, 'latin1');
  h.write('ustar\0', 257, 6, 'latin1');
  h.write('00', 263, 2, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

/** Zero bytes after `size` bytes of data up to the next block boundary. */
export const tarPadding = (size: number) => Buffer.alloc((TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK);
