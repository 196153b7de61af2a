// The client side of one HTTP/2 connection (RFC 9113) over a socket: streams, SETTINGS, PING, GOAWAY and
// flow control both ways. Written for the CLI instead of node:http2, whose load (with the http, tls and
// _http_agent modules it pulls in) was a fifth of a `vmr ps` (issue 17). It speaks only what a gRPC
// client needs: requests we open, no server push, no priorities.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import {
  ConnectionError, DEFAULT_MAX_FRAME, DEFAULT_WINDOW, ErrorCode, Flag, FrameReader, FrameType, MAX_WINDOW, PREFACE,
  Setting, frame, frameHeader, goawayFrame, settingsFrame, u32Frame, unpad, type Frame,
} from './h2frames.js';
import { HpackDecoder, HpackError, encodeHeaders, type HeaderList } from './hpack.js';
import { H2Stream, STREAM_WINDOW } from './h2stream.js';

/** Our connection receive window: what all streams together may have in flight. */
const CONNECTION_WINDOW = 16 << 20;
/** A header block (HEADERS + CONTINUATION) larger than this is refused rather than buffered. */
const MAX_HEADER_BLOCK = 256 << 10;
/** Stop moving queued DATA into the socket while it holds this much: the kernel is the bottleneck then. */
const SOCKET_HIGH_WATER = 256 << 10;

export class H2Connection extends EventEmitter {
  private readonly reader: FrameReader;
  private readonly hpack = new HpackDecoder();
  private readonly streams = new Map<number, H2Stream>();
  /** Streams not yet opened because the peer's SETTINGS_MAX_CONCURRENT_STREAMS is reached. */
  private readonly waiting: H2Stream[] = [];
  private nextId = 1;
  private peerMaxFrame = DEFAULT_MAX_FRAME;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxStreams = Infinity;
  /** What the peer lets us send on the connection as a whole. */
  private sendWindow = DEFAULT_WINDOW;
  /** Octets received on the connection since our last connection WINDOW_UPDATE. */
  private received = 0;
  /** A header block still waiting for its CONTINUATION frames. */
  private block?: { streamId: number; endStream: boolean; parts: Buffer[]; size: number };
  private goawayId?: number;
  private closing = false;
  /** Set once the connection is unusable; the reason every stream still open ends with. */
  dead?: Error;

  constructor(private readonly socket: Socket) {
    super();
    this.reader = new FrameReader((f) => this.onFrame(f));
    socket.on('data', (chunk: Buffer) => {
      if (this.dead) return; // after our GOAWAY or close: nothing left to deliver to
      try {
        this.reader.push(chunk);
      } catch (err) {
        this.fail(err instanceof ConnectionError ? err : new ConnectionError(ErrorCode.PROTOCOL_ERROR, (err as Error).message));
      }
    });
    socket.on('drain', () => this.flush());
    // The socket layer's message ("connect ENOENT /run/…") is what tells "daemon not running" apart.
    socket.on('error', (err) => this.shutdown(err));
    socket.on('close', () => this.shutdown(new Error('Connection dropped')));
    socket.cork();
    socket.write(PREFACE);
    socket.write(settingsFrame([[Setting.ENABLE_PUSH, 0], [Setting.INITIAL_WINDOW_SIZE, STREAM_WINDOW]]));
    socket.write(u32Frame(FrameType.WINDOW_UPDATE, 0, CONNECTION_WINDOW - DEFAULT_WINDOW));
    process.nextTick(() => socket.uncork());
  }

  /** False once GOAWAY, an error or close(): new calls need a new connection. */
  get usable(): boolean {
    return !this.dead && !this.closing && this.goawayId === undefined;
  }

  /** Opens a stream with these request headers; its events tell the rest. */
  request(headers: HeaderList): H2Stream {
    const stream = new H2Stream(this, this.peerInitialWindow);
    if (this.dead) {
      process.nextTick(() => stream.closed(undefined, this.dead));
      return stream;
    }
    stream.requestHeaders = encodeHeaders(headers);
    this.waiting.push(stream);
    this.openWaiting();
    return stream;
  }

  /** Ends the connection once its streams are done (GOAWAY NO_ERROR, then FIN). */
  close(): void {
    this.closing = true;
    this.maybeEnd();
  }

  // --- called by H2Stream -----------------------------------------------------------------------

  /** Moves queued DATA into the socket as far as the peer's windows and the socket allow. */
  flush(): void {
    if (this.dead) return;
    // One writev for all the frames that fit, not one per frame (an upload moves GiBs in 16 KiB frames by default).
    this.socket.cork();
    try {
      this.flushStreams();
    } finally {
      this.socket.uncork();
    }
  }

