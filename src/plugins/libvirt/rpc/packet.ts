// libvirt RPC packets: a u32 length (which counts itself), a 24-byte header, the XDR payload.
import { XdrError } from './xdr.js';

export const REMOTE_PROGRAM = 0x20008086;
export const REMOTE_PROTOCOL_VERSION = 1;
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
 * tail is kept until the rest arrives. Chunks are only concatenated when a packet spans them.
 */
export class PacketFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Returns every complete frame (length word included); throws on an impossible length. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
    let buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32BE(off);
      if (len < 4 + HEADER_SIZE || len - 4 > MESSAGE_MAX) {
        throw new XdrError('decode', `bad packet length ${len}: the stream is not libvirt RPC or is corrupt`);
      }
      if (buf.length - off < len) break;
      out.push(buf.subarray(off, off + len));
      off += len;
    }
    buf = buf.subarray(off);
    this.chunks = buf.length ? [buf] : [];
    this.buffered = buf.length;
    return out;
  }

  get pending(): number {
    return this.buffered;
  }
}
