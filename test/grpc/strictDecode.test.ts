// Issue 16.10: a request that does not decode exactly is refused with INVALID_ARGUMENT before any
// handler runs. Bytes are sent through a raw grpc-js client with an identity serializer.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { fakeAuthPlugin, fakeLibvirtPlugin, fakeRegistryPlugin, startTestDaemon, type TestDaemon } from '../../src/testing/index.js';
import composePlugin from '../../src/plugins/compose/index.js';
import { loadVmProto } from '../../src/core/grpc/loadProto.js';

type Method = { path: string; requestSerialize: (m: unknown) => Buffer };
const service = loadVmProto()['vmregistry.v1.VMService'] as unknown as Record<string, Method>;
const encode = (rpc: string, msg: object) => service[rpc]!.requestSerialize(msg);
const id = (b: Buffer) => b;

/** Protobuf wire bytes by hand: [field, wireType, payload] with payload bytes or a varint. */
function wire(...fields: Array<[number, number, Buffer | number]>): Buffer {
  const varint = (n: number) => {
    const out: number[] = [];
    do { out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0)); n = Math.floor(n / 128); } while (n > 0);
    return Buffer.from(out);
  };
  return Buffer.concat(fields.map(([f, w, p]) => Buffer.concat([varint(f * 8 + w), typeof p === 'number' ? varint(p) : Buffer.concat([varint(p.length), p])])));
}

describe('strict request decoding', () => {
  let td: TestDaemon;
  let raw: grpc.Client;
  const unary = (rpc: string, bytes: Buffer) => new Promise<grpc.ServiceError | null>((resolve) => {
    raw.makeUnaryRequest(service[rpc]!.path, id, id, bytes, { deadline: Date.now() + 10_000 }, (err) => resolve(err));
  });
  before(async () => {
    td = await startTestDaemon({ plugins: [fakeLibvirtPlugin(), fakeRegistryPlugin(), fakeAuthPlugin(), composePlugin] });
    raw = new grpc.Client(`unix://${td.socket}`, grpc.credentials.createInsecure());
  });
  after(async () => { raw?.close(); await td?.stop(); });

  it('accepts exact encodings (the same bytes the generated client sends)', async () => {
    const err = await unary('NetworkGet', encode('NetworkGet', { name: 'nope' }));
    assert.equal(err?.code, grpc.status.NOT_FOUND);
    // Unknown fields are skipped as proto3 says, as long as they are framed correctly.
    const unknown = Buffer.concat([encode('NetworkGet', { name: 'nope' }), wire([99, 2, Buffer.from('x')], [98, 0, 7])]);
    assert.equal((await unary('NetworkGet', unknown))?.code, grpc.status.NOT_FOUND);
  });

  const corrupt: Array<[string, string, Buffer, RegExp]> = [
    ['a length prefix past the end', 'NetworkGet', Buffer.concat([Buffer.from([0x0a, 0x40]), Buffer.from('abc')]), /claims 64 bytes but only 3 remain/],
    ['a string field sent as a varint', 'NetworkGet', wire([1, 0, 5]), /wire type 0, not 2/],
    ['invalid UTF-8 in a string', 'NetworkGet', wire([1, 2, Buffer.from([0x61, 0xff, 0x62])]), /not valid UTF-8/],
    ['wire type 7', 'NetworkGet', Buffer.from([0x0f, 0x01]), /wire type 7/],
    ['a truncated varint', 'StopVM', Buffer.concat([encode('StopVM', { vm: 'x' }), Buffer.from([0x18, 0xff])]), /truncated varint/],
    ['a nested message whose field runs past its end', 'RunVM',
      wire([1, 2, Buffer.from('img:1')], [3, 2, Buffer.from([0x32, 0x20, 0x61])]), /field 6 of .*VMRunOptions.* claims 32 bytes/],
    ['a map entry with a bad value', 'ComposeUp', wire([2, 2, Buffer.from('x')], [6, 2, wire([1, 2, Buffer.from('K')], [2, 0, 1])]), /wire type 0, not 2/],
    ['a truncated request (the issue\'s garbled ComposeUp)', 'ComposeUp',
      encode('ComposeUp', { projectName: 'proj', content: 'api_version: x\n' }).subarray(0, 12), /claims \d+ bytes but only \d+ remain/],
  ];
  for (const [what, rpc, bytes, reason] of corrupt) {
    it(`refuses ${what} with INVALID_ARGUMENT (${rpc})`, async () => {
      const err = await unary(rpc, bytes);
      assert.equal(err?.code, grpc.status.INVALID_ARGUMENT, `${err && grpc.status[err.code]} ${err?.details}`);
      assert.match(err!.details, /^malformed request: /);
      assert.match(err!.details, reason);
    });
  }

  it('refuses malformed messages of server and client streams too', async () => {
    const stream = raw.makeServerStreamRequest(service.PullImageWithProgress!.path, id, id, wire([1, 0, 1]), { deadline: Date.now() + 10_000 });
    const sErr = await new Promise<grpc.ServiceError>((resolve) => { stream.on('error', resolve); stream.on('data', () => undefined); });
    assert.equal(sErr.code, grpc.status.INVALID_ARGUMENT);
    const cErr = await new Promise<grpc.ServiceError | null>((resolve) => {
      const c = raw.makeClientStreamRequest(service.ImportImageStream!.path, id, id, { deadline: Date.now() + 10_000 }, (err) => resolve(err));
      c.write(Buffer.from([0x0a, 0x7f, 0x00]));
      c.end();
    });
    assert.equal(cErr?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(cErr!.details, /malformed request/);
  });
});
