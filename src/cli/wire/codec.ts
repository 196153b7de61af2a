// Protobuf encoding and decoding driven by the compiled contract, with @grpc/proto-loader's semantics for
// the contract's options (encode = protobufjs fromObject + encode; decode = decode + toObject with camelCase
// names, int64 as decimal strings, enum names, defaults filled in, oneof names set). test/cli/wire.test.ts
// checks both directions against protobufjs on every message of the contract.
import type { Contract, FieldDesc, MessageDesc } from './contract.js';

const LONG = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const VARINT = new Set(['int32', 'uint32', 'sint32', 'int64', 'uint64', 'sint64', 'bool']);
const FIXED64 = new Set(['fixed64', 'sfixed64', 'double']);
const FIXED32 = new Set(['fixed32', 'sfixed32', 'float']);

function wireType(f: { type: string; kind: string }): number {
  if (f.kind === 'message') return 2;
  if (f.kind === 'enum' || VARINT.has(f.type)) return 0;
  if (FIXED64.has(f.type)) return 1;
  if (FIXED32.has(f.type)) return 5;
  return 2; // string, bytes
}

// ---- encoding ------------------------------------------------------------------------------------

/** A bytes field at least this long is kept by reference instead of copied (an upload's 1 MiB disk chunks). */
const BY_REFERENCE = 64 << 10;

