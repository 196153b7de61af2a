// XDR (RFC 4506) as libvirt's rpcgen output uses it: big-endian, 4-byte aligned, 64-bit values as
// bigint. Every length read from the wire is checked against the remaining bytes and the caller's
// maximum before anything is allocated, so a corrupt packet cannot make us allocate gigabytes.
import { VmrError } from '../../../plugin-api/index.js';

/**
 * A value we cannot put into XDR (a NUL in a string, a number out of range: the caller's input, so
 * INVALID_ARGUMENT) or bytes from libvirtd we cannot read (INTERNAL). Never UNKNOWN.
 */
export class XdrError extends VmrError {
  constructor(side: 'encode' | 'decode', message: string) {
    super(side === 'encode' ? 'INVALID_ARGUMENT' : 'INTERNAL',
      side === 'encode' ? `a value cannot be sent to libvirt: ${message}` : `libvirt sent data that cannot be read: ${message}`);
    this.name = 'XdrError';
  }
}

const pad = (n: number) => (4 - (n % 4)) % 4;

export class XdrWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initial = 256) {
    this.buf = Buffer.alloc(initial);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  int(v: number): this {
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new XdrError('encode', `int out of range: ${v}`);
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  uint(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new XdrError('encode', `unsigned int out of range: ${v}`);
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  bool(v: boolean): this {
    return this.int(v ? 1 : 0);
  }

  hyper(v: bigint): this {
    this.ensure(8);
    this.buf.writeBigInt64BE(BigInt.asIntN(64, v) === v ? v : fail(`hyper out of range: ${v}`), this.pos);
    this.pos += 8;
    return this;
  }

  uhyper(v: bigint): this {
    this.ensure(8);
    this.buf.writeBigUInt64BE(BigInt.asUintN(64, v) === v ? v : fail(`unsigned hyper out of range: ${v}`), this.pos);
    this.pos += 8;
    return this;
  }

  double(v: number): this {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
    return this;
  }

  /** opaque[N]: exactly `n` bytes, padded, no length. */
  fixedOpaque(b: Uint8Array, n: number): this {
    if (b.length !== n) throw new XdrError('encode', `fixed opaque needs ${n} bytes, got ${b.length}`);
    this.ensure(n + pad(n));
    this.buf.set(b, this.pos);
    this.pos += n;
    this.buf.fill(0, this.pos, this.pos + pad(n));
    this.pos += pad(n);
    return this;
  }

  /** opaque<MAX>: length, bytes, padding. */
  opaque(b: Uint8Array, max = 0xffffffff): this {
    if (b.length > max) throw new XdrError('encode', `opaque of ${b.length} bytes exceeds maximum ${max}`);
    this.uint(b.length);
    return this.fixedOpaque(b, b.length);
  }

  string(s: string, max = 0xffffffff): this {
    if (s.includes('\0')) throw new XdrError('encode', 'string must not contain NUL characters');
    return this.opaque(Buffer.from(s, 'utf8'), max);
  }

  /** Optional (pointer) value: 0 absent, 1 then the value. */
  optional<T>(v: T | null | undefined, write: (w: this, v: T) => void): this {
    if (v === null || v === undefined) return this.uint(0);
    this.uint(1);
    write(this, v);
    return this;
  }

  array<T>(items: readonly T[], write: (w: this, v: T) => void, max = 0xffffffff): this {
    if (items.length > max) throw new XdrError('encode', `array of ${items.length} items exceeds maximum ${max}`);
    this.uint(items.length);
    for (const it of items) write(this, it);
    return this;
  }

  get length(): number {
    return this.pos;
  }

  toBuffer(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

function fail(msg: string): never {
  throw new XdrError('encode', msg);
}

export class XdrReader {
  private pos: number;

  constructor(private readonly buf: Buffer, offset = 0) {
    this.pos = offset;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) {
      throw new XdrError('decode', `truncated XDR data: need ${n} bytes at offset ${this.pos}, have ${this.buf.length - this.pos}`);
    }
  }

  int(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  bool(): boolean {
    return this.int() !== 0;
  }

  hyper(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  uhyper(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  double(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  fixedOpaque(n: number): Buffer {
    this.need(n + pad(n));
    const v = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n + pad(n);
    return v;
  }

  opaque(max = 0xffffffff): Buffer {
    const n = this.uint();
    if (n > max) throw new XdrError('decode', `opaque length ${n} exceeds maximum ${max}`);
    return this.fixedOpaque(n);
  }

  string(max = 0xffffffff): string {
    return this.opaque(max).toString('utf8');
  }

  optional<T>(read: (r: this) => T): T | null {
    const present = this.uint();
    if (present === 0) return null;
    if (present !== 1) throw new XdrError('decode', `bad optional discriminant ${present}`);
    return read(this);
  }

  array<T>(read: (r: this) => T, max = 0xffffffff): T[] {
    const n = this.uint();
    if (n > max) throw new XdrError('decode', `array length ${n} exceeds maximum ${max}`);
    // Every element takes at least 4 bytes: bound the count by what is left before looping.
    if (n * 4 > this.remaining) throw new XdrError('decode', `array length ${n} exceeds the ${this.remaining} bytes left`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(read(this));
    return out;
  }

  /** char[N] fixed array: every char widened to 4 bytes on the wire; returned as a NUL-trimmed string. */
  charArray(n: number): string {
    const bytes: number[] = [];
    for (let i = 0; i < n; i++) bytes.push(this.int() & 0xff);
    const end = bytes.indexOf(0);
    return Buffer.from(end < 0 ? bytes : bytes.slice(0, end)).toString('latin1');
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** Strict decoders call this after the last field: trailing bytes mean a layout mismatch. */
  end(): void {
    if (this.remaining !== 0) throw new XdrError('decode', `${this.remaining} unexpected trailing bytes`);
  }
}