  private flushStreams(): void {
    for (const stream of this.streams.values()) {
      while (stream.id && stream.queued > 0 && this.sendWindow > 0 && stream.sendWindow > 0) {
        if (this.socket.writableLength >= SOCKET_HIGH_WATER) return; // 'drain' calls flush again
        const n = Math.min(this.peerMaxFrame, this.sendWindow, stream.sendWindow, stream.queue[0]!.length);
        const payload = stream.take(n);
        this.sendWindow -= n;
        stream.sendWindow -= n;
        const last = stream.queued === 0 && stream.endQueued;
        this.socket.write(frameHeader(FrameType.DATA, last ? Flag.END_STREAM : 0, stream.id, n));
        this.socket.write(payload);
        if (last) stream.sentEnd();
      }
      if (stream.id && stream.queued === 0 && stream.endQueued && !stream.localEnded) {
        this.socket.write(frame(FrameType.DATA, Flag.END_STREAM, stream.id));
        stream.sentEnd();
      }
      stream.maybeDrain();
    }
  }

  /** Grants the peer `n` more octets on a stream (its consumer took them). */
  windowUpdate(streamId: number, n: number): void {
    if (!this.dead && n > 0) this.socket.write(u32Frame(FrameType.WINDOW_UPDATE, streamId, n));
  }

  reset(stream: H2Stream, code: number): void {
    if (stream.id && !this.dead) this.socket.write(u32Frame(FrameType.RST_STREAM, stream.id, code));
    this.forget(stream);
  }

  /** The stream is over on both sides: it no longer counts against the peer's concurrency limit. */
  forget(stream: H2Stream): void {
    if (stream.id) this.streams.delete(stream.id);
    const i = this.waiting.indexOf(stream);
    if (i >= 0) this.waiting.splice(i, 1);
    this.openWaiting();
    this.maybeEnd();
  }

  // --- internals --------------------------------------------------------------------------------

  private openWaiting(): void {
    while (this.waiting.length > 0 && this.streams.size < this.peerMaxStreams && this.usable) {
      const stream = this.waiting.shift()!;
      if (this.nextId > MAX_WINDOW) {
        stream.closed(undefined, new Error('stream ids exhausted on this connection'));
        continue;
      }
      stream.id = this.nextId;
      this.nextId += 2;
      this.streams.set(stream.id, stream);
      this.sendHeaders(stream.id, stream.requestHeaders!);
      stream.requestHeaders = undefined;
    }
    // A GOAWAY came in while streams waited for a slot: they never reached the peer, so it refused them.
    if (!this.usable) for (const s of this.waiting.splice(0)) s.closed(ErrorCode.REFUSED_STREAM, undefined);
    this.flush();
  }

  private sendHeaders(id: number, block: Buffer): void {
    this.socket.cork();
    for (let at = 0, first = true; first || at < block.length; first = false) {
      const part = block.subarray(at, at + this.peerMaxFrame);
      at += part.length;
      const flags = at >= block.length ? Flag.END_HEADERS : 0;
      this.socket.write(frame(first ? FrameType.HEADERS : FrameType.CONTINUATION, flags, id, part));
    }
    this.socket.uncork();
  }

