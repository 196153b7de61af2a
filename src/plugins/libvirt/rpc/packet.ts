// libvirt RPC packets: a u32 length (which counts itself), a 24-byte header, the XDR payload.
import { XdrError } from './xdr.js';

export const REMOTE_PROGRAM = 0x20008086;
export const REMOTE_PROTOCOL_VERSION = 1;
/** libvirt's QEMU-specific program (qemu_protocol.x, version 1 like the remote program). */
export const QEMU_PROGRAM = 0x20008087;
export const KEEPALIVE_PROGRAM = 0x6b656570;
export const KEEPALIVE_PROTOCOL_VERSION = 1;
export const KEEPALIVE_PROC_PING = 1;
export const KEEPALIVE_PROC_PONG = 2;

export const enum MessageType {
  Call = 0,
  Reply = 1,
  Message = 2,
  Stream = 3,
  CallWithFds = 4,
  ReplyWithFds = 5,
  StreamHole = 6,
}

export const enum MessageStatus {
  Ok = 0,
  Error = 1,
  Continue = 2,
}

export const HEADER_SIZE = 24;
/** VIR_NET_MESSAGE_MAX: header + payload. */
export const MESSAGE_MAX = 33554432;
export const STRING_MAX = 4194304;

export interface PacketHeader {
  prog: number;
  vers: number;
  proc: number;
  type: number;
  serial: number;
  status: number;
}

export interface Packet extends PacketHeader {
  payload: Buffer;
}

export function encodePacket(h: PacketHeader, payload: Buffer = Buffer.alloc(0)): Buffer {
  const total = 4 + HEADER_SIZE + payload.length;
  if (total - 4 > MESSAGE_MAX) throw new XdrError('encode', `packet of ${total} bytes exceeds libvirt's 32 MiB limit`);
  const b = Buffer.alloc(4 + HEADER_SIZE);
  b.writeUInt32BE(total, 0);
  b.writeUInt32BE(h.prog >>> 0, 4);
  b.writeUInt32BE(h.vers >>> 0, 8);
  b.writeInt32BE(h.proc, 12);
  b.writeInt32BE(h.type, 16);
  b.writeUInt32BE(h.serial >>> 0, 20);
  b.writeInt32BE(h.status, 24);
  return payload.length ? Buffer.concat([b, payload]) : b;
}

export function decodePacket(frame: Buffer): Packet {
  if (frame.length < 4 + HEADER_SIZE) throw new XdrError('decode', `packet of ${frame.length} bytes is shorter than its header`);
  return {
    prog: frame.readUInt32BE(4),
    vers: frame.readUInt32BE(8),
    proc: frame.readInt32BE(12),
    type: frame.readInt32BE(16),
    serial: frame.readUInt32BE(20),
    status: frame.readInt32BE(24),
    payload: frame.subarray(4 + HEADER_SIZE),
  };
}

/**
 * Cuts a byte stream into whole packets. A chunk may hold several packets or a fraction of one; the
 * tail is kept until the rest arrives. Chunks are kept as a list and each byte is copied at most once,
 * when the packet it belongs to is complete: a 32 MiB reply arriving in 64 KiB reads costs one copy,
 * not one re-join of everything buffered per read.
 */
export class PacketFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Length of the packet being assembled, once its length word has arrived. */
  private need: number | undefined;

  /** Returns every complete frame (length word included); throws on an impossible length. */
  push(chunk: Buffer): Buffer[] {
    if (chunk.length) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const out: Buffer[] = [];
    for (;;) {
      if (this.need === undefined) {
        if (this.buffered < 4) break;
        const len = this.peekLength();
        if (len < 4 + HEADER_SIZE || len - 4 > MESSAGE_MAX) {
          throw new XdrError('decode', `bad packet length ${len}: the stream is not libvirt RPC or is corrupt`);
        }
        this.need = len;
      }
      if (this.buffered < this.need) break;
      out.push(this.take(this.need));
      this.need = undefined;
    }
    return out;
  }

  get pending(): number {
    return this.buffered;
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= 4) return first.readUInt32BE(0);
    const head = Buffer.alloc(4);
    let got = 0;
    for (const c of this.chunks) {
      got += c.copy(head, got, 0, Math.min(c.length, 4 - got));
      if (got === 4) break;
    }
    return head.readUInt32BE(0);
  }

  /** Removes and returns the first `n` buffered bytes (a view when they lie in one chunk). */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0]!;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const pieces: Buffer[] = [];
    let got = 0;
    let i = 0;
    while (got < n) {
      const c = this.chunks[i]!;
      const want = n - got;
      if (c.length <= want) {
        pieces.push(c);
        got += c.length;
        i += 1;
      } else {
        pieces.push(c.subarray(0, want));
        this.chunks[i] = c.subarray(want);
        got += want;
      }
    }
    // One splice, not a shift per chunk: shifting a long array is itself linear.
    this.chunks.splice(0, i);
    return Buffer.concat(pieces, n);
  }
}
