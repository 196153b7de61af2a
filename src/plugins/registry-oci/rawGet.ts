// Blob bodies over a bare HTTP/1.1 connection (issue 17). undici hands a body over in 64 KiB buffers
// allocated per socket read, copied into its wasm parser and pushed through a stream: on loopback
// ~0.6 CPU-s per 500 MB, a third of a pull's daemon CPU on 2 cores. Here the socket reads into one
// reused buffer (net/tls `onread`) and the body's bytes go to the caller's callback as views of it:
// ~0.2 CPU-s. Only GETs of large bodies use it (blobs); one connection per request, closed after it.
// Errors carry the codes undici uses (timeouts.ts describes them), so retries and messages are shared.
import net from 'node:net';
import { Readable } from 'node:stream';
import tls from 'node:tls';

export interface RawGetOptions {
  headers: Record<string, string>;
  signal: AbortSignal;
  /** https: extra trusted roots (undefined: the system's) and whether the certificate must verify. */
  ca?: string[];
  rejectUnauthorized: boolean;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
}

export interface RawResponse {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: RawBody;
}

const READ_BUFFER = 256 * 1024;
const MAX_HEAD = 64 * 1024;
const MAX_CHUNK_LINE = 4096;

const netError = (code: string, message: string) => Object.assign(new Error(message), { code });

/** Called with each piece of the body, valid only until it returns or its promise settles. */
export type ChunkHandler = (chunk: Buffer) => Promise<void> | undefined;

/**
 * A response body. consume() takes the bytes as views of the read buffer (the fast path); as a Readable
 * (error bodies, anything else) it pushes copies.
 */
export class RawBody extends Readable {
  private handler?: ChunkHandler;
  private finished?: { resolve: () => void; reject: (err: Error) => void };
  private ended = false;

  constructor(private readonly conn: Connection) {
    super();
  }

  /** Delivers the whole body to `onChunk`; resolves at its end, rejects on a broken or timed-out connection. */
  consume(onChunk: ChunkHandler): Promise<void> {
    this.handler = onChunk;
    return new Promise((resolve, reject) => {
      this.finished = { resolve, reject };
      this.conn.flow();
    });
  }

  /** Drops the rest of the body (and the connection). */
  async dump(): Promise<void> {
    this.conn.close();
    if (!this.destroyed) this.destroy();
  }

  override _read(): void {
    this.conn.flow();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.conn.close();
    cb(err);
  }

  /** From the connection: a piece of the body; false when the connection must pause. */
  deliver(piece: Buffer): Promise<void> | undefined | false {
    if (this.handler) return this.handler(piece);
    return this.push(Buffer.from(piece)) ? undefined : false;
  }

  /** From the connection: the body ended, or broke with `err`. */
  settle(err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    if (this.finished) {
      if (err) this.finished.reject(err);
      else this.finished.resolve();
      // The transport's error listener (it names the request in messages) hears of it too.
      if (!this.destroyed) this.destroy(err && this.listenerCount('error') > 0 ? err : undefined);
    } else if (err) this.destroy(err);
    else this.push(null);
  }
}

type BodyMode = { kind: 'length'; left: number } | { kind: 'chunked' } | { kind: 'close' };

/** One request's connection: writes the request, parses the head, decodes the body. */
class Connection {
  private head: Buffer[] = [];
  private headLength = 0;
  private respond?: (r: RawResponse) => void;
  private fail?: (err: Error) => void;
  private body?: RawBody;
  private mode?: BodyMode;
  /** Body bytes read with the head, before anyone took the body. */
  private early?: Buffer;
  private paused = false;
  /** All of the body arrived. */
  private complete = false;
  /** The consumer's promise for the piece it holds. */
  private waiting?: Promise<void>;
  private done = false;
  private timer?: NodeJS.Timeout;
  // chunked decoding
  private chunkLeft = 0;
  private chunkState: 'size' | 'data' | 'crlf' | 'trailer' = 'size';
  private line = '';
  readonly socket: net.Socket;

