// A scriptable stand-in for libvirtd on a temp unix socket: speaks the framing and header format,
// answers the handshake, and lets a test split, coalesce, reorder and withhold packets.
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import {
  KEEPALIVE_PROGRAM,
  PacketFramer,
  Proc,
  REMOTE_PROGRAM,
  XdrReader,
  XdrWriter,
  decodePacket,
  encodePacket,
  writeDomain,
  type DomainRef,
} from '../../src/plugins/libvirt/rpc/index.js';

export interface ReceivedCall {
  proc: number;
  serial: number;
  payload: Buffer;
}

export type Reply =
  | { payload?: Buffer }
  | { error: { code: number; domain: number; message: string } }
  | 'none';

export type Handler = (args: Buffer, call: ReceivedCall, sock: net.Socket) => Reply | Promise<Reply>;

export const TEST_DOMAIN: DomainRef = { name: 'fake', uuid: '6511692b-092b-4f8b-b30e-97e0a5c21694', id: 1 };

export function encodeRemoteError(e: { code: number; domain: number; message: string }): Buffer {
  const w = new XdrWriter();
  w.int(e.code).int(e.domain).optional(e.message, (x, m) => x.string(m)).int(2).uint(0);
  w.optional(e.message, (x, m) => x.string(m)).uint(0).uint(0).int(-1).int(-1).uint(0);
  return w.toBuffer();
}

export class FakeLibvirtd {
  readonly calls: ReceivedCall[] = [];
  readonly handlers = new Map<number, Handler>();
  readonly sockets = new Set<net.Socket>();
  openedUris: string[] = [];
  pongs = 0;
  pingsReceived = 0;
  connections = 0;
  /** Write every outgoing packet in tiny pieces. */
  split = false;
  /** Queue outgoing packets and flush them as one write on the next tick. */
  coalesce = false;
  /** Hold this many replies and then send them in reverse order. */
  reorderBatch = 0;
  /** Stop answering anything, keepalive included. */
  silent = false;
  /** Before this many more connections are accepted, drop them at once. */
  refuse = 0;
  private held: { sock: net.Socket; buf: Buffer }[] = [];
  private outQueue = new Map<net.Socket, Buffer[]>();
  private server: net.Server | undefined;
  private nextCallbackId = 7;
  dir = '';
  socketPath = '';

  static async start(): Promise<FakeLibvirtd> {
    const f = new FakeLibvirtd();
    f.dir = await mkdtemp(path.join(os.tmpdir(), 'fake-libvirtd-'));
    f.socketPath = path.join(f.dir, 'sock');
    f.installDefaults();
    await f.listen();
    return f;
  }

  get uri(): string {
    return `test+unix:///default?socket=${encodeURIComponent(this.socketPath)}`;
  }

  callsOf(proc: number): ReceivedCall[] {
    return this.calls.filter((c) => c.proc === proc);
  }

