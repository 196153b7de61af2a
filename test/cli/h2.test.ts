// The CLI's HTTP/2 client (src/cli/wire/h2connection.ts) against node:http2's server (nghttp2, what the
// daemon's grpc-js runs on) set up for the edge cases: padding, CONTINUATION, GOAWAY, windows a server
// lowers mid-stream, a concurrency limit, PING, RST_STREAM, and payloads past every window both ways.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { H2Connection } from '../../src/cli/wire/h2connection.js';
import { ConnectionError, ErrorCode, Flag, FrameReader, FrameType, frame, frameHeader, settingsFrame, unpad, type Frame } from '../../src/cli/wire/h2frames.js';
import { STREAM_WINDOW, type H2Stream } from '../../src/cli/wire/h2stream.js';
import { Channel } from '../../src/cli/wire/channel.js';
import type { MethodDef } from '../../src/cli/wire/methods.js';
import { Status, type ServiceError } from '../../src/cli/wire/status.js';

const dirs: string[] = [];
after(async () => { await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))); });

async function socketPath(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vmr-h2-'));
  dirs.push(dir);
  return path.join(dir, 's.sock');
}

/** A node:http2 server on a fresh Unix socket; `stop` also ends its sessions. */
async function h2Server(opts: http2.ServerOptions, onStream: (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders) => void) {
  const sock = await socketPath();
  const server = http2.createServer(opts);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
  // Resets we provoke surface as server-side stream errors: expected here.
  server.on('stream', (s, h) => { s.on('error', () => undefined); onStream(s, h); });
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  return {
    sock, sessions,
    stop: () => new Promise<void>((resolve) => { for (const s of sessions) s.destroy(); server.close(() => resolve()); }),
  };
}

interface Outcome {
  headers?: Record<string, string>;
  trailers?: Record<string, string>;
  body: Buffer;
  rstCode?: number;
  error?: Error;
}

/** Sends a POST with `body` and collects what comes back until the stream closes. */
function exchange(conn: H2Connection, body: Buffer = Buffer.alloc(0), onStream?: (s: H2Stream) => void): Promise<Outcome> {
  const s = conn.request([[':method', 'POST'], [':scheme', 'http'], [':path', '/x'], [':authority', 'localhost']]);
  onStream?.(s);
  const out: Outcome = { body: Buffer.alloc(0) };
  const parts: Buffer[] = [];
  s.on('headers', (h: Record<string, string>, trailers: boolean) => { if (trailers) out.trailers = h; else out.headers = h; });
  s.on('data', (d: Buffer) => parts.push(d));
  const done = new Promise<Outcome>((resolve) => s.on('close', () => {
    out.body = Buffer.concat(parts);
    out.rstCode = s.rstCode;
    out.error = s.error;
    resolve(out);
  }));
  // Upload honouring backpressure, in pieces, the way Call.write is used.
  void (async () => {
    for (let at = 0; at < body.length; at += 256 << 10) {
      if (!s.write(body.subarray(at, at + (256 << 10)))) await new Promise((r) => s.once('drain', r));
    }
    s.end();
  })();
  return done;
}

