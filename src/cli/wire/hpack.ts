// HPACK (RFC 7541) for the CLI's HTTP/2 client. The encoder only sends literals "without indexing": a
// CLI call sends a handful of short headers once, so a dynamic table would save nothing and cost state.
// The decoder takes every form a server may send (nghttp2 indexes, Huffman-codes and resizes its table).
import { huffmanDecode } from './huffman.js';

export type HeaderList = [name: string, value: string][];

const STATIC: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

/** A malformed header block: HTTP/2 makes it a connection error (COMPRESSION_ERROR). */
export class HpackError extends Error {}

/** Writes an integer with an N-bit prefix (§5.1) whose high bits are `flags`. */
function pushInt(out: number[], flags: number, prefixBits: number, value: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

function pushString(out: number[], s: string): void {
  const bytes = Buffer.from(s, 'latin1');
  pushInt(out, 0, 7, bytes.length); // H bit clear: a plain literal
  for (const b of bytes) out.push(b);
}

/** A header block of literals without indexing (§6.2.2), lower-case names as HTTP/2 requires. */
export function encodeHeaders(headers: HeaderList): Buffer {
  const out: number[] = [];
  for (const [name, value] of headers) {
    out.push(0);
    pushString(out, name.toLowerCase());
    pushString(out, value);
  }
  return Buffer.from(out);
}

/** One connection's decoding context: the dynamic table lives as long as the connection. */
export class HpackDecoder {
  /** Newest first, as HPACK indexes it. */
  private dynamic: [string, string][] = [];
  private size = 0;
  private max: number;

  /** `limit` is the SETTINGS_HEADER_TABLE_SIZE we announced: the most the peer may resize the table to. */
  constructor(private readonly limit = 4096) {
    this.max = limit;
  }

  /** Decodes a complete header block (HEADERS plus its CONTINUATIONs). */
  decode(block: Buffer): HeaderList {
    const headers: HeaderList = [];
    let pos = 0;
    const int = (prefixBits: number): number => {
      const max = (1 << prefixBits) - 1;
      let value = block[pos++]! & max;
      if (value < max) return value;
      let shift = 1;
      for (;;) {
        if (pos >= block.length) throw new HpackError('HPACK: truncated integer');
        const b = block[pos++]!;
        value += (b & 127) * shift;
        shift *= 128;
        if (value > 0xffffffff) throw new HpackError('HPACK: integer overflow');
        if (b < 128) return value;
      }
    };
    const str = (): string => {
      if (pos >= block.length) throw new HpackError('HPACK: truncated string');
      const huffman = (block[pos]! & 0x80) !== 0;
      const len = int(7);
      if (pos + len > block.length) throw new HpackError('HPACK: truncated string');
      const raw = block.subarray(pos, pos + len);
      pos += len;
      if (!huffman) return raw.toString('latin1');
      try {
        return huffmanDecode(raw).toString('latin1');
      } catch (err) {
        throw new HpackError((err as Error).message);
      }
    };
    let fieldSeen = false;
    while (pos < block.length) {
      const first = block[pos]!;
      if (first & 0x80) {
        headers.push(this.entry(int(7))); // indexed field (§6.1)
        fieldSeen = true;
      } else if (first & 0x40) {
        const index = int(6); // literal with incremental indexing (§6.2.1)
        const name = index ? this.entry(index)[0] : str();
        const field: [string, string] = [name, str()];
        this.add(field);
        headers.push(field);
        fieldSeen = true;
      } else if (first & 0x20) {
        // Dynamic table size update (§6.3): only at the start of a block (§4.2), never above our setting.
        if (fieldSeen) throw new HpackError('HPACK: table size update after a header field');
        const max = int(5);
        if (max > this.limit) throw new HpackError(`HPACK: table size ${max} above the ${this.limit} allowed`);
        this.max = max;
        this.evict(0);
      } else {
        const index = int(4); // literal without indexing (0000) or never indexed (0001)
        const name = index ? this.entry(index)[0] : str();
        headers.push([name, str()]);
        fieldSeen = true;
      }
    }
    return headers;
  }

  /** The table's entries, newest first, and its size (for the RFC vectors' checks). */
  get table(): { entries: readonly (readonly [string, string])[]; size: number } {
    return { entries: this.dynamic, size: this.size };
  }

  private entry(index: number): [string, string] {
    if (index === 0) throw new HpackError('HPACK: index 0');
    if (index <= STATIC.length) return [STATIC[index - 1]![0], STATIC[index - 1]![1]];
    const e = this.dynamic[index - STATIC.length - 1];
    if (!e) throw new HpackError(`HPACK: index ${index} beyond the table`);
    return [e[0], e[1]];
  }

  private add(field: [string, string]): void {
    const cost = entrySize(field);
    // An entry larger than the table empties it and is not added (§4.4).
    this.evict(cost);
    if (cost <= this.max) {
      this.dynamic.unshift(field);
      this.size += cost;
    }
  }

  /** Evicts the oldest entries until `room` more octets fit. */
  private evict(room: number): void {
    while (this.dynamic.length > 0 && this.size + room > this.max) this.size -= entrySize(this.dynamic.pop()!);
  }
}

/** §4.1: an entry's size is its name's and value's length in octets plus 32. */
function entrySize([name, value]: readonly [string, string]): number {
  return Buffer.byteLength(name, 'latin1') + Buffer.byteLength(value, 'latin1') + 32;
}