class Writer {
  private buf = Buffer.allocUnsafe(256);
  len = 0;
  /** What was written before the last field kept by reference, and that field, in order. */
  private readonly cut: Buffer[] = [];

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  varint(v: number): void {
    this.room(10);
    let n = v >>> 0;
    let hi = Math.floor(v / 2 ** 32) >>> 0;
    if (v < 0) {
      // negative int32/enum: sign-extended to 64 bits, ten bytes
      this.varint64(BigInt.asUintN(64, BigInt(Math.trunc(v))));
      return;
    }
    while (hi > 0 || n > 0x7f) {
      this.buf[this.len++] = (n & 0x7f) | 0x80;
      n = ((n >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.buf[this.len++] = n;
  }

  varint64(v: bigint): void {
    this.room(10);
    while (v > 0x7fn) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }

  tag(id: number, wt: number): void {
    this.varint(id * 8 + wt);
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length);
    if (b.length >= BY_REFERENCE) {
      this.cut.push(this.buf.subarray(0, this.len), Buffer.from(b.buffer, b.byteOffset, b.length));
      this.buf = Buffer.allocUnsafe(256);
      this.len = 0;
      return;
    }
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  fixed(size: 4 | 8, write: (buf: Buffer, at: number) => void): void {
    this.room(size);
    write(this.buf, this.len);
    this.len += size;
  }

  finish(): Buffer {
    const tail = this.buf.subarray(0, this.len);
    return this.cut.length === 0 ? tail : Buffer.concat([...this.cut, tail]);
  }

  /** The encoding as pieces: fields kept by reference are not copied into one buffer. */
  parts(): Buffer[] {
    return [...this.cut, this.buf.subarray(0, this.len)].filter((b) => b.length > 0);
  }
}

function toBigInt(v: unknown, unsigned: boolean): bigint {
  let b: bigint;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number') b = BigInt(Math.trunc(v));
  else if (typeof v === 'string') b = BigInt(/^\s*$/.test(v) ? 0 : v.trim());
  else if (v && typeof v === 'object' && 'low' in v && 'high' in v) {
    const o = v as { low: number; high: number };
    b = (BigInt(o.high >>> 0) << 32n) | BigInt(o.low >>> 0);
  } else b = 0n;
  return unsigned ? BigInt.asUintN(64, b) : BigInt.asIntN(64, b);
}

/** fromObject's conversion of one value; undefined = leave the field out (an unknown enum name). */
function convertIn(c: Contract, f: { type: string; kind: string; name: string }, v: unknown): unknown {
  if (f.kind === 'enum') {
    const values = c.enums[f.type]!;
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && Object.hasOwn(values, v)) return values[v];
    return undefined;
  }
  if (f.kind === 'message') {
    if (typeof v !== 'object' || v === null) throw new TypeError(`.${f.type}: object expected for ${f.name}`);
    return v;
  }
  switch (f.type) {
    case 'double': case 'float': return Number(v);
    case 'uint32': case 'fixed32': return (v as number) >>> 0;
    case 'int32': case 'sint32': case 'sfixed32': return (v as number) | 0;
    case 'uint64': case 'fixed64': return toBigInt(v, true);
    case 'int64': case 'sint64': case 'sfixed64': return toBigInt(v, false);
    case 'bytes': return typeof v === 'string' ? Buffer.from(v, 'base64') : v;
    case 'string': return String(v);
    case 'bool': return Boolean(v);
    default: throw new TypeError(`unknown scalar type ${f.type}`);
  }
}

function writeValue(c: Contract, w: Writer, type: string, kind: string, v: unknown): void {
  if (kind === 'message') {
    w.bytes(encodeMessage(c, type, v as Record<string, unknown>));
    return;
  }
  if (kind === 'enum') {
    w.varint(v as number);
    return;
  }
  switch (type) {
    case 'string': w.bytes(Buffer.from(v as string, 'utf8')); return;
    case 'bytes': w.bytes(v as Uint8Array); return;
    case 'bool': w.varint(v ? 1 : 0); return;
    case 'int32': case 'uint32': w.varint(v as number); return;
    case 'sint32': w.varint((((v as number) << 1) ^ ((v as number) >> 31)) >>> 0); return;
    case 'int64': case 'uint64': w.varint64(BigInt.asUintN(64, v as bigint)); return;
    case 'sint64': w.varint64(BigInt.asUintN(64, ((v as bigint) << 1n) ^ ((v as bigint) >> 63n))); return;
    case 'fixed32': w.fixed(4, (b, at) => b.writeUInt32LE(v as number, at)); return;
    case 'sfixed32': w.fixed(4, (b, at) => b.writeInt32LE(v as number, at)); return;
    case 'float': w.fixed(4, (b, at) => b.writeFloatLE(v as number, at)); return;
    case 'fixed64': w.fixed(8, (b, at) => b.writeBigUInt64LE(v as bigint, at)); return;
    case 'sfixed64': w.fixed(8, (b, at) => b.writeBigInt64LE(v as bigint, at)); return;
    case 'double': w.fixed(8, (b, at) => b.writeDoubleLE(v as number, at)); return;
    default: throw new TypeError(`unknown scalar type ${type}`);
  }
}

function mapKey(keyType: string, k: string): unknown {
  if (keyType === 'bool') return k === 'true';
  if (LONG.has(keyType)) return toBigInt(k, keyType === 'uint64' || keyType === 'fixed64');
  if (keyType === 'string') return k;
  return Number(k);
}

/** Encodes a plain object of message `type`. */
export function encodeMessage(c: Contract, type: string, obj: Record<string, unknown>): Buffer {
  return writeMessage(c, type, obj).finish();
}

/** encodeMessage as pieces to send one after the other: a large bytes field is one of them, not copied. */
export function encodeMessageParts(c: Contract, type: string, obj: Record<string, unknown>): Buffer[] {
  return writeMessage(c, type, obj).parts();
}

function writeMessage(c: Contract, type: string, obj: Record<string, unknown>): Writer {
  const desc = c.messages[type];
  if (!desc) throw new TypeError(`unknown message type ${type}`);
  const w = new Writer();
  for (const f of desc.fields) {
    const v = obj[f.name];
    if (v === undefined || v === null) continue;
    if (f.keyType) {
      if (typeof v !== 'object') throw new TypeError(`.${type}.${f.name}: object expected`);
      for (const [k, raw] of Object.entries(v as Record<string, unknown>)) {
        const val = convertIn(c, f, raw);
        const entry = new Writer();
        entry.tag(1, wireType({ type: f.keyType, kind: 'scalar' }));
        writeValue(c, entry, f.keyType, 'scalar', mapKey(f.keyType, k));
        if (val !== undefined) {
          entry.tag(2, wireType(f));
          writeValue(c, entry, f.type, f.kind, val);
        }
        w.tag(f.id, 2);
        w.bytes(entry.finish());
      }
    } else if (f.repeated) {
      if (!Array.isArray(v)) throw new TypeError(`.${type}.${f.name}: array expected`);
      const values = v.map((x) => convertIn(c, f, x) ?? 0);
      if (values.length === 0) continue;
      if (f.packed && wireType(f) !== 2) {
        const packed = new Writer();
        for (const x of values) writeValue(c, packed, f.type, f.kind, x);
        w.tag(f.id, 2);
        w.bytes(packed.finish());
      } else {
        for (const x of values) {
          w.tag(f.id, wireType(f));
          writeValue(c, w, f.type, f.kind, x);
        }
      }
    } else {
      const val = convertIn(c, f, v);
      if (val === undefined) continue;
      w.tag(f.id, wireType(f));
      writeValue(c, w, f.type, f.kind, val);
    }
  }
  return w;
}

// ---- decoding ------------------------------------------------------------------------------------

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer, readonly end = buf.length) {}

