// The CLI's HPACK (src/cli/wire/hpack.ts, huffman.ts) against RFC 7541: the Appendix B code table, the
// Appendix C examples (with and without Huffman, table eviction at size 256), and the error cases.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HpackDecoder, HpackError, encodeHeaders } from '../../src/cli/wire/hpack.js';
import { huffmanCodes, huffmanDecode } from '../../src/cli/wire/huffman.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** A Huffman encoder for the tests (the CLI never encodes with Huffman): codes MSB first, 1-padded. */
function huffmanEncode(bytes: Buffer): Buffer {
  const codes = huffmanCodes();
  const out: number[] = [];
  let acc = 0n;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << BigInt(codes[b]!.bits)) | BigInt(codes[b]!.code);
    bits += codes[b]!.bits;
    while (bits >= 8) {
      out.push(Number((acc >> BigInt(bits - 8)) & 0xffn));
      bits -= 8;
    }
  }
  if (bits > 0) out.push(Number(((acc << BigInt(8 - bits)) | ((1n << BigInt(8 - bits)) - 1n)) & 0xffn));
  return Buffer.from(out);
}

describe('HPACK Huffman code (RFC 7541 Appendix B)', () => {
  test('codes and lengths are the RFC\'s', () => {
    const codes = huffmanCodes();
    assert.equal(codes.length, 257);
    // Spot checks across the table, as printed in Appendix B.
    assert.deepEqual(codes[0], { code: 0x1ff8, bits: 13 });
    assert.deepEqual(codes[1], { code: 0x7fffd8, bits: 23 });
    assert.deepEqual(codes[10], { code: 0x3ffffffc, bits: 30 });
    assert.deepEqual(codes[32], { code: 0x14, bits: 6 }); // ' '
    assert.deepEqual(codes[48], { code: 0x0, bits: 5 }); // '0'
    assert.deepEqual(codes[97], { code: 0x3, bits: 5 }); // 'a'
    assert.deepEqual(codes[116], { code: 0x9, bits: 5 }); // 't'
    assert.deepEqual(codes[126], { code: 0x1ffd, bits: 13 }); // '~'
    assert.deepEqual(codes[200], { code: 0x3ffffe2, bits: 26 });
    assert.deepEqual(codes[255], { code: 0x3ffffee, bits: 26 });
    assert.deepEqual(codes[256], { code: 0x3fffffff, bits: 30 }); // EOS
  });

  test('every byte value decodes back, alone and in a run', () => {
    for (let b = 0; b < 256; b++) assert.deepEqual(huffmanDecode(huffmanEncode(Buffer.from([b]))), Buffer.from([b]), `byte ${b}`);
    const all = Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 7 + 3) % 256));
    assert.deepEqual(huffmanDecode(huffmanEncode(all)), all);
    assert.equal(huffmanDecode(Buffer.alloc(0)).length, 0);
  });

  test('bad padding, a padded EOS and an EOS symbol are refused', () => {
    // 'a' is 00011: padding with zeros instead of ones.
    assert.throws(() => huffmanDecode(Buffer.from([0b0001_1000])), /padding/);
    // Eight or more padding bits: a whole byte of ones after a complete symbol.
    assert.throws(() => huffmanDecode(Buffer.from([0b0001_1111, 0xff])), /padding/);
    // EOS itself (30 ones) inside the string.
    assert.throws(() => huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff])), /EOS/);
  });
});

describe('HPACK decoder (RFC 7541 Appendix C)', () => {
  test('C.3: requests without Huffman, the dynamic table filling', () => {
    const d = new HpackDecoder();
    assert.deepEqual(d.decode(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d')),
      [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']]);
    assert.equal(d.table.size, 57);
    assert.deepEqual(d.decode(hex('8286 84be 5808 6e6f 2d63 6163 6865')),
      [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']]);
    assert.equal(d.table.size, 110);
    assert.deepEqual(d.decode(hex('8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65')),
      [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']]);
    assert.deepEqual(d.table.entries, [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']]);
    assert.equal(d.table.size, 164);
  });

  test('C.4: requests with Huffman', () => {
    const d = new HpackDecoder();
    assert.deepEqual(d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff')),
      [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']]);
    assert.deepEqual(d.decode(hex('8286 84be 5886 a8eb 1064 9cbf')),
      [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']]);
    assert.deepEqual(d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')),
      [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']]);
    assert.equal(d.table.size, 164);
  });

  test('C.6: responses with Huffman, evicting from a 256-octet table', () => {
    const d = new HpackDecoder(256);
    const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
    const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
    const loc = 'https://www.example.com';
    assert.deepEqual(d.decode(hex(`4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
      2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`)),
    [[':status', '302'], ['cache-control', 'private'], ['date', date1], ['location', loc]]);
    assert.equal(d.table.size, 222);
    assert.deepEqual(d.decode(hex('4883 640e ffc1 c0bf')),
      [[':status', '307'], ['cache-control', 'private'], ['date', date1], ['location', loc]]);
    assert.deepEqual(d.table.entries.map((e) => e[0]), [':status', 'location', 'date', 'cache-control']);
    assert.equal(d.table.size, 222);
    assert.deepEqual(d.decode(hex(`88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
      77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5
      b106 3d50 07`)),
    [[':status', '200'], ['cache-control', 'private'], ['date', date2], ['location', loc], ['content-encoding', 'gzip'],
      ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1']]);
    assert.deepEqual(d.table.entries.map((e) => e[0]), ['set-cookie', 'content-encoding', 'date']);
    assert.equal(d.table.size, 215);
  });

  test('table size updates: evict, and are refused above our setting or after a field', () => {
    const d = new HpackDecoder();
    d.decode(hex('418c f1e3 c2e5 f23a 6ba0 ab90 f4ff')); // :authority: www.example.com, with indexing
    assert.equal(d.table.entries.length, 1);
    assert.deepEqual(d.decode(hex('20 82')), [[':method', 'GET']]); // size 0 empties the table
    assert.equal(d.table.entries.length, 0);
    assert.throws(() => d.decode(hex('3fe2 1f')), HpackError); // 4097 > 4096
    assert.throws(() => d.decode(hex('82 20')), HpackError);
    assert.throws(() => d.decode(hex('be')), HpackError); // index 62 with an empty table
    assert.throws(() => d.decode(hex('80')), HpackError); // index 0
    assert.throws(() => d.decode(hex('0f')), HpackError); // truncated
  });

  test('never-indexed literals and long integers', () => {
    const d = new HpackDecoder();
    assert.deepEqual(d.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), [['password', 'secret']]); // C.2.3
    const big = 'x'.repeat(70_000);
    assert.deepEqual(d.decode(encodeHeaders([['grpc-message', big], ['A-Name', '']])), [['grpc-message', big], ['a-name', '']]);
    assert.equal(d.table.entries.length, 0, 'our literals are not indexed');
  });
});