  async listen(): Promise<void> {
    this.server = net.createServer((sock) => this.accept(sock));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.socketPath, () => resolve());
    });
  }

  /** Closes the listener and every connection (a daemon crash). */
  async crash(): Promise<void> {
    const srv = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (srv) await new Promise<void>((resolve) => srv.close(() => resolve()));
    await rm(this.socketPath, { force: true });
  }

  async stop(): Promise<void> {
    await this.crash();
    await rm(this.dir, { recursive: true, force: true });
  }

  sendEvent(proc: number, payload: Buffer): void {
    // libvirtd 9.0 sends every event with serial 1.
    for (const s of this.sockets) this.write(s, encodePacket({ prog: REMOTE_PROGRAM, vers: 1, proc, type: 2, serial: 1, status: 0 }, payload));
  }

  sendPing(): void {
    for (const s of this.sockets) this.write(s, encodePacket({ prog: KEEPALIVE_PROGRAM, vers: 1, proc: 1, type: 2, serial: 0, status: 0 }));
  }

  /** Sends replies held back by reorderBatch now, in reverse. */
  flushHeld(): void {
    const h = this.held.reverse();
    this.held = [];
    for (const { sock, buf } of h) this.write(sock, buf);
  }

  private installDefaults(): void {
    const u32 = (v: number) => new XdrWriter(4).int(v).toBuffer();
    this.handlers.set(Proc.AUTH_LIST, () => ({ payload: new XdrWriter().array([0], (w, v) => w.int(v)).toBuffer() }));
    this.handlers.set(Proc.CONNECT_SUPPORTS_FEATURE, () => ({ payload: u32(1) }));
    this.handlers.set(Proc.CONNECT_OPEN, (args) => {
      const r = new XdrReader(args);
      this.openedUris.push(r.optional((x) => x.string()) ?? '(null)');
      return {};
    });
    this.handlers.set(Proc.CONNECT_CLOSE, (_a, _c, sock) => {
      setTimeout(() => sock.end(), 10);
      return {};
    });
    this.handlers.set(Proc.CONNECT_GET_VERSION, () => ({ payload: new XdrWriter().uhyper(2n).toBuffer() }));
    this.handlers.set(Proc.CONNECT_GET_LIB_VERSION, () => ({ payload: new XdrWriter().uhyper(9000000n).toBuffer() }));
    this.handlers.set(Proc.CONNECT_GET_TYPE, () => ({ payload: new XdrWriter().string('TEST').toBuffer() }));
    this.handlers.set(Proc.CONNECT_GET_HOSTNAME, () => ({ payload: new XdrWriter().string('fakehost').toBuffer() }));
    this.handlers.set(Proc.DOMAIN_LOOKUP_BY_NAME, (args) => {
      const name = new XdrReader(args).string();
      if (name.startsWith('missing')) return { error: { code: 42, domain: 12, message: 'Domain not found' } };
      const w = new XdrWriter();
      writeDomain(w, { ...TEST_DOMAIN, name });
      return { payload: w.toBuffer() };
    });
    this.handlers.set(Proc.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, () => ({ payload: u32(this.nextCallbackId++) }));
    this.handlers.set(Proc.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, () => ({}));
  }

  private accept(sock: net.Socket): void {
    this.connections++;
    if (this.refuse > 0) {
      this.refuse--;
      sock.destroy();
      return;
    }
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => undefined);
    const framer = new PacketFramer();
    sock.on('data', (chunk: Buffer) => {
      for (const f of framer.push(chunk)) void this.handle(sock, f);
    });
  }

  private async handle(sock: net.Socket, frame: Buffer): Promise<void> {
    const p = decodePacket(frame);
    if (this.silent) return;
    if (p.prog === KEEPALIVE_PROGRAM) {
      if (p.proc === 1) {
        this.pingsReceived++;
        this.write(sock, encodePacket({ prog: KEEPALIVE_PROGRAM, vers: 1, proc: 2, type: 2, serial: 0, status: 0 }));
      } else if (p.proc === 2) this.pongs++;
      return;
    }
    const call: ReceivedCall = { proc: p.proc, serial: p.serial, payload: Buffer.from(p.payload) };
    this.calls.push(call);
    const h = this.handlers.get(p.proc);
    const reply: Reply = h
      ? await h(call.payload, call, sock)
      : { error: { code: 39, domain: 7, message: `unknown procedure: ${p.proc}` } };
    if (reply === 'none') return;
    const isErr = 'error' in reply;
    const buf = encodePacket(
      { prog: REMOTE_PROGRAM, vers: 1, proc: p.proc, type: 1, serial: p.serial, status: isErr ? 1 : 0 },
      isErr ? encodeRemoteError(reply.error) : reply.payload,
    );
    if (this.reorderBatch > 0) {
      this.held.push({ sock, buf });
      if (this.held.length >= this.reorderBatch) this.flushHeld();
      return;
    }
    this.write(sock, buf);
  }

  private write(sock: net.Socket, buf: Buffer): void {
    if (this.coalesce) {
      let q = this.outQueue.get(sock);
      if (!q) {
        this.outQueue.set(sock, (q = []));
        setTimeout(() => {
          this.outQueue.delete(sock);
          this.rawWrite(sock, Buffer.concat(q!));
        }, 5);
      }
      q.push(buf);
      return;
    }
    this.rawWrite(sock, buf);
  }

  private chain: Promise<void> = Promise.resolve();

  private rawWrite(sock: net.Socket, buf: Buffer): void {
    if (!this.split) {
      sock.write(buf);
      return;
    }
    // Pieces of 1..7 bytes with a macrotask between them, so the client sees them as separate reads.
    this.chain = this.chain.then(async () => {
      let off = 0;
      let n = 1;
      while (off < buf.length && !sock.destroyed) {
        const piece = buf.subarray(off, off + n);
        sock.write(piece);
        off += piece.length;
        n = (n % 7) + 1;
        await new Promise((r) => setTimeout(r, 0));
      }
    });
  }
}