  varint64(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new RangeError('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, result);
      shift += 7n;
      if (shift > 63n) throw new RangeError('varint too long');
    }
  }

  /** The low 32 bits of a varint, unsigned (fast path for tags, lengths, int32, enums, bools). */
  varint32(): number {
    let result = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= this.end) throw new RangeError('truncated varint');
      const b = this.buf[this.pos++]!;
      if (shift < 32) result |= (b & 0x7f) << shift;
      if (b < 0x80) return result >>> 0;
    }
    throw new RangeError('varint too long');
  }

  take(n: number): Buffer {
    if (this.pos + n > this.end) throw new RangeError('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(wt: number): void {
    if (wt === 0) this.varint32();
    else if (wt === 1) this.take(8);
    else if (wt === 2) this.take(this.varint32());
    else if (wt === 5) this.take(4);
    else if (wt === 3) {
      for (;;) {
        const t = this.varint32();
        if ((t & 7) === 4) return;
        this.skip(t & 7);
      }
    } else throw new RangeError(`invalid wire type ${wt}`);
  }
}

function readScalar(r: Reader, type: string): unknown {
  switch (type) {
    case 'string': return r.take(r.varint32()).toString('utf8');
    case 'bytes': return Buffer.from(r.take(r.varint32()));
    case 'bool': return r.varint64() !== 0n;
    case 'int32': return r.varint32() | 0;
    case 'uint32': return r.varint32();
    case 'sint32': { const n = r.varint32(); return (n >>> 1) ^ -(n & 1); }
    case 'int64': return BigInt.asIntN(64, r.varint64()).toString();
    case 'uint64': return r.varint64().toString();
    case 'sint64': { const n = r.varint64(); return ((n >> 1n) ^ -(n & 1n)).toString(); }
    case 'fixed32': return r.take(4).readUInt32LE(0);
    case 'sfixed32': return r.take(4).readInt32LE(0);
    case 'float': return r.take(4).readFloatLE(0);
    case 'fixed64': return r.take(8).readBigUInt64LE(0).toString();
    case 'sfixed64': return r.take(8).readBigInt64LE(0).toString();
    case 'double': return r.take(8).readDoubleLE(0);
    default: throw new TypeError(`unknown scalar type ${type}`);
  }
}

function readValue(c: Contract, r: Reader, f: { type: string; kind: string }): unknown {
  if (f.kind === 'message') {
    const len = r.varint32();
    const sub = r.take(len);
    return decodeMessage(c, f.type, sub);
  }
  if (f.kind === 'enum') {
    const n = r.varint32() | 0;
    const names = enumNames(c, f.type);
    return names.get(n) ?? n;
  }
  return readScalar(r, f.type);
}

