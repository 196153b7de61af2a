// Push bodies read into reused buffers (uploadBody.ts): the bytes that reach the registry are the
// blob's, in order, also when the registry reads slowly (so the socket pushes back and buffers would be
// overwritten too early if undici still held them), and every opened blob is closed again.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { BlobFile } from '../../src/core/ports/images.js';
import { pushBlob } from '../../src/plugins/registry-oci/blobPusher.js';
import { Repository } from '../../src/plugins/registry-oci/repository.js';
import { DEFAULT_TIMEOUTS } from '../../src/plugins/registry-oci/timeouts.js';
import { Transport } from '../../src/plugins/registry-oci/transport.js';
import { uploadBody, type BlobSource } from '../../src/plugins/registry-oci/uploadBody.js';
import { callContext, silentLogger } from '../support/callContext.js';

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An in-memory blob source that counts opens and closes, and may claim more bytes than it holds. */
function source(blobs: Map<string, Buffer>) {
  const counts = { opened: 0, closed: 0 };
  const src: BlobSource = {
    async open(digest: string): Promise<BlobFile> {
      const data = blobs.get(digest);
      if (!data) throw new Error(`no blob ${digest}`);
      counts.opened++;
      return {
        read: async (into, pos) => data.copy(into, 0, pos),
        close: async () => { counts.closed++; },
      };
    },
  };
  return { src, counts };
}

async function collect(body: AsyncIterable<Buffer> | Buffer): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body;
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(Buffer.from(c)); // copies: the chunks' buffers are reused
  return Buffer.concat(parts);
}

describe('uploadBody', () => {
  const data = randomBytes(5 * 1024 * 1024 + 123);
  const d = digestOf(data);

  it('yields exactly the range asked for, in reads of at most readSize', async () => {
    const { src, counts } = source(new Map([[d, data]]));
    for (const [start, len] of [[0, data.length], [1000, 3 * 1024 * 1024 + 7], [data.length - 10, 10]] as const) {
      const body = uploadBody(src, d, start, len, 1024 * 1024);
      const parts: number[] = [];
      const got: Buffer[] = [];
      for await (const c of body as AsyncIterable<Buffer>) { parts.push(c.length); got.push(Buffer.from(c)); }
      assert.deepEqual(Buffer.concat(got), data.subarray(start, start + len));
      assert.ok(parts.every((n) => n <= 1024 * 1024));
    }
    assert.deepEqual(counts, { opened: 3, closed: 3 });
  });

  it('an empty range is an empty buffer and opens nothing', async () => {
    const { src, counts } = source(new Map([[d, data]]));
    assert.equal((await collect(uploadBody(src, d, 0, 0))).length, 0);
    assert.equal(counts.opened, 0);
  });

  it('closes the blob when the consumer stops early', async () => {
    const { src, counts } = source(new Map([[d, data]]));
    for await (const _ of uploadBody(src, d, 0, data.length, 1024 * 1024) as AsyncIterable<Buffer>) break;
    assert.deepEqual(counts, { opened: 1, closed: 1 });
  });

  it('a blob shorter than its descriptor is DATA_LOSS, and is closed', async () => {
    const { src, counts } = source(new Map([[d, data]]));
    await assert.rejects(collect(uploadBody(src, d, 0, data.length + 1, 1024 * 1024)),
      (e: Error & { code?: string }) => e.code === 'DATA_LOSS' && /ends at/.test(e.message));
    assert.deepEqual(counts, { opened: 1, closed: 1 });
  });
});

describe('pushBlob to a registry that reads slowly', () => {
  // Minimal upload API: POST a session, PATCH chunks, PUT ?digest= (with or without a body); the PUT
  // answers 400 DIGEST_INVALID unless the bytes received hash to the digest.
  const uploads = new Map<string, Buffer[]>();
  const stored = new Map<string, Buffer>();
  let server: http.Server;
  let host: string;
  let requests: string[] = [];
  const slowBody = async (req: http.IncomingMessage) => {
    const parts: Buffer[] = [];
    for await (const c of req) {
      parts.push(c as Buffer);
      await delay(1); // the socket fills up: the client's writes wait for 'drain'
    }
    return parts;
  };
  before(async () => {
    server = http.createServer(async (req, res) => {
      const url = new URL(req.url!, 'http://x');
      requests.push(req.method!);
      const id = url.pathname.split('/').pop()!;
      if (req.method === 'HEAD') { res.writeHead(404); return res.end(); }
      if (req.method === 'POST') {
        const n = String(uploads.size + 1);
        uploads.set(n, []);
        res.writeHead(202, { location: `/v2/test/repo/blobs/uploads/${n}` });
        return res.end();
      }
      const parts = uploads.get(id);
      if (!parts) { res.writeHead(404); return res.end(); }
      parts.push(...await slowBody(req));
      const held = Buffer.concat(parts).length;
      if (req.method === 'PATCH') {
        res.writeHead(202, { location: `/v2/test/repo/blobs/uploads/${id}`, range: `0-${held - 1}` });
        return res.end();
      }
      const want = url.searchParams.get('digest')!;
      const data = Buffer.concat(parts);
      if (digestOf(data) !== want) {
        res.writeHead(400, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ errors: [{ code: 'DIGEST_INVALID', message: 'digest did not match' }] }));
      }
      stored.set(want, data);
      res.writeHead(201);
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => { server.closeAllConnections(); await new Promise((r) => server.close(r)); });

  const t = new Transport({ retries: 2, minBackoffMs: 5, maxBackoffMs: 20, connections: 4, ...DEFAULT_TIMEOUTS });
  after(() => t.close());

  for (const [name, chunkSize, methods] of [
    ['in one PUT', 16 * 1024 * 1024, ['HEAD', 'POST', 'PUT']],
    ['in PATCH chunks', 4 * 1024 * 1024, ['HEAD', 'POST', 'PATCH', 'PATCH', 'PATCH', 'PUT']],
  ] as const) {
    it(`${name}: the registry gets the blob's bytes and every opened blob is closed`, async () => {
      const data = randomBytes(9 * 1024 * 1024 + 5);
      const desc = { mediaType: 'application/octet-stream', digest: digestOf(data), size: data.length };
      const { src, counts } = source(new Map([[desc.digest, data]]));
      const ctx = callContext();
      const s = { host, base: `http://${host}`, insecure: true, signal: ctx.signal, log: silentLogger, credentials: async () => undefined };
      requests = [];
      const moved = await pushBlob(new Repository(t, s, 'test/repo', true), desc, src, ctx, ctx.signal, { chunkSize }, new Map());
      assert.equal(moved, data.length);
      assert.deepEqual(stored.get(desc.digest), data);
      assert.deepEqual(requests, methods);
      assert.equal(counts.opened, counts.closed);
    });
  }

  it('a stored blob shorter than its descriptor fails the push as DATA_LOSS, not as a registry outage', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const desc = { mediaType: 'application/octet-stream', digest: digestOf(data), size: data.length + 10 };
    const { src, counts } = source(new Map([[desc.digest, data]]));
    const ctx = callContext();
    const s = { host, base: `http://${host}`, insecure: true, signal: ctx.signal, log: silentLogger, credentials: async () => undefined };
    await assert.rejects(pushBlob(new Repository(t, s, 'test/repo', true), desc, src, ctx, ctx.signal, { chunkSize: 16 << 20 }, new Map()),
      (e: Error & { code?: string }) => e.code === 'DATA_LOSS');
    assert.equal(counts.opened, counts.closed);
  });
});
