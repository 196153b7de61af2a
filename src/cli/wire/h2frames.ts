// HTTP/2 framing (RFC 9113 §4, §6): the frame header, the frame types and codes the CLI's client uses,
// and a reader that cuts a byte stream into frames. What frames mean is h2connection.ts's business.

export const FrameType = {
  DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7,
  WINDOW_UPDATE: 8, CONTINUATION: 9,
} as const;

export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export const ErrorCode = {
  NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, SETTINGS_TIMEOUT: 4,
  STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9,
  CONNECT_ERROR: 10, ENHANCE_YOUR_CALM: 11, INADEQUATE_SECURITY: 12, HTTP_1_1_REQUIRED: 13,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5,
  MAX_HEADER_LIST_SIZE: 6,
} as const;

/** The client connection preface (§3.4), sent before our first SETTINGS. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** SETTINGS_MAX_FRAME_SIZE's initial value, and the least any peer may announce (§6.5.2). */
export const DEFAULT_MAX_FRAME = 16_384;
/** The initial flow-control window of every stream and of the connection (§6.9.2). */
export const DEFAULT_WINDOW = 65_535;
export const MAX_WINDOW = 0x7fff_ffff;

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** A violation the whole connection dies of (§5.4.1): we send GOAWAY with `code` and close. */
export class ConnectionError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** The 9-octet frame header (§4.1). */
export function frameHeader(type: number, flags: number, streamId: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(9);
  h.writeUIntBE(length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & MAX_WINDOW, 5);
  return h;
}

/** A whole frame in one buffer (control frames: small). */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([frameHeader(type, flags, streamId, payload.length), payload]);
}

export function settingsFrame(settings: [id: number, value: number][]): Buffer {
  const p = Buffer.allocUnsafe(6 * settings.length);
  settings.forEach(([id, value], i) => {
    p.writeUInt16BE(id, 6 * i);
    p.writeUInt32BE(value, 6 * i + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, p);
}

export function u32Frame(type: number, streamId: number, value: number): Buffer {
  const p = Buffer.allocUnsafe(4);
  p.writeUInt32BE(value >>> 0, 0);
  return frame(type, 0, streamId, p);
}

export function goawayFrame(lastStreamId: number, code: number, debug = ''): Buffer {
  const p = Buffer.alloc(8 + Buffer.byteLength(debug));
  p.writeUInt32BE(lastStreamId, 0);
  p.writeUInt32BE(code, 4);
  p.write(debug, 8);
  return frame(FrameType.GOAWAY, 0, 0, p);
}

/**
 * Strips the padding of a PADDED DATA or HEADERS frame (§6.1, §6.2) and a HEADERS frame's priority
 * block, returning what is left: data, or a header block fragment.
 */
export function unpad(f: Frame): Buffer {
  let p = f.payload;
  let pad = 0;
  if (f.flags & Flag.PADDED) {
    if (p.length < 1) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'padded frame without a pad length');
    pad = p[0]!;
    p = p.subarray(1);
  }
  if (f.type === FrameType.HEADERS && f.flags & Flag.PRIORITY) {
    if (p.length < 5) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS too short for its priority');
    p = p.subarray(5);
  }
  if (pad > p.length) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'padding longer than the frame');
  return p.subarray(0, p.length - pad);
}

/** Cuts the bytes a peer sends into frames; `maxSize` is the SETTINGS_MAX_FRAME_SIZE we announced. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private have = 0;

  constructor(private readonly onFrame: (f: Frame) => void, private readonly maxSize = DEFAULT_MAX_FRAME) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.have += chunk.length;
    while (this.have >= 9) {
      const head = this.peek(9);
      const length = head.readUIntBE(0, 3);
      if (length > this.maxSize) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} octets above the ${this.maxSize} allowed`);
      if (this.have < 9 + length) return;
      const all = this.take(9 + length);
      this.onFrame({ type: all[3]!, flags: all[4]!, streamId: all.readUInt32BE(5) & MAX_WINDOW, payload: all.subarray(9) });
    }
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks, this.have)];
    return this.chunks[0]!;
  }

  private take(n: number): Buffer {
    const first = this.peek(n);
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.have -= n;
    return out;
  }
}