const namesCache = new WeakMap<Record<string, number>, Map<number, string>>();
function enumNames(c: Contract, type: string): Map<number, string> {
  const values = c.enums[type]!;
  let m = namesCache.get(values);
  if (!m) {
    m = new Map();
    // protobufjs's valuesById: the last name of an aliased number wins
    for (const [k, v] of Object.entries(values)) m.set(v, k);
    namesCache.set(values, m);
  }
  return m;
}

function defaultOf(c: Contract, f: FieldDesc): unknown {
  if (f.kind === 'message') return null;
  if (f.kind === 'enum') {
    const first = Object.values(c.enums[f.type]!)[0] ?? 0;
    return enumNames(c, f.type).get(first) ?? first;
  }
  if (LONG.has(f.type)) return '0';
  if (f.type === 'string') return '';
  if (f.type === 'bool') return false;
  if (f.type === 'bytes') return Buffer.alloc(0);
  return 0;
}

/** Decodes message `type` into the plain object proto-loader would hand over. */
export function decodeMessage(c: Contract, type: string, buf: Buffer): Record<string, unknown> {
  const desc: MessageDesc | undefined = c.messages[type];
  if (!desc) throw new TypeError(`unknown message type ${type}`);
  const byId = new Map(desc.fields.map((f) => [f.id, f]));
  const seen = new Map<string, unknown>();
  const r = new Reader(buf);
  while (r.pos < r.end) {
    const t = r.varint32();
    const id = t >>> 3;
    const wt = t & 7;
    const f = byId.get(id);
    if (!f) {
      r.skip(wt);
      continue;
    }
    if (f.keyType) {
      const len = r.varint32();
      const entry = new Reader(r.buf, r.pos + len);
      entry.pos = r.pos;
      let key: unknown = defaultOf(c, { ...f, type: f.keyType, kind: 'scalar' });
      let value: unknown = f.kind === 'message' ? decodeMessage(c, f.type, Buffer.alloc(0)) : defaultOf(c, f);
      while (entry.pos < entry.end) {
        const et = entry.varint32();
        if (et >>> 3 === 1) key = readScalar(entry, f.keyType);
        else if (et >>> 3 === 2) value = readValue(c, entry, f);
        else entry.skip(et & 7);
      }
      r.pos = entry.end;
      const map = (seen.get(f.name) as Record<string, unknown> | undefined) ?? {};
      map[String(key)] = value;
      seen.set(f.name, map);
    } else if (f.repeated) {
      const list = (seen.get(f.name) as unknown[] | undefined) ?? [];
      if (wt === 2 && wireType(f) !== 2) {
        const len = r.varint32();
        const end = r.pos + len;
        const packed = new Reader(r.buf, end);
        packed.pos = r.pos;
        while (packed.pos < end) list.push(readValue(c, packed, f));
        r.pos = end;
      } else list.push(readValue(c, r, f));
      seen.set(f.name, list);
    } else {
      seen.set(f.name, readValue(c, r, f));
    }
  }
  // toObject's order: repeated defaults, map defaults, other defaults, then what was on the wire by id.
  const d: Record<string, unknown> = {};
  for (const f of desc.fields) if (!f.oneof && f.repeated && !f.keyType) d[f.name] = [];
  for (const f of desc.fields) if (!f.oneof && f.keyType) d[f.name] = {};
  for (const f of desc.fields) if (!f.oneof && !f.repeated && !f.keyType) d[f.name] = defaultOf(c, f);
  for (const f of desc.fields) {
    if (!seen.has(f.name)) continue;
    const v = seen.get(f.name);
    if (f.keyType) {
      if (Object.keys(v as object).length > 0) d[f.name] = v;
    } else if (f.repeated) {
      if ((v as unknown[]).length > 0) d[f.name] = v;
    } else {
      d[f.name] = v;
      if (f.oneof) d[f.oneof] = f.name;
    }
  }
  return d;
}