  private onFrame(f: Frame): void {
    if (this.block && (f.type !== FrameType.CONTINUATION || f.streamId !== this.block.streamId)) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'expected a CONTINUATION frame');
    }
    switch (f.type) {
      case FrameType.DATA: return this.onData(f);
      case FrameType.HEADERS: {
        this.checkPeerStream(f.streamId);
        this.block = { streamId: f.streamId, endStream: (f.flags & Flag.END_STREAM) !== 0, parts: [], size: 0 };
        return this.onBlockPart(unpad(f), f.flags);
      }
      case FrameType.CONTINUATION:
        if (!this.block) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without HEADERS');
        return this.onBlockPart(f.payload, f.flags);
      case FrameType.RST_STREAM: {
        this.checkPeerStream(f.streamId);
        if (f.payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM of the wrong size');
        const stream = this.streams.get(f.streamId);
        if (stream) {
          this.streams.delete(f.streamId);
          stream.closed(f.payload.readUInt32BE(0), undefined);
          this.forget(stream);
        }
        return;
      }
      case FrameType.SETTINGS: return this.onSettings(f);
      case FrameType.PUSH_PROMISE: throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE though we disabled push');
      case FrameType.PING:
        if (f.streamId !== 0 || f.payload.length !== 8) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'malformed PING');
        if (!(f.flags & Flag.ACK)) this.socket.write(frame(FrameType.PING, Flag.ACK, 0, f.payload));
        return;
      case FrameType.GOAWAY: return this.onGoaway(f);
      case FrameType.WINDOW_UPDATE: return this.onWindowUpdate(f);
      default: return; // PRIORITY and unknown types: ignored (§4.1, §5.5)
    }
  }

  /** A frame for a stream we never opened is a connection error (§5.1.1): only odd ids are ours. */
  private checkPeerStream(id: number): void {
    if (id === 0 || id % 2 === 0 || id >= this.nextId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `frame for stream ${id}, which we did not open`);
  }

  private onBlockPart(part: Buffer, flags: number): void {
    const block = this.block!;
    block.parts.push(part);
    block.size += part.length;
    if (block.size > MAX_HEADER_BLOCK) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'header block too large');
    if (!(flags & Flag.END_HEADERS)) return;
    this.block = undefined;
    let headers: HeaderList;
    try {
      // Decoded even when the stream is gone: the table is shared by the whole connection.
      headers = this.hpack.decode(Buffer.concat(block.parts, block.size));
    } catch (err) {
      if (err instanceof HpackError) throw new ConnectionError(ErrorCode.COMPRESSION_ERROR, err.message);
      throw err;
    }
    const stream = this.streams.get(block.streamId);
    if (stream) stream.receivedHeaders(headers, block.endStream);
  }

  private onData(f: Frame): void {
    this.checkPeerStream(f.streamId);
    // Flow control counts the whole payload, padding included (§6.9.1); the connection's share is
    // given back at once, so one paused stream cannot stall the others.
    this.received += f.payload.length;
    if (this.received > CONNECTION_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'peer overran the connection window');
    if (this.received >= CONNECTION_WINDOW / 2) {
      this.windowUpdate(0, this.received);
      this.received = 0;
    }
    const data = unpad(f);
    const stream = this.streams.get(f.streamId);
    if (stream) stream.receivedData(data, f.payload.length - data.length, (f.flags & Flag.END_STREAM) !== 0);
  }

  private onSettings(f: Frame): void {
    if (f.streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (f.flags & Flag.ACK) return;
    if (f.payload.length % 6 !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS of the wrong size');
    for (let at = 0; at < f.payload.length; at += 6) {
      const id = f.payload.readUInt16BE(at);
      const value = f.payload.readUInt32BE(at + 2);
      if (id === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'initial window above 2^31-1');
        // A change applies to every open stream's window, which may go negative (§6.9.2).
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const s of this.streams.values()) s.sendWindow += delta;
        for (const s of this.waiting) s.sendWindow += delta;
      } else if (id === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME || value > 0xffffff) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'bad SETTINGS_MAX_FRAME_SIZE');
        this.peerMaxFrame = value;
      } else if (id === Setting.MAX_CONCURRENT_STREAMS) {
        this.peerMaxStreams = value;
      }
      // HEADER_TABLE_SIZE concerns an encoder's table, and ours keeps none; the rest do not apply to a client.
    }
    this.socket.write(frame(FrameType.SETTINGS, Flag.ACK, 0));
    this.openWaiting();
  }

  private onGoaway(f: Frame): void {
    if (f.streamId !== 0 || f.payload.length < 8) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'malformed GOAWAY');
    const last = f.payload.readUInt32BE(0) & MAX_WINDOW;
    const code = f.payload.readUInt32BE(4);
    this.goawayId = last;
    // Streams above `last` were never processed: refused, so the caller may retry them (§6.8).
    for (const [id, s] of this.streams) {
      if (id > last) {
        this.streams.delete(id);
        s.closed(ErrorCode.REFUSED_STREAM, undefined);
      }
    }
    if (code !== ErrorCode.NO_ERROR) {
      const debug = f.payload.subarray(8).toString('utf8');
      this.dead = new Error(`the daemon closed the connection (HTTP/2 error ${code}${debug ? `: ${debug}` : ''})`);
    }
    this.openWaiting();
    this.maybeEnd();
  }

  private onWindowUpdate(f: Frame): void {
    if (f.payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of the wrong size');
    const n = f.payload.readUInt32BE(0) & MAX_WINDOW;
    if (f.streamId === 0) {
      if (n === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.sendWindow += n;
      if (this.sendWindow > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window above 2^31-1');
    } else {
      this.checkPeerStream(f.streamId);
      const stream = this.streams.get(f.streamId);
      if (!stream) return;
      if (n === 0 || stream.sendWindow + n > MAX_WINDOW) {
        stream.closed(ErrorCode.PROTOCOL_ERROR, new Error(`bad WINDOW_UPDATE on stream ${f.streamId}`));
        this.reset(stream, n === 0 ? ErrorCode.PROTOCOL_ERROR : ErrorCode.FLOW_CONTROL_ERROR);
        return;
      }
      stream.sendWindow += n;
    }
    this.flush();
  }

  private maybeEnd(): void {
    if (this.dead || this.streams.size > 0 || this.waiting.length > 0) return;
    if (this.closing || this.goawayId !== undefined) {
      // Destroyed once the GOAWAY is out, not when the peer closes its side: the CLI exits on its own time.
      this.socket.end(goawayFrame(0, ErrorCode.NO_ERROR), () => this.socket.destroy());
      this.shutdown(new Error('Connection closed'));
    }
  }

  /** A protocol violation by the peer: tell it why, close, and end every stream with the reason. */
  private fail(err: ConnectionError): void {
    if (this.dead) return;
    this.socket.end(goawayFrame(0, err.code, err.message));
    this.shutdown(Object.assign(new Error(`HTTP/2 protocol error from the daemon: ${err.message}`), { protocol: true }));
    this.socket.destroySoon();
  }

  private shutdown(err: Error): void {
    this.dead ??= err;
    const streams = [...this.streams.values(), ...this.waiting.splice(0)];
    this.streams.clear();
    for (const s of streams) s.closed(undefined, this.dead);
  }
}