const connect = (sock: string) => new H2Connection(net.connect(sock));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Reads a request body, then answers with its hash, `size` bytes of reply and a trailer. */
function echoHash(size: number, headers: http2.OutgoingHttpHeaders = {}) {
  return (s: http2.ServerHttp2Stream) => {
    const hash = createHash('sha256');
    let n = 0;
    s.on('data', (d: Buffer) => { hash.update(d); n += d.length; });
    s.on('end', async () => {
      s.respond({ ':status': 200, 'x-sha': hash.digest('hex'), 'x-len': String(n), ...headers }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      const chunk = Buffer.alloc(64 << 10, 7);
      for (let sent = 0; sent < size; sent += chunk.length) {
        if (!s.write(chunk.subarray(0, Math.min(chunk.length, size - sent)))) await new Promise((r) => s.once('drain', r));
      }
      s.end();
    });
  };
}

describe('HTTP/2 frames', () => {
  test('a frame stream cut anywhere reads back as the same frames', () => {
    const frames = [frame(FrameType.SETTINGS, 0, 0, Buffer.from([0, 4, 0, 1, 0, 0])), frame(FrameType.DATA, Flag.END_STREAM, 3, Buffer.alloc(300, 1)), frame(FrameType.PING, 0, 0, Buffer.alloc(8))];
    const all = Buffer.concat(frames);
    for (const step of [1, 7, 9, 10, all.length]) {
      const got: Frame[] = [];
      const r = new FrameReader((f) => got.push({ ...f, payload: Buffer.from(f.payload) }));
      for (let at = 0; at < all.length; at += step) r.push(all.subarray(at, at + step));
      assert.deepEqual(got.map((f) => [f.type, f.flags, f.streamId, f.payload.length]), [[4, 0, 0, 6], [0, 1, 3, 300], [6, 0, 0, 8]]);
    }
    assert.deepEqual(frameHeader(FrameType.HEADERS, 5, 0x7fffffff, 0x123456), Buffer.from([0x12, 0x34, 0x56, 1, 5, 0x7f, 0xff, 0xff, 0xff]));
  });

  test('padding and priority are stripped; bad padding and oversized frames are connection errors', () => {
    const padded = Buffer.concat([Buffer.from([3]), Buffer.from('abc'), Buffer.alloc(3)]);
    assert.equal(unpad({ type: FrameType.DATA, flags: Flag.PADDED, streamId: 1, payload: padded }).toString(), 'abc');
    const prio = Buffer.concat([Buffer.from([2]), Buffer.alloc(5), Buffer.from('hb'), Buffer.alloc(2)]);
    assert.equal(unpad({ type: FrameType.HEADERS, flags: Flag.PADDED | Flag.PRIORITY, streamId: 1, payload: prio }).toString(), 'hb');
    assert.throws(() => unpad({ type: FrameType.DATA, flags: Flag.PADDED, streamId: 1, payload: Buffer.from([9, 1]) }), ConnectionError);
    const r = new FrameReader(() => undefined);
    assert.throws(() => r.push(frameHeader(FrameType.DATA, 0, 1, 16_385)), (e: unknown) => e instanceof ConnectionError && e.code === ErrorCode.FRAME_SIZE_ERROR);
  });
});

describe('HTTP/2 client against node:http2', () => {
  test('5 MiB up and 20 MiB down: past the default windows, our stream window and our connection window', async () => {
    const srv = await h2Server({}, echoHash(20 << 20));
    const conn = connect(srv.sock);
    try {
      const up = Buffer.alloc(5 << 20);
      for (let i = 0; i < up.length; i += 4096) up[i] = i % 251;
      const res = await exchange(conn, up);
      assert.equal(res.error, undefined);
      assert.equal(res.headers![':status'], '200');
      assert.equal(res.headers!['x-sha'], sha(up));
      assert.equal(res.body.length, 20 << 20);
      assert.equal(res.trailers!['grpc-status'], '0');
      assert.ok(conn.usable, 'the connection is reused after the call');
    } finally {
      conn.close();
      await srv.stop();
    }
  });

  test('a server that lowers its window mid-upload (to 0, then back) still gets every byte, without a flow-control error', async () => {
    let lowered = false;
    const srv = await h2Server({ settings: { initialWindowSize: 1000 } }, (s, h) => {
      s.once('data', () => {
        lowered = true;
        s.session!.settings({ initialWindowSize: 0 });
        setTimeout(() => s.session!.settings({ initialWindowSize: 70_000 }), 100);
      });
      echoHash(10)(s);
      void h;
    });
    const conn = connect(srv.sock);
    try {
      const up = Buffer.alloc(600_000, 9);
      const res = await exchange(conn, up);
      assert.ok(lowered);
      assert.equal(res.error, undefined);
      assert.equal(res.headers!['x-len'], String(up.length));
      assert.equal(res.headers!['x-sha'], sha(up));
    } finally {
      conn.close();
      await srv.stop();
    }
  });

  test('padded DATA and HEADERS, and a header block split into CONTINUATION frames', async () => {
    const big = 'v'.repeat(40_000);
    const srv = await h2Server({ paddingStrategy: http2.constants.PADDING_STRATEGY_MAX, maxSendHeaderBlockLength: 200_000 }, echoHash(100_000, { 'x-big': big }));
    const conn = connect(srv.sock);
    try {
      const res = await exchange(conn, Buffer.from('hello'));
      assert.equal(res.error, undefined);
      assert.equal(res.headers!['x-big'], big);
      assert.equal(res.headers!['x-sha'], sha(Buffer.from('hello')));
      assert.equal(res.body.length, 100_000);
      assert.equal(res.trailers!['grpc-status'], '0');
    } finally {
      conn.close();
      await srv.stop();
    }
  });

  test('header values in every printable and high byte, Huffman-coded and indexed by nghttp2 across calls', async () => {
    const value = Buffer.from(Array.from({ length: 256 }, (_, i) => i).filter((b) => b === 9 || (b >= 0x20 && b !== 0x7f))).toString('latin1').trim();
    const srv = await h2Server({}, (s) => { s.respond({ ':status': 200, 'x-all': value, 'x-word': 'accept-encoding-gzip' }, { endStream: true }); });
    const conn = connect(srv.sock);
    try {
      for (let i = 0; i < 3; i++) {
        const res = await exchange(conn);
        assert.equal(res.headers!['x-all'], value);
        assert.equal(res.headers!['x-word'], 'accept-encoding-gzip');
      }
    } finally {
      conn.close();
      await srv.stop();
    }
  });

  test('GOAWAY: streams up to its last id finish, later ones are refused, and the connection takes no new calls', async () => {
    const pending: http2.ServerHttp2Stream[] = [];
    const srv = await h2Server({}, (s) => {
      pending.push(s);
      if (pending.length < 2) return;
      s.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, pending[0]!.id!);
      setTimeout(() => pending[0]!.respond({ ':status': 200 }, { endStream: true }), 50);
    });
    const conn = connect(srv.sock);
    try {
      const first = exchange(conn);
      const second = exchange(conn);
      const [a, b] = await Promise.all([first, second]);
      assert.equal(a.headers![':status'], '200');
      assert.equal(b.rstCode, ErrorCode.REFUSED_STREAM);
      assert.equal(conn.usable, false);
    } finally {
      conn.close();
      await srv.stop();
    }
  });

  test('a concurrency limit of 1: calls wait for a slot instead of failing', async () => {
    let open = 0;
    let most = 0;
    const srv = await h2Server({ settings: { maxConcurrentStreams: 1 } }, (s) => {
      most = Math.max(most, ++open);
      s.on('close', () => open--);
      setTimeout(() => s.respond({ ':status': 200 }, { endStream: true }), 20);
    });
    const conn = connect(srv.sock);
    try {
      // Let the server's SETTINGS arrive first: before them, any number of streams is allowed.
      await exchange(conn);
      const all = await Promise.all([1, 2, 3, 4].map(() => exchange(conn)));
      assert.deepEqual(all.map((r) => r.headers?.[':status']), ['200', '200', '200', '200']);
      assert.equal(most, 1);
    } finally {
      conn.close();
      await srv.stop();
    }
  });

  test('PING is answered, and a server RST_STREAM ends just that stream', async () => {
    const srv = await h2Server({}, (s, h) => {
      void h;
      s.session!.ping((err) => {
        if (err) s.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        else s.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      });
    });
    const conn = connect(srv.sock);
    try {
      const res = await exchange(conn);
      assert.equal(res.rstCode, ErrorCode.ENHANCE_YOUR_CALM, 'the ping was acknowledged');
      assert.ok(conn.usable);
    } finally {
      conn.close();
      await srv.stop();
    }
  });

  test('a paused stream stops the server at our window; resuming gets the rest', async () => {
    let written = 0;
    const total = 8 << 20;
    const srv = await h2Server({}, (s) => {
      s.respond({ ':status': 200 });
      void (async () => {
        const chunk = Buffer.alloc(16 << 10, 1);
        while (written < total) {
          const ok = s.write(chunk);
          written += chunk.length;
          if (!ok) await new Promise((r) => s.once('drain', r));
        }
        s.end();
      })();
    });
    const conn = connect(srv.sock);
    try {
      let stream!: H2Stream;
      const res = exchange(conn, Buffer.alloc(0), (s) => { stream = s; s.pause(); });
      await new Promise((r) => setTimeout(r, 500));
      // What the server could hand to its socket: our stream window plus node's own buffering.
      assert.ok(written <= STREAM_WINDOW + (256 << 10), `server wrote ${written} bytes to a paused stream`);
      stream.resume();
      assert.equal((await res).body.length, total);
    } finally {
      conn.close();
      await srv.stop();
    }
  });

  test('a peer breaking the protocol ends the calls with a clear error, and gets a GOAWAY', async () => {
    const sock = await socketPath();
    let gotGoaway = false;
    const server = net.createServer((c) => {
      const r = new FrameReader((f) => { if (f.type === FrameType.GOAWAY) gotGoaway = f.payload.readUInt32BE(4) === ErrorCode.PROTOCOL_ERROR; }, 1 << 20);
      let preface = true;
      c.on('data', (d: Buffer) => {
        if (preface) {
          preface = false;
          d = d.subarray(24);
          c.write(settingsFrame([]));
          c.write(frame(FrameType.DATA, 0, 2, Buffer.from('x'))); // stream 2: servers may not send on even ids
        }
        r.push(d);
      });
      c.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    const conn = connect(sock);
    try {
      const res = await exchange(conn);
      assert.match(res.error?.message ?? '', /protocol error.*stream 2/);
      for (let i = 0; i < 50 && !gotGoaway; i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(gotGoaway);
    } finally {
      conn.close();
      await new Promise((r) => server.close(r));
    }
  });

  test('no server: the socket error names the cause', async () => {
    const conn = connect(path.join(await socketPath(), 'missing'));
    const res = await exchange(conn);
    assert.match(res.error?.message ?? '', /connect ENOENT/);
    assert.equal(conn.usable, false);
  });
});

describe('gRPC calls (channel.ts) on the HTTP/2 client', () => {
  const raw: MethodDef = { name: 'M', path: '/s.S/M', requestStream: false, responseStream: false, serialize: (m) => m as Buffer, serializeParts: (m) => [m as Buffer], deserialize: (b) => ({ b }) };
  const outcome = (ch: Channel, deadline?: number) => new Promise<{ err: ServiceError | null; messages: number }>((resolve) => {
    const call = ch.call(raw, deadline);
    let messages = 0;
    call.on('message', () => messages++);
    call.once('status', (err: ServiceError | null) => resolve({ err, messages }));
    call.write(Buffer.from('q'));
    call.end();
  });

  test('trailers-only status with a percent-encoded message, HTTP errors, and a deadline sent as grpc-timeout then cancelled', async () => {
    const seen: { timeout?: string; rst?: number }[] = [];
    let mode = 'status';
    const srv = await h2Server({}, (s, h) => {
      const rec: { timeout?: string; rst?: number } = { timeout: h['grpc-timeout'] as string | undefined };
      seen.push(rec);
      s.on('close', () => { rec.rst = s.rstCode; });
      if (mode === 'status') s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'no%20such%20VM%3A%20%C3%A9' }, { endStream: true });
      else if (mode === 'http') s.respond({ ':status': 503 }, { endStream: true });
      // 'hang': never answers
    });
    const ch = new Channel(srv.sock);
    try {
      const a = await outcome(ch);
      assert.equal(a.err?.code, Status.NOT_FOUND);
      assert.equal(a.err?.details, 'no such VM: é');
      mode = 'http';
      const b = await outcome(ch);
      assert.equal(b.err?.code, Status.UNAVAILABLE);
      assert.match(b.err!.details, /HTTP status code 503/);
      mode = 'hang';
      const c = await outcome(ch, Date.now() + 300);
      assert.equal(c.err?.code, Status.DEADLINE_EXCEEDED);
      assert.match(seen[2]!.timeout ?? '', /^\d+m$/);
      for (let i = 0; i < 50 && seen[2]!.rst === undefined; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(seen[2]!.rst, http2.constants.NGHTTP2_CANCEL, 'the server saw RST_STREAM CANCEL');
    } finally {
      ch.close();
      await srv.stop();
    }
  });
});

