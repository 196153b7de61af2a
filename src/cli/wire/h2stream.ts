// One HTTP/2 request stream of H2Connection: its send queue (held back by the peer's windows), what it
// received (held back while its consumer is paused, which is also what holds back our WINDOW_UPDATEs),
// and how it ends. Events: 'headers' (fields, isTrailers), 'data' (Buffer), 'drain', then 'close' once.
import { EventEmitter } from 'node:events';
import type { H2Connection } from './h2connection.js';
import { ErrorCode } from './h2frames.js';
import type { HeaderList } from './hpack.js';

/**
 * Our receive window per stream: large enough that a server stream (export, logs, pull progress) is not
 * throttled by round trips, small enough to bound what a paused stream buffers.
 */
export const STREAM_WINDOW = 1 << 20;
/** write() asks the caller to wait for 'drain' once this much is queued and not yet sent. */
const HIGH_WATER = 64 << 10;

type Received = { kind: 'headers'; fields: Record<string, string>; trailers: boolean } | { kind: 'data'; data: Buffer } | { kind: 'end' };

export class H2Stream extends EventEmitter {
  /** 0 until the stream is opened (the peer's concurrency limit may hold it back). */
  id = 0;
  requestHeaders?: Buffer;
  readonly queue: Buffer[] = [];
  queued = 0;
  endQueued = false;
  localEnded = false;
  /** Set when the stream is over; with `rstCode` or `error` saying how, if not cleanly. */
  isClosed = false;
  rstCode?: number;
  error?: Error;
  private remoteEnded = false;
  private gotHeaders = false;
  private recvWindow = STREAM_WINDOW;
  private consumed = 0;
  private paused = false;
  private readonly inbox: Received[] = [];
  private needDrain = false;

  constructor(private readonly conn: H2Connection, public sendWindow: number) {
    super();
  }

  /** Queues request bytes; false means wait for 'drain' (the peer's window or the socket is full). */
  write(chunk: Buffer): boolean {
    if (this.isClosed || this.endQueued) return true;
    if (chunk.length === 0) return true;
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.conn.flush();
    if (this.queued < HIGH_WATER) return true;
    this.needDrain = true;
    return false;
  }

  /** No more request bytes: END_STREAM goes with the last of them. */
  end(): void {
    if (this.isClosed || this.endQueued) return;
    this.endQueued = true;
    this.conn.flush();
  }

  /** Ends the stream here and tells the peer (RST_STREAM with `code`). */
  reset(code: number, error?: Error): void {
    if (this.isClosed) return;
    this.conn.reset(this, code);
    this.closed(code, error);
  }

  /** Stops delivering what arrives (and so stops granting the peer more window); resume() goes on. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    while (!this.paused && this.inbox.length > 0 && !this.isClosed) this.dispatch(this.inbox.shift()!);
  }

  // --- called by H2Connection ------------------------------------------------------------------

  /** Up to `n` queued octets, for one DATA frame. */
  take(n: number): Buffer {
    const head = this.queue[0]!;
    let out: Buffer;
    if (head.length <= n) {
      out = head;
      this.queue.shift();
    } else {
      out = head.subarray(0, n);
      this.queue[0] = head.subarray(n);
    }
    this.queued -= out.length;
    return out;
  }

  sentEnd(): void {
    this.localEnded = true;
  }

  maybeDrain(): void {
    if (this.needDrain && this.queued < HIGH_WATER && !this.isClosed) {
      this.needDrain = false;
      this.emit('drain');
    }
  }

  receivedHeaders(list: HeaderList, endStream: boolean): void {
    if (this.remoteEnded) return;
    const fields: Record<string, string> = {};
    for (const [name, value] of list) fields[name] = name in fields ? `${fields[name]}, ${value}` : value;
    if (!this.gotHeaders) {
      // 1xx responses are informational; gRPC servers send none, but HTTP allows them before the real one.
      if (/^1\d\d$/.test(fields[':status'] ?? '') && !endStream) return;
      this.gotHeaders = true;
      this.deliver({ kind: 'headers', fields, trailers: false });
    } else if (!endStream) {
      this.reset(ErrorCode.PROTOCOL_ERROR, new Error('the daemon sent trailers without ending the stream'));
      return;
    } else this.deliver({ kind: 'headers', fields, trailers: true });
    if (endStream) this.remoteEnd();
  }

  receivedData(data: Buffer, padding: number, endStream: boolean): void {
    if (this.remoteEnded) return;
    this.recvWindow -= data.length + padding;
    if (this.recvWindow < 0) {
      this.reset(ErrorCode.FLOW_CONTROL_ERROR, new Error('the daemon overran the stream window'));
      return;
    }
    if (!this.gotHeaders && data.length > 0) {
      this.reset(ErrorCode.PROTOCOL_ERROR, new Error('the daemon sent data before headers'));
      return;
    }
    this.consume(padding);
    if (data.length > 0) this.deliver({ kind: 'data', data });
    if (endStream) this.remoteEnd();
  }

  /** Ends the stream now, dropping whatever was queued or held (reset, connection loss). */
  closed(rstCode: number | undefined, error: Error | undefined): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.rstCode = rstCode;
    this.error = error;
    this.queue.length = 0;
    this.queued = 0;
    this.inbox.length = 0;
    this.emit('close');
  }

  // --- internals --------------------------------------------------------------------------------

  private remoteEnd(): void {
    this.remoteEnded = true;
    // The response is complete. A request still being sent is moot now (the server gave its answer, e.g.
    // an error mid-upload): stop it without error (RFC 9113 §8.1), else the stream is simply done.
    if (!this.localEnded) this.conn.reset(this, ErrorCode.NO_ERROR);
    else this.conn.forget(this);
    this.queue.length = 0;
    this.queued = 0;
    this.deliver({ kind: 'end' });
  }

  private deliver(r: Received): void {
    if (this.paused || this.inbox.length > 0) this.inbox.push(r);
    else this.dispatch(r);
  }

  private dispatch(r: Received): void {
    if (r.kind === 'data') {
      this.emit('data', r.data);
      this.consume(r.data.length);
    } else if (r.kind === 'headers') this.emit('headers', r.fields, r.trailers);
    else if (!this.isClosed) {
      this.isClosed = true;
      this.emit('close');
    }
  }

  /** The consumer took `n` octets: give the peer its window back once half of it is used. */
  private consume(n: number): void {
    this.consumed += n;
    if (this.consumed >= STREAM_WINDOW / 2 && !this.remoteEnded && this.id) {
      this.recvWindow += this.consumed;
      this.conn.windowUpdate(this.id, this.consumed);
      this.consumed = 0;
    }
  }
}