  constructor(url: URL, private readonly o: RawGetOptions) {
    const path = (url.pathname || '/') + url.search;
    const lines = [`GET ${path} HTTP/1.1`, `host: ${url.host}`, 'connection: close'];
    for (const [k, v] of Object.entries(o.headers)) {
      if (/[\r\n]/.test(k + v)) throw new Error(`header ${k} holds a line break`);
      lines.push(`${k}: ${v}`);
    }
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const onread = { buffer: Buffer.allocUnsafe(READ_BUFFER), callback: (n: number, buf: Buffer) => this.onData(buf.subarray(0, n)) };
    this.socket = url.protocol === 'https:'
      // tls.connect takes onread like net.connect (Node ≥ 14.5); @types/node lacks it there.
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ca: o.ca, rejectUnauthorized: o.rejectUnauthorized, onread } as tls.ConnectionOptions)
      : net.connect({ host, port, onread });
    this.arm(o.connectTimeoutMs, 'UND_ERR_CONNECT_TIMEOUT', 'connect timeout');
    this.socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      this.arm(o.headersTimeoutMs, 'UND_ERR_HEADERS_TIMEOUT', 'headers timeout');
      this.socket.write(lines.join('\r\n') + '\r\n\r\n');
    });
    this.socket.on('error', (err) => this.finish(err));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('close', () => this.onEnd());
  }

  response(): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      this.respond = resolve;
      this.fail = reject;
    });
  }

  private arm(ms: number, code: string, what: string): void {
    clearTimeout(this.timer);
    this.timer = ms > 0 ? setTimeout(() => this.finish(netError(code, what)), ms) : undefined;
  }

  private onData(piece: Buffer): boolean {
    if (this.done) return false;
    if (!this.body) {
      this.readHead(piece);
      return !this.paused && !this.done;
    }
    this.arm(this.o.bodyTimeoutMs, 'UND_ERR_BODY_TIMEOUT', 'body timeout');
    this.decode(piece);
    return !this.paused && !this.done;
  }

  private readHead(piece: Buffer): void {
    this.head.push(Buffer.from(piece));
    this.headLength += piece.length;
    const all = Buffer.concat(this.head);
    const end = all.indexOf('\r\n\r\n');
    if (end < 0) {
      if (this.headLength > MAX_HEAD) this.finish(netError('UND_ERR_HEADERS_OVERFLOW', `response head longer than ${MAX_HEAD} bytes`));
      return;
    }
    const [status, ...fields] = all.subarray(0, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(status ?? '');
    if (!m) return this.finish(netError('UND_ERR_SOCKET', `not an HTTP/1.1 response: ${(status ?? '').slice(0, 80)}`));
    const statusCode = Number(m[1]);
    const rest = all.subarray(end + 4);
    if (statusCode >= 100 && statusCode < 200) {
      // An interim response (100 Continue): the real one follows.
      this.head = [];
      this.headLength = 0;
      if (rest.length) this.readHead(rest);
      return;
    }
    const headers: Record<string, string | string[]> = {};
    for (const f of fields) {
      const i = f.indexOf(':');
      if (i <= 0) continue;
      const k = f.slice(0, i).trim().toLowerCase();
      const v = f.slice(i + 1).trim();
      const had = headers[k];
      headers[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
    }
    const one = (k: string) => { const v = headers[k]; return Array.isArray(v) ? v[0] : v; };
    const length = one('content-length');
    if (/chunked/i.test(one('transfer-encoding') ?? '')) this.mode = { kind: 'chunked' };
    else if (length !== undefined && /^\d+$/.test(length)) this.mode = { kind: 'length', left: Number(length) };
    else this.mode = { kind: 'close' };
    clearTimeout(this.timer);
    this.head = [];
    this.body = new RawBody(this);
    // Nothing more is read until the body is taken (consume() or the Readable).
    this.pause();
    if (rest.length) this.early = Buffer.from(rest);
    this.respond?.({ statusCode, headers, body: this.body });
    if (this.mode.kind === 'length' && this.mode.left === 0 && !rest.length) this.end();
  }

  /** The body was taken: deliver what came with the head, then read on. */
  flow(): void {
    if (this.done || !this.body) return;
    const early = this.early;
    this.early = undefined;
    if (early) {
      this.paused = false;
      this.decode(early);
      if (this.paused || this.done) return; // the handler's promise resumes
    }
    this.resume();
  }

  private resume(): void {
    if (this.done) return;
    this.paused = false;
    this.arm(this.o.bodyTimeoutMs, 'UND_ERR_BODY_TIMEOUT', 'body timeout');
    this.socket.resume();
  }

  private pause(): void {
    this.paused = true;
    clearTimeout(this.timer); // our wait, not the registry's silence
    this.socket.pause();
  }

  /** Passes body bytes on; pauses when the consumer is busy. */
  private emit(piece: Buffer): void {
    if (!piece.length || this.done) return;
    const r = this.body!.deliver(piece);
    if (r === false) this.pause();
    else if (r) {
      this.pause();
      this.waiting = r;
      r.then(() => {
        this.waiting = undefined;
        if (!this.complete) this.resume();
      }, (err: Error) => this.finish(err));
    }
  }

  private decode(piece: Buffer): void {
    const mode = this.mode!;
    if (mode.kind === 'close') return this.emit(piece);
    if (mode.kind === 'length') {
      const take = Math.min(piece.length, mode.left);
      mode.left -= take;
      this.emit(piece.subarray(0, take));
      if (mode.left === 0) this.end();
      return;
    }
    // chunked: pieces of data between size lines; a delivered piece may pause us only at its end
    let at = 0;
    const out: Buffer[] = [];
    while (at < piece.length && !this.done) {
      if (this.chunkState === 'data') {
        const n = Math.min(this.chunkLeft, piece.length - at);
        out.push(piece.subarray(at, at + n));
        at += n;
        this.chunkLeft -= n;
        if (this.chunkLeft === 0) this.chunkState = 'crlf';
        continue;
      }
      const nl = piece.indexOf(10, at);
      const upto = nl < 0 ? piece.length : nl + 1;
      this.line += piece.subarray(at, upto).toString('latin1');
      at = upto;
      if (this.line.length > MAX_CHUNK_LINE) return this.finish(netError('UND_ERR_SOCKET', 'malformed chunked body (line too long)'));
      if (nl < 0) break;
      const line = this.line.trim();
      this.line = '';
      if (this.chunkState === 'crlf') {
        if (line !== '') return this.finish(netError('UND_ERR_SOCKET', 'malformed chunked body (no CRLF after data)'));
        this.chunkState = 'size';
      } else if (this.chunkState === 'size') {
        const size = /^[0-9a-fA-F]+/.exec(line);
        if (!size) return this.finish(netError('UND_ERR_SOCKET', 'malformed chunked body (bad chunk size)'));
        this.chunkLeft = parseInt(size[0], 16);
        this.chunkState = this.chunkLeft === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        this.flushChunks(out);
        return this.end();
      }
    }
    this.flushChunks(out);
  }

  private flushChunks(out: Buffer[]): void {
    if (out.length === 1) this.emit(out[0]!);
    else if (out.length > 1) this.emit(Buffer.concat(out));
  }

  /** The last byte arrived; the body ends once the consumer is through with it. */
  private end(): void {
    this.complete = true;
    clearTimeout(this.timer);
    if (this.waiting) this.waiting.then(() => this.finish(), (err: Error) => this.finish(err));
    else this.finish();
  }

  private onEnd(): void {
    if (this.done || this.complete) return;
    if (this.body && this.mode?.kind === 'close' && !this.early) return this.end();
    this.finish(netError('ECONNRESET', this.body ? 'the connection closed before the body ended' : 'the connection closed before a response'));
  }

  /** Ends the request once: the body's end or error, or the response promise's rejection. */
  finish(err?: Error): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.o.signal.removeEventListener('abort', this.onAbort);
    if (this.body) this.body.settle(err);
    else this.fail?.(err ?? netError('ECONNRESET', 'the connection closed before a response'));
    this.socket.destroy();
  }

  readonly onAbort = () => this.finish(Object.assign(new Error('This operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' }));

  /** The consumer dropped the body: no error to report to anyone. */
  close(): void {
    this.finish();
  }
}

/** GET `url` on a connection of its own. Resolves at the response's head; the body is read on demand. */
export async function rawGet(url: string, o: RawGetOptions): Promise<RawResponse> {
  o.signal.throwIfAborted();
  const c = new Connection(new URL(url), o);
  o.signal.addEventListener('abort', c.onAbort, { once: true });
  return c.response();
}
