// The bare HTTP/1.1 reader of blob bodies (rawGet.ts) against a socket server that writes exact bytes:
// body framings (length, chunked with size lines split across reads, until close), bytes that arrive with
// the head, a consumer that holds pieces back, a connection that breaks or stalls, cancellation, and the
// Readable face that error bodies are read through.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { readText } from '../../src/plugins/registry-oci/transport.js';
import { rawGet, type RawGetOptions } from '../../src/plugins/registry-oci/rawGet.js';

type Script = (sock: net.Socket, request: string) => void;
let server: net.Server;
let port = 0;
const scripts = new Map<string, Script>();

before(async () => {
  server = net.createServer((sock) => {
    let req = '';
    sock.on('data', (d) => {
      req += d.toString('latin1');
      const end = req.indexOf('\r\n\r\n');
      if (end < 0) return;
      const path = /^GET (\S+)/.exec(req)![1]!;
      scripts.get(path)!(sock, req.slice(0, end));
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
after(() => server.close());

let n = 0;
function route(script: Script): string {
  const p = `/t${n++}`;
  scripts.set(p, script);
  return `http://127.0.0.1:${port}${p}`;
}

const opts = (o: Partial<RawGetOptions> = {}): RawGetOptions => ({
  headers: {}, signal: new AbortController().signal, rejectUnauthorized: true,
  connectTimeoutMs: 5000, headersTimeoutMs: 5000, bodyTimeoutMs: 5000, ...o,
});

/** Writes `parts` one by one, a few ms apart, so the reader sees them in separate reads. */
function dribble(sock: net.Socket, parts: Buffer[], close = true): void {
  let i = 0;
  const next = () => {
    if (i < parts.length) {
      sock.write(parts[i++]!);
      setTimeout(next, 5);
    } else if (close) sock.end();
  };
  next();
}

async function collect(url: string, o?: Partial<RawGetOptions>, hold = false): Promise<{ status: number; bytes: Buffer; headers: Record<string, string | string[]> }> {
  const res = await rawGet(url, opts(o));
  const parts: Buffer[] = [];
  let k = 0;
  await res.body.consume((c) => {
    parts.push(Buffer.from(c)); // a view of the read buffer: copied before it is reused
    return hold && k++ % 2 === 0 ? new Promise((r) => setTimeout(r, 3)) : undefined;
  });
  return { status: res.statusCode, bytes: Buffer.concat(parts), headers: res.headers };
}

describe('rawGet: blob bodies over a bare connection', () => {
  it('a Content-Length body, part of it in the same read as the head; request headers are sent', async () => {
    const body = randomBytes(300_000);
    let seen = '';
    const url = route((sock, req) => {
      seen = req;
      sock.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nX-A: 1\r\nX-A: 2\r\n\r\n`), body.subarray(0, 1000)]));
      dribble(sock, [body.subarray(1000, 200_000), body.subarray(200_000)], false);
    });
    const r = await collect(url, { headers: { range: 'bytes=5-', authorization: 'Bearer t' } }, true);
    assert.equal(r.status, 200);
    assert.deepEqual(r.bytes, body);
    assert.deepEqual(r.headers['x-a'], ['1', '2']);
    assert.match(seen, /\r\nrange: bytes=5-/);
    assert.match(seen, /\r\nauthorization: Bearer t/);
  });

  it('a chunked body whose size lines and CRLFs are split across reads', async () => {
    const a = randomBytes(70_000);
    const b = randomBytes(5);
    const url = route((sock) => dribble(sock, [
      Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'),
      Buffer.from(a.length.toString(16).slice(0, 2)), Buffer.from(a.length.toString(16).slice(2) + ';ext=1\r'), Buffer.from('\n'),
      a.subarray(0, 10), Buffer.concat([a.subarray(10), Buffer.from('\r')]), Buffer.from('\n5\r\n'), b, Buffer.from('\r\n0\r\nX-Trailer: y\r\n'), Buffer.from('\r\n'),
    ], false));
    const r = await collect(url, {}, true);
    assert.deepEqual(r.bytes, Buffer.concat([a, b]));
  });

  it('a body without length ends with the connection', async () => {
    const body = randomBytes(50_000);
    const url = route((sock) => dribble(sock, [Buffer.from('HTTP/1.1 200 OK\r\n\r\n'), body]));
    assert.deepEqual((await collect(url)).bytes, body);
  });

  it('a connection closed before the declared length is ECONNRESET, with the bytes before it delivered', async () => {
    const url = route((sock) => dribble(sock, [Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n'), randomBytes(40_000)]));
    const res = await rawGet(url, opts());
    let got = 0;
    await assert.rejects(res.body.consume((c) => { got += c.length; return undefined; }), { code: 'ECONNRESET' });
    assert.equal(got, 40_000);
  });

  it('a stalled body is UND_ERR_BODY_TIMEOUT; a missing head UND_ERR_HEADERS_TIMEOUT', async () => {
    const stall = route((sock) => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    const res = await rawGet(stall, opts({ bodyTimeoutMs: 100 }));
    await assert.rejects(res.body.consume(() => undefined), { code: 'UND_ERR_BODY_TIMEOUT' });
    const silent = route(() => {});
    await assert.rejects(rawGet(silent, opts({ headersTimeoutMs: 100 })), { code: 'UND_ERR_HEADERS_TIMEOUT' });
  });

  it('a consumer that fails stops the body with its error; an abort ends it as AbortError', async () => {
    const url = route((sock) => dribble(sock, [Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n'), randomBytes(100_000)]));
    const res = await rawGet(url, opts());
    await assert.rejects(res.body.consume(() => Promise.reject(new Error('disk full'))), /disk full/);
    const ac = new AbortController();
    const slow = route((sock) => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'));
    const r2 = await rawGet(slow, opts({ signal: ac.signal }));
    const p = r2.body.consume(() => undefined);
    ac.abort();
    await assert.rejects(p, { name: 'AbortError' });
    await assert.rejects(rawGet(slow, opts({ signal: ac.signal })), { name: 'AbortError' });
  });

  it('an error body reads as a stream (readText); a header value with a line break is refused', async () => {
    const url = route((sock) => dribble(sock, [Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 21\r\n\r\n{"errors":'), Buffer.from('["nope"]}\r\n')]));
    const res = await rawGet(url, opts());
    assert.equal(res.statusCode, 404);
    assert.equal(await readText(res.body), '{"errors":["nope"]}\r\n');
    await assert.rejects(rawGet(url, opts({ headers: { authorization: 'x\r\nevil: 1' } })), /line break/);
  });
});
