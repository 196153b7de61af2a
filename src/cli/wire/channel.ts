// gRPC over HTTP/2 on the daemon's Unix socket, spoken with our own HTTP/2 client (h2connection.ts on
// node:net): the CLI needs unary, server- and client-streaming calls, deadlines and cancellation, and
// loading @grpc/grpc-js, or even node:http2, costs more than the rest of a `vmr ps` (issue 17).
// Wire format: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md
import { EventEmitter } from 'node:events';
import { net } from '../builtins.js';
import { H2Connection } from './h2connection.js';
import { ErrorCode } from './h2frames.js';
import type { H2Stream } from './h2stream.js';
import type { MethodDef } from './methods.js';
import { ServiceError, Status } from './status.js';

/** Largest response message accepted (as the grpc-js client was configured before). */
const MAX_RECEIVE = 64 * 1024 * 1024;

/** One HTTP/2 connection to the daemon, opened on the first call (again after a GOAWAY or a drop). */
export class Channel {
  private connection?: H2Connection;

  constructor(readonly socketPath: string) {}

  private connect(): H2Connection {
    if (this.connection?.usable) return this.connection;
    this.connection = new H2Connection(net().connect(this.socketPath));
    return this.connection;
  }

  /** Starts a call; the caller writes its request(s) and ends. `deadline` is epoch ms. */
  call(method: MethodDef, deadline?: number): Call {
    return new Call(this.connect(), method, deadline);
  }

  /** Lets calls in flight finish, then closes the connection. */
  close(): void {
    this.connection?.close();
  }
}

/**
 * One RPC. Emits 'message' for each decoded response, 'drain' when writing may go on, and 'status' exactly
 * once at the end: null for OK, else a ServiceError.
 */
export class Call extends EventEmitter {
  private readonly stream: H2Stream;
  private chunks: Buffer[] = [];
  private have = 0;
  private need = 5;
  private inBody = false;
  private compressed = false;
  private httpStatus = 200;
  private status?: ServiceError | { code: 0 };
  private local?: ServiceError;
  private finished = false;
  private timer?: NodeJS.Timeout;

  constructor(connection: H2Connection, private readonly method: MethodDef, deadline?: number) {
    super();
    const headers: [string, string][] = [
      [':method', 'POST'], [':scheme', 'http'], [':path', method.path], [':authority', 'localhost'],
      ['content-type', 'application/grpc'], ['te', 'trailers'], ['user-agent', 'vmr'],
    ];
    if (deadline !== undefined) {
      const ms = Math.max(1, Math.ceil(deadline - Date.now()));
      headers.push(['grpc-timeout', ms < 1e8 ? `${ms}m` : `${Math.ceil(ms / 1000)}S`]);
      this.timer = setTimeout(() => this.cancel(Status.DEADLINE_EXCEEDED, 'Deadline exceeded'), ms);
    }
    this.stream = connection.request(headers);
    this.stream.on('headers', (h: Record<string, string>, trailers: boolean) => {
      if (!trailers) this.httpStatus = Number(h[':status'] ?? 200);
      this.readStatus(h); // a trailers-only reply carries its status in the headers
    });
    this.stream.on('data', (chunk: Buffer) => this.onData(chunk));
    this.stream.on('drain', () => this.emit('drain'));
    this.stream.on('close', () => this.finish());
  }

  /** Sends one request message; false means wait for 'drain'. */
  write(message: object): boolean {
    if (this.finished || this.stream.isClosed) return true;
    const body = this.method.serializeParts(message);
    const head = Buffer.allocUnsafe(5);
    head[0] = 0;
    head.writeUInt32BE(body.reduce((n, b) => n + b.length, 0), 1);
    let ok = this.stream.write(head);
    for (const b of body) ok = this.stream.write(b);
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
    if (!this.finished) this.stream.end();
  }

  /** Ends the call here and tells the daemon (RST_STREAM CANCEL: it sees the call cancelled). */
  cancel(code: number = Status.CANCELLED, details = 'Cancelled on client'): void {
    if (this.finished) return;
    this.local ??= new ServiceError(code, details);
    this.stream.reset(ErrorCode.CANCEL);
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

  private readStatus(h: Record<string, string>): void {
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
      metadata[k] = k.endsWith('-bin') ? Buffer.from(v, 'base64') : v;
    }
    this.status = new ServiceError(Number.isInteger(code) ? code : Status.UNKNOWN, decodeMessage(h['grpc-message']), metadata);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    const { error, rstCode } = this.stream;
    let outcome: ServiceError | null;
    if (this.local) outcome = this.local;
    else if (this.status) outcome = this.status instanceof ServiceError ? this.status : null;
    else if (this.httpStatus !== 200) outcome = new ServiceError(httpToStatus(this.httpStatus), `Received HTTP status code ${this.httpStatus}`);
    // The socket layer's message ("connect ENOENT /run/…") is what tells "daemon not running" apart.
    // A protocol violation by the daemon is its bug (INTERNAL), not "daemon unreachable".
    else if (error) outcome = new ServiceError('protocol' in error || rstCode !== undefined ? Status.INTERNAL : Status.UNAVAILABLE, error.message);
    else if (rstCode === ErrorCode.REFUSED_STREAM) outcome = new ServiceError(Status.UNAVAILABLE, 'stream refused');
    else if (rstCode !== undefined && rstCode !== ErrorCode.NO_ERROR) {
      outcome = new ServiceError(rstCode === ErrorCode.CANCEL ? Status.CANCELLED : Status.INTERNAL, `Received RST_STREAM with code ${rstCode}`);
    } else outcome = new ServiceError(Status.UNAVAILABLE, 'Connection dropped');
    this.emit('status', outcome);
  }
}

function decodeMessage(v: string | undefined): string {
  const s = v ?? '';
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
