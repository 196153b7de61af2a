// The CLI speaks gRPC itself (src/cli/wire): its codec must give exactly what @grpc/proto-loader gives
// (the daemon's side), for every message of the contract, and its calls must end the way grpc-js's do.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type * as pb from 'protobufjs';
import { loadVmProto } from '../../src/core/grpc/loadProto.js';
import { decodeMessage, encodeMessage } from '../../src/cli/wire/codec.js';
import type { Contract } from '../../src/cli/wire/contract.js';
import { SERVICE, descriptorFile, parseContract, protoDir } from '../../src/cli/wire/descriptor.js';
import { vmServiceMethod, vmServiceMethods } from '../../src/cli/wire/methods.js';
import { DaemonClient } from '../../src/cli/client.js';
import { DaemonUnreachableError, ServerError } from '../../src/cli/errors.js';
import { createHash } from 'node:crypto';
import { startTestDaemon, type TestDaemon } from '../../src/testing/index.js';
import { fakeDaemonClient } from './support/fakeServer.js';

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs') as typeof pb;
const toObjectOptions = { longs: String, enums: String, defaults: true, oneofs: true };

// The daemon's reference: protobufjs loaded as proto-loader loads it (include dir proto/, camelCase).
function referenceRoot(): pb.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) || target.startsWith('google/') ? target : path.join(protoDir, target));
  root.loadSync(path.join(protoDir, 'vm.proto'), { keepCase: false });
  root.resolveAll();
  return root;
}

/** A value for every field (oneofs: the `pick`-th member), nested messages `depth` deep. */
function sample(c: Contract, type: string, depth: number, pick: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const oneofSeen = new Map<string, number>();
  for (const f of c.messages[type]!.fields) {
    if (f.oneof) {
      const n = oneofSeen.get(f.oneof) ?? 0;
      oneofSeen.set(f.oneof, n + 1);
      if (n !== pick) continue;
    }
    const one = (i: number): unknown => {
      if (f.kind === 'message') return depth > 0 ? sample(c, f.type, depth - 1, pick) : {};
      if (f.kind === 'enum') {
        const names = Object.keys(c.enums[f.type]!);
        return names[(i + 1) % names.length];
      }
      switch (f.type) {
        case 'string': return `${f.name}-${i}-é`;
        case 'bool': return true;
        case 'bytes': return Buffer.from([0, 1, 2, 255, i]);
        case 'int64': case 'sint64': case 'sfixed64': return i % 2 ? '-42' : '9007199254740993';
        case 'uint64': case 'fixed64': return '18446744073709551615';
        case 'int32': case 'sint32': case 'sfixed32': return -7 - i;
        case 'uint32': case 'fixed32': return 4_000_000_000 + i;
        default: return 1.5 + i;
      }
    };
    if (f.keyType) out[f.name] = { a: one(0), 'b c': one(1) };
    else if (f.repeated) out[f.name] = [one(0), one(1)];
    else out[f.name] = one(0);
  }
  return out;
}

describe('CLI wire codec', () => {
  const root = referenceRoot();
  const contract = parseContract();

  test('the generated descriptor, when present, is what proto/ compiles to', async () => {
    const fs = await import('node:fs/promises');
    const text = await fs.readFile(descriptorFile, 'utf8').catch(() => undefined);
    if (text !== undefined) assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(contract)));
    assert.ok(Object.keys(contract.messages).length > 40);
  });

  test('methods, paths and streaming flags are the daemon\'s', () => {
    const pkg = grpc.loadPackageDefinition(loadVmProto()) as unknown as { vmregistry: { v1: { VMService: grpc.ServiceClientConstructor } } };
    const theirs = pkg.vmregistry.v1.VMService.service;
    const ours = vmServiceMethods();
    assert.deepEqual([...ours.keys()].sort(), Object.keys(theirs).sort());
    for (const [name, def] of Object.entries(theirs)) {
      const m = ours.get(name)!;
      assert.equal(m.path, def.path);
      assert.equal(m.requestStream, def.requestStream, name);
      assert.equal(m.responseStream, def.responseStream, name);
    }
  });

  test('every message encodes and decodes as protobufjs does with proto-loader\'s options', () => {
    let checked = 0;
    for (const type of Object.keys(contract.messages)) {
      const T = root.lookupType(type);
      const reference = (buf: Buffer) => T.toObject(T.decode(buf), toObjectOptions);
      // defaults of an empty message, key order included (--json prints it)
      assert.equal(JSON.stringify(decodeMessage(contract, type, Buffer.alloc(0))), JSON.stringify(reference(Buffer.alloc(0))), type);
      for (const pick of [0, 1]) {
        const obj = sample(contract, type, 2, pick);
        const theirs = Buffer.from(T.encode(T.fromObject(obj)).finish());
        const ours = encodeMessage(contract, type, obj);
        assert.deepEqual(reference(ours), reference(theirs), `${type}: encode`);
        assert.equal(JSON.stringify(decodeMessage(contract, type, theirs)), JSON.stringify(reference(theirs)), `${type}: decode`);
        checked++;
      }
    }
    assert.ok(checked > 80);
  });

  test('the method serialisers agree with the daemon\'s for a request and a response', () => {
    const pkg = grpc.loadPackageDefinition(loadVmProto()) as unknown as { vmregistry: { v1: { VMService: grpc.ServiceClientConstructor } } };
    const run = pkg.vmregistry.v1.VMService.service.RunVM!;
    const m = vmServiceMethod('RunVM')!;
    assert.equal(vmServiceMethod('RunVM'), m, 'built once');
    assert.equal(vmServiceMethods().get('RunVM'), m);
    assert.equal(vmServiceMethod('NoSuchMethod'), undefined);
    const request = { image: 'debian:12', name: 'web', options: { memoryMb: 512, labels: { a: 'b' }, waitForIp: true, diskSizeGb: 4 } };
    assert.deepEqual(run.requestDeserialize(m.serialize(request)), run.requestDeserialize(run.requestSerialize(request)));
    const response = { vmId: 'x', name: 'web', status: 'running', message: '', ipAddresses: ['10.0.0.2'] };
    assert.deepEqual(m.deserialize(run.responseSerialize(response)), run.responseDeserialize(run.responseSerialize(response)));
    assert.equal(SERVICE, 'vmregistry.v1.VMService');
  });
});

