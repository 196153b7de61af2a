// HPACK's static Huffman code (RFC 7541 §5.2, Appendix B), decode only: servers (nghttp2 under grpc-js)
// Huffman-code most header strings, while our encoder sends plain literals, which HPACK always allows.
// The code is canonical (codes of one length are consecutive, in symbol order, and shorter codes come
// first), so the bit lengths below are the whole table; codes are rebuilt from them as the RFC lists them
// (test/cli/hpack.test.ts checks codes and the Appendix C vectors).

/** Code length in bits of symbols 0..255 and EOS (256), rows of 16 as in RFC 7541 Appendix B. */
const LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;
const MAX_BITS = 30;

interface Canonical {
  /** First code of each length, as a number of that many bits. */
  first: Int32Array;
  /** How many codes have each length. */
  count: Int32Array;
  /** Index in `symbols` of the first symbol of each length. */
  offset: Int32Array;
  /** Symbols sorted by (length, symbol): the canonical order. */
  symbols: Uint16Array;
}

let table: Canonical | undefined;

// Built on the first Huffman string rather than at load: a `vmr --version` never needs it.
function canonical(): Canonical {
  if (table) return table;
  const count = new Int32Array(MAX_BITS + 1);
  for (const len of LENGTHS) count[len]!++;
  const first = new Int32Array(MAX_BITS + 1);
  const offset = new Int32Array(MAX_BITS + 1);
  let code = 0;
  let index = 0;
  for (let len = 1; len <= MAX_BITS; len++) {
    first[len] = code;
    offset[len] = index;
    code = (code + count[len]!) * 2;
    index += count[len]!;
  }
  const symbols = new Uint16Array(LENGTHS.length);
  const next = Int32Array.from(offset);
  LENGTHS.forEach((len, symbol) => { symbols[next[len]!++] = symbol; });
  table = { first, count, offset, symbols };
  return table;
}

/** Every symbol's code as RFC 7541 Appendix B lists it (for the tests). */
export function huffmanCodes(): { code: number; bits: number }[] {
  const t = canonical();
  const out: { code: number; bits: number }[] = [];
  for (let len = 1; len <= MAX_BITS; len++) {
    for (let i = 0; i < t.count[len]!; i++) out[t.symbols[t.offset[len]! + i]!] = { code: t.first[len]! + i, bits: len };
  }
  return out;
}

/**
 * Decodes a Huffman-coded string. Per §5.2 the padding must be the most significant bits of EOS (all
 * ones) and shorter than a byte, and EOS itself must not appear: anything else is a decoding error.
 */
export function huffmanDecode(input: Buffer): Buffer {
  const { first, count, offset, symbols } = canonical();
  const out = Buffer.allocUnsafe(Math.ceil((input.length * 8) / 5));
  let n = 0;
  let code = 0;
  let len = 0;
  let ones = true; // the bits of the code in progress are all ones (a valid padding so far)
  for (const byte of input) {
    for (let bit = 7; bit >= 0; bit--) {
      const b = (byte >> bit) & 1;
      code = code * 2 + b;
      len++;
      ones &&= b === 1;
      const i = code - first[len]!;
      if (i < count[len]!) {
        const symbol = symbols[offset[len]! + i]!;
        if (symbol === EOS) throw new Error('HPACK: EOS in a Huffman string');
        out[n++] = symbol;
        code = 0;
        len = 0;
        ones = true;
      } else if (len >= MAX_BITS) throw new Error('HPACK: invalid Huffman code');
    }
  }
  if (len > 7 || !ones) throw new Error('HPACK: invalid Huffman padding');
  return out.subarray(0, n);
}
