// The framer copies each byte once, however finely the stream is cut: re-joining everything buffered on
// every read made a 32 MiB reply in small reads quadratic. Counted, not timed: Buffer.concat is the
// only copy the framer makes, so the bytes it is asked to join are the cost.
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { MESSAGE_MAX, PacketFramer, encodePacket } from '../../src/plugins/libvirt/rpc/packet.js';

let copied = 0;
const realConcat = Buffer.concat;
beforeEach(() => {
  copied = 0;
  Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
    copied += total ?? list.reduce((n, b) => n + b.length, 0);
    return realConcat(list, total);
  }) as typeof Buffer.concat;
});
afterEach(() => { Buffer.concat = realConcat; });

function frame(payloadBytes: number, serial: number): Buffer {
  const payload = Buffer.alloc(payloadBytes, serial & 0xff);
  const f = realConcat([encodePacket({ prog: 0x20008086, vers: 1, proc: 1, type: 1, serial, status: 0 }), payload]);
  f.writeUInt32BE(f.length, 0);
  return f;
}

function feed(stream: Buffer, chunk: number): Buffer[] {
  const f = new PacketFramer();
  const out: Buffer[] = [];
  for (let o = 0; o < stream.length; o += chunk) out.push(...f.push(stream.subarray(o, o + chunk)));
  assert.equal(f.pending, 0);
  return out;
}

test('framer: a 1 MiB reply in 256-byte reads is copied once, not once per read', () => {
  const a = frame(1 << 20, 7);
  const out = feed(a, 256);
  assert.equal(out.length, 1);
  assert.ok(out[0]!.equals(a));
  assert.ok(copied <= a.length, `copied ${copied} bytes for a ${a.length}-byte packet`);
});

test('framer: a maximum-size (32 MiB) reply in 4 KiB reads, followed by small packets cut across reads', () => {
  const big = frame(MESSAGE_MAX - 24, 1);
  const small = [frame(10, 2), frame(0, 3), frame(5000, 4)];
  const stream = realConcat([big, ...small]);
  const out = feed(stream, 4093); // odd size: length words and headers straddle reads
  assert.deepEqual(out.map((f) => f.readUInt32BE(20)), [1, 2, 3, 4]);
  assert.ok(out[0]!.equals(big));
  assert.ok(out[3]!.equals(small[2]!));
  assert.ok(copied <= stream.length, `copied ${copied} bytes for ${stream.length} bytes of packets`);
});

test('framer: length word split over single-byte reads', () => {
  const a = frame(3, 9);
  const out = feed(realConcat([a, a]), 1);
  assert.equal(out.length, 2);
  assert.ok(out[1]!.equals(a));
});