describe('CLI wire calls', () => {
  const d = fakeDaemonClient();

  test('a large reply spanning many frames arrives whole', async () => {
    const images = Array.from({ length: 3000 }, (_, i) => ({ reference: `r/${i}:t`, digest: `sha256:${String(i).padStart(64, '0')}`, size: String(i * 1e9) }));
    d.fake.handlers.ListLocalImages = () => ({ images });
    const res = await d.client.unary<{ images: { reference: string; size: string }[] }>('ListLocalImages', {});
    assert.equal(res.images.length, 3000);
    assert.equal(res.images[2999]!.reference, 'r/2999:t');
    assert.equal(res.images[2999]!.size, String(2999 * 1e9));
  });

  test('a deadline ends the call with DEADLINE_EXCEEDED and the daemon sees it cancelled', async () => {
    d.fake.handlers.ListLocalImages = () => new Promise(() => undefined);
    await assert.rejects(d.client.unary('ListLocalImages', {}, { timeoutSeconds: 1 }),
      (err: unknown) => err instanceof ServerError && err.code === 'DEADLINE_EXCEEDED');
    for (let i = 0; i < 100 && !d.fake.cancelled.includes('ListLocalImages'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(d.fake.cancelled.includes('ListLocalImages'), 'the daemon saw the call cancelled');
  });

  test('a server status carries its code and message', async () => {
    d.fake.handlers.ListLocalImages = () => { throw Object.assign(new Error('x'), { code: grpc.status.NOT_FOUND, details: 'no such thing: é %', metadata: new grpc.Metadata() }); };
    await assert.rejects(d.client.unary('ListLocalImages', {}),
      (err: unknown) => err instanceof ServerError && err.code === 'NOT_FOUND' && err.message === 'no such thing: é %');
  });

  test('calls in parallel share one connection: unary, server-streaming and a 6 MiB client stream', async () => {
    const disk = Buffer.alloc(6 << 20);
    for (let i = 0; i < disk.length; i += 512) disk[i] = (i / 512) % 256;
    const sha = createHash('sha256').update(disk).digest('hex');
    const { call, result } = d.client.clientStream('ImportImageStream');
    const upload = (async () => {
      call.write({ header: { vmfile: { metadata: { name: 'big' } }, reference: 'big:1', totalSize: String(disk.length), sha256: sha } } as never);
      for (let at = 0; at < disk.length; at += 1 << 20) {
        if (!call.write({ chunk: disk.subarray(at, at + (1 << 20)) } as never)) await new Promise((r) => call.once('drain', r));
      }
      call.end();
      return result;
    })();
    const progress: unknown[] = [];
    const [imported, lists] = await Promise.all([
      upload,
      Promise.all(Array.from({ length: 20 }, () => d.client.call('ListVMs', {} as never))),
      d.client.serverStream('PullImageWithProgress', { reference: 'a:1' } as never, (m) => progress.push(m)),
    ]);
    assert.equal((imported as { digest: string }).digest, `sha256:${sha}`);
    assert.equal(lists.length, 20);
    assert.equal(progress.length, 4);
    assert.equal(d.fake.last('ImportImageStream').bytes, disk.length);
  });

  test('a socket nobody listens on is "daemon unreachable"', async () => {
    const gone = new DaemonClient({ target: 'unix:///nonexistent/vmr.sock', socketPath: '/nonexistent/vmr.sock' });
    await assert.rejects(gone.call('ListVMs', {} as never), (err: unknown) => err instanceof DaemonUnreachableError);
    gone.close();
  });
});

describe('CLI wire calls against the real daemon', () => {
  let td: TestDaemon;
  let client: DaemonClient;
  before(async () => {
    td = await startTestDaemon();
    client = new DaemonClient({ target: `unix://${td.socket}`, socketPath: td.socket });
  });
  after(async () => {
    client.close();
    await td.stop();
  });

  test('a header the daemon refuses ends a client stream mid-upload with its status, not a hang', async () => {
    const { call, result } = client.clientStream('ImportImageStream');
    let settled = false;
    result.then(() => { settled = true; }, () => { settled = true; });
    call.write({ header: { vmfile: { metadata: { name: 'x' } }, reference: 'x:1', totalSize: '0' } } as never);
    const chunk = Buffer.alloc(1 << 20, 3);
    for (let i = 0; i < 64 && !settled; i++) {
      if (!call.write({ chunk } as never)) await Promise.race([new Promise((r) => call.once('drain', r)), result.catch(() => undefined)]);
    }
    call.end();
    await assert.rejects(result, (err: unknown) => err instanceof ServerError && err.code === 'INVALID_ARGUMENT' && /total_size/.test(err.message));
    // The connection survives the early answer: the next call on it works.
    const health = await client.call('HealthCheck', {} as never);
    assert.equal((health as { status: string }).status, 'SERVING');
  });
});
