// gRPC over HTTP/2 on the daemon's Unix socket, spoken with node:http2 directly: the CLI needs unary,
// server- and client-streaming calls, deadlines and cancellation, and loading @grpc/grpc-js costs more
// than the whole rest of a `vmr ps` (issue 17). Wire format: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md
import { EventEmitter } from 'node:events';
import type http2 from 'node:http2';
import { http2 as h2, net } from '../builtins.js';
import type { MethodDef } from './methods.js';
import { ServiceError, Status } from './status.js';

/** Largest response message accepted (as the grpc-js client was configured before). */
const MAX_RECEIVE = 64 * 1024 * 1024;

/** One HTTP/2 connection to the daemon, opened on the first call. */
export class Channel {
  private session?: http2.ClientHttp2Session;

  constructor(readonly socketPath: string) {}

  private connect(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const session = h2().connect('http://localhost', { createConnection: () => net().connect(this.socketPath) });
    // Each call reports a broken connection through its own stream.
    session.on('error', () => undefined);
    this.session = session;
    return session;
  }

  /** Starts a call; the caller writes its request(s) and ends. `deadline` is epoch ms. */
  call(method: MethodDef, deadline?: number): Call {
    return new Call(this.connect(), method, deadline);
  }

  close(): void {
    this.session?.close();
  }
}

/**
 * One RPC. Emits 'message' for each decoded response, 'drain' when writing may go on, and 'status' exactly
 * once at the end: null for OK, else a ServiceError.
 */
export class Call extends EventEmitter {
  private readonly stream: http2.ClientHttp2Stream;
  private chunks: Buffer[] = [];
  private have = 0;
  private need = 5;
  private inBody = false;
  private compressed = false;
  private httpStatus = 200;
  private status?: ServiceError | { code: 0 };
  private local?: ServiceError;
  private error?: Error;
  private finished = false;
  private timer?: NodeJS.Timeout;

  constructor(session: http2.ClientHttp2Session, private readonly method: MethodDef, deadline?: number) {
    super();
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': method.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'vmr',
    };
    if (deadline !== undefined) {
      const ms = Math.max(1, Math.ceil(deadline - Date.now()));
      headers['grpc-timeout'] = ms < 1e8 ? `${ms}m` : `${Math.ceil(ms / 1000)}S`;
      this.timer = setTimeout(() => this.cancel(Status.DEADLINE_EXCEEDED, 'Deadline exceeded'), ms);
    }
    this.stream = session.request(headers);
    this.stream.on('response', (h) => {
      this.httpStatus = Number(h[':status'] ?? 200);
      this.readStatus(h); // a trailers-only reply carries its status in the headers
    });
    this.stream.on('data', (chunk: Buffer) => this.onData(chunk));
    this.stream.on('trailers', (h) => this.readStatus(h));
    this.stream.on('drain', () => this.emit('drain'));
    this.stream.on('error', (err) => { this.error ??= err; });
    this.stream.on('close', () => this.finish());
  }

  /** Sends one request message; false means wait for 'drain'. */
  write(message: object): boolean {
    if (this.finished || this.stream.destroyed) return true;
    const body = this.method.serialize(message);
    const head = Buffer.allocUnsafe(5);
    head[0] = 0;
    head.writeUInt32BE(body.length, 1);
    this.stream.cork();
    this.stream.write(head);
    const ok = this.stream.write(body);
    this.stream.uncork();
    return ok;
  }

  /** Stops reading replies from the socket (the caller is busy, e.g. writing a large export); resume() reads on. */
  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  /** No more request messages. */
  end(): void {
    if (!this.finished && !this.stream.destroyed) this.stream.end();
  }

  /** Ends the call here and tells the daemon (RST_STREAM CANCEL: it sees the call cancelled). */
  cancel(code: number = Status.CANCELLED, details = 'Cancelled on client'): void {
    if (this.finished) return;
    this.local ??= new ServiceError(code, details);
    this.stream.close(h2().constants.NGHTTP2_CANCEL);
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.have += chunk.length;
    while (this.have >= this.need && !this.local) {
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.have);
      const part = all.subarray(0, this.need);
      const rest = all.subarray(this.need);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.have = rest.length;
      if (!this.inBody) {
        this.compressed = part[0] !== 0;
        this.need = part.readUInt32BE(1);
        this.inBody = true;
        if (this.need > MAX_RECEIVE) this.cancel(Status.RESOURCE_EXHAUSTED, `Received message larger than max (${this.need} vs ${MAX_RECEIVE})`);
        continue;
      }
      this.need = 5;
      this.inBody = false;
      // We announce no grpc-accept-encoding, so a compressed message is a broken peer.
      if (this.compressed) {
        this.cancel(Status.INTERNAL, 'received a compressed message that was not asked for');
        return;
      }
      let message: unknown;
      try {
        message = this.method.deserialize(part);
      } catch (err) {
        this.cancel(Status.INTERNAL, `could not parse the response: ${(err as Error).message}`);
        return;
      }
      this.emit('message', message);
    }
  }

  private readStatus(h: http2.IncomingHttpHeaders): void {
    const raw = h['grpc-status'];
    if (raw === undefined) return;
    const code = Number(raw);
    if (code === 0) {
      this.status = { code: 0 };
      return;
    }
    const metadata: Record<string, string | Buffer> = {};
    for (const [k, v] of Object.entries(h)) {
      if (k.startsWith(':') || k === 'grpc-status' || k === 'grpc-message' || k === 'content-type' || v === undefined) continue;
      const value = Array.isArray(v) ? v.join(',') : String(v);
      metadata[k] = k.endsWith('-bin') ? Buffer.from(value, 'base64') : value;
    }
    this.status = new ServiceError(Number.isInteger(code) ? code : Status.UNKNOWN, decodeMessage(h['grpc-message']), metadata);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    const { constants } = h2();
    let outcome: ServiceError | null;
    if (this.local) outcome = this.local;
    else if (this.status) outcome = this.status instanceof ServiceError ? this.status : null;
    else if (this.httpStatus !== 200) outcome = new ServiceError(httpToStatus(this.httpStatus), `Received HTTP status code ${this.httpStatus}`);
    // The socket layer's message ("connect ENOENT /run/…") is what tells "daemon not running" apart.
    else if (this.error) outcome = new ServiceError(Status.UNAVAILABLE, this.error.message);
    else if (this.stream.rstCode === constants.NGHTTP2_REFUSED_STREAM) outcome = new ServiceError(Status.UNAVAILABLE, 'stream refused');
    else if (this.stream.rstCode && this.stream.rstCode !== constants.NGHTTP2_NO_ERROR) {
      outcome = new ServiceError(this.stream.rstCode === constants.NGHTTP2_CANCEL ? Status.CANCELLED : Status.INTERNAL, `Received RST_STREAM with code ${this.stream.rstCode}`);
    } else outcome = new ServiceError(Status.UNAVAILABLE, 'Connection dropped');
    this.emit('status', outcome);
  }
}

function decodeMessage(v: string | string[] | undefined): string {
  const s = Array.isArray(v) ? v.join(',') : v ?? '';
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** gRPC's HTTP-to-status table for replies that are not gRPC at all. */
function httpToStatus(http: number): number {
  if (http === 400) return Status.INTERNAL;
  if (http === 401) return Status.UNAUTHENTICATED;
  if (http === 403) return Status.PERMISSION_DENIED;
  if (http === 404) return Status.UNIMPLEMENTED;
  if (http === 429 || http === 502 || http === 503 || http === 504) return Status.UNAVAILABLE;
  return Status.UNKNOWN;
}
