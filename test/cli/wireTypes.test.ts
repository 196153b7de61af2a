// The CLI's calls are typed with the `__Output` types generated from proto/ (src/cli/messages.ts): those
// describe proto-loader's decoding (int64 as decimal strings, enum names, bytes as Buffer, defaults, oneof
// names). Here the CLI's own codec is held to them at run time: each check names the kind the generated type
// allows (tsc refuses a kind the type does not have) and asserts the decoded value has it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { loadVmProto } from '../../src/core/grpc/loadProto.js';
import { decodeMessage } from '../../src/cli/wire/codec.js';
import { loadContract } from '../../src/cli/wire/descriptor.js';
import type { ExportImageStreamEvent, ImageOperationEvent } from '../../src/cli/messages.js';
import type * as pb from '../../src/generated/proto/messages.js';
import { fakeDaemonClient } from './support/fakeServer.js';

type Kind<T> = [T] extends [Buffer] ? 'Buffer' : [T] extends [string] ? 'string' : [T] extends [number] ? 'number'
  : [T] extends [boolean] ? 'boolean' : never;
const kindOf = (v: unknown) => (Buffer.isBuffer(v) ? 'Buffer' : typeof v);
/** `kind` must be what the generated type says (compile time) and what the codec produced (run time). */
function hasKind<T>(value: T, kind: Kind<T>, what: string): void {
  assert.equal(kindOf(value), kind, what);
}

describe('CLI codec decodes to the generated message types', () => {
  const d = fakeDaemonClient();

  test('int64 as decimal strings, maps, and defaults for what the daemon left out', async () => {
    d.fake.handlers.ListLocalImages = () => ({ images: [{ reference: 'demo/a:1', size: 5_000_000_000, labels: { team: 'web' } }] });
    const res = await d.client.call('ListLocalImages', {});
    const img = res.images[0]!;
    hasKind(img.size, 'string', 'int64 size');
    assert.equal(img.size, '5000000000');
    hasKind(img.diskSize, 'string', 'int64 diskSize left out');
    assert.equal(img.diskSize, '0');
    hasKind(img.digest, 'string', 'string left out');
    assert.equal(img.digest, '');
    assert.deepEqual(img.labels, { team: 'web' });
  });

  test('bytes as a Buffer, a oneof named by its member, the other members absent', async () => {
    d.fake.handlers.ExportImageStream = (_req: unknown, call: grpc.ServerWritableStream<unknown, unknown>) => {
      call.write({ data: Buffer.from('disk bytes') });
      call.end();
    };
    const events: ExportImageStreamEvent[] = [];
    for await (const ev of d.client.readStream('ExportImageStream', { reference: 'demo/a:1', format: 'DISK' })) events.push(ev);
    assert.equal(events.length, 1);
    const ev = events[0]!;
    hasKind(ev.data!, 'Buffer', 'bytes data');
    assert.equal(ev.data!.toString(), 'disk bytes');
    const member: ExportImageStreamEvent['event'] = 'data';
    assert.equal(ev.event, member);
    assert.equal(ev.done, undefined, 'an unset oneof member is absent, as the generated type says (optional)');
  });

  test('a progress event: int64 inside a oneof member, the oneof name set', async () => {
    d.fake.handlers.PullImageWithProgress = (_req: unknown, call: grpc.ServerWritableStream<unknown, unknown>) => {
      call.write({ progress: { phase: 'download', current: 10, total: 2 ** 40 } });
      call.write({ pull: { reference: 'demo/a:1', size: 123 } });
      call.end();
    };
    const events: ImageOperationEvent[] = [];
    await d.client.serverStream('PullImageWithProgress', { reference: 'demo/a:1' }, (ev) => events.push(ev));
    const [progress, pull] = events;
    assert.equal(progress!.event, 'progress');
    hasKind(progress!.progress!.total, 'string', 'int64 total');
    assert.equal(progress!.progress!.total, String(2 ** 40));
    assert.equal(pull!.event, 'pull');
    hasKind(pull!.pull!.transferred, 'string', 'int64 transferred left out');
    assert.equal(pull!.pull!.transferred, '0');
  });

  test('enums as their names, the first value when left out', () => {
    // No response of the contract holds an enum; requests do, and the codec decodes any message alike.
    const pkg = grpc.loadPackageDefinition(loadVmProto()) as unknown as { vmregistry: { v1: { VMService: grpc.ServiceClientConstructor } } };
    const def = pkg.vmregistry.v1.VMService.service.ExportImage!;
    const decode = (req: pb.ExportImageRequest) =>
      decodeMessage(loadContract(), 'vmregistry.v1.ExportImageRequest', def.requestSerialize(req)) as unknown as pb.ExportImageRequest__Output;
    const set = decode({ reference: 'demo/a:1', format: 'OCI_ARCHIVE' });
    hasKind(set.format, 'string', 'enum format');
    assert.equal(set.format, 'OCI_ARCHIVE');
    assert.equal(decode({ reference: 'demo/a:1' }).format, 'OCI_LAYOUT_DIR');
  });
});
