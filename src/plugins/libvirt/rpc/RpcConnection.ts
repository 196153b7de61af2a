// One libvirt RPC session over one byte stream: serials, the pending-call map, event routing,
// keepalive and teardown. Knows nothing about procedures' argument types (LibvirtClient does).
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { CancelledError, DeadlineExceededError, UnavailableError, type VmrError } from '../../../plugin-api/index.js';
import { decodeRemoteError, toVmrError } from './errors.js';
import {
  KEEPALIVE_PROC_PING,
  KEEPALIVE_PROC_PONG,
  KEEPALIVE_PROGRAM,
  KEEPALIVE_PROTOCOL_VERSION,
  MessageStatus,
  MessageType,
  PacketFramer,
  QEMU_PROGRAM,
  REMOTE_PROGRAM,
  REMOTE_PROTOCOL_VERSION,
  decodePacket,
  encodePacket,
  type Packet,
} from './packet.js';

export interface CallOptions {
  signal?: AbortSignal;
  /** Fail with DEADLINE_EXCEEDED after this long (the call may still complete on the daemon). */
  timeoutMs?: number;
  /** Program of the procedure: the remote program unless given (QEMU_PROGRAM for the agent command). */
  program?: number;
}

export interface RpcConnectionOptions {
  /** Human name of the peer for messages, e.g. the URI. */
  label?: string;
  /** Send our own PING after this much silence; 0 disables keepalive. Default 5000. */
  keepaliveIntervalMs?: number;
  /** The peer is dead after interval × count without any data from it. Default 6. */
  keepaliveCount?: number;
}

interface Pending {
  proc: number;
  what: string;
  resolve: (payload: Buffer) => void;
  reject: (err: Error) => void;
  cleanup: () => void;
}

/**
 * Events: `event` (proc: number, payload: Buffer) for every remote-program MESSAGE;
 * `close` (reason: VmrError) exactly once.
 */
export class RpcConnection extends EventEmitter {
  private readonly framer = new PacketFramer();
  private readonly pending = new Map<number, Pending>();
  private serial = 0;
  private closedWith: VmrError | undefined;
  private lastRx = Date.now();
  private lastTx = Date.now();
  private readonly keepaliveTimer: NodeJS.Timeout | undefined;
  readonly label: string;
  private readonly intervalMs: number;
  private readonly count: number;

  constructor(private readonly stream: Duplex, opts: RpcConnectionOptions = {}) {
    super();
    this.label = opts.label ?? 'libvirtd';
    this.intervalMs = opts.keepaliveIntervalMs ?? 5000;
    this.count = opts.keepaliveCount ?? 6;
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', (err) => this.destroy(new UnavailableError(`connection to ${this.label} failed: ${err.message}`, { cause: err })));
    stream.on('end', () => this.destroy(new UnavailableError(`${this.label} closed the connection`)));
    stream.on('close', () => this.destroy(new UnavailableError(`connection to ${this.label} closed`)));
    this.updateRef();
    if (stream.destroyed) queueMicrotask(() => this.destroy(new UnavailableError(`connection to ${this.label} closed`)));
    if (this.intervalMs > 0) {
      this.keepaliveTimer = setInterval(() => this.tick(), Math.max(50, Math.floor(this.intervalMs / 2)));
      this.keepaliveTimer.unref();
    }
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Why the connection closed, once it has. */
  get closeReason(): VmrError | undefined {
    return this.closedWith;
  }

  /** Calls a remote-program procedure; resolves with the reply payload (undecoded). */
  call(proc: number, args: Buffer | undefined, what: string, opts: CallOptions = {}): Promise<Buffer> {
    if (this.closedWith) {
      return Promise.reject(new UnavailableError(`${what}: ${this.closedWith.message}`, { cause: this.closedWith }));
    }
    if (opts.signal?.aborted) return Promise.reject(new CancelledError(`${what}: cancelled`, { cause: opts.signal.reason }));
    this.serial = (this.serial + 1) >>> 0;
    const serial = this.serial;
    return new Promise<Buffer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        this.pending.get(serial)?.cleanup();
        reject(new CancelledError(`${what}: cancelled`, { cause: opts.signal?.reason }));
      };
      const cleanup = () => {
        this.pending.delete(serial);
        this.updateRef();
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      this.pending.set(serial, { proc, what, resolve, reject, cleanup });
      this.updateRef();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          cleanup();
          reject(new DeadlineExceededError(`${what}: no answer from ${this.label} within ${opts.timeoutMs} ms`));
        }, opts.timeoutMs);
      }
      this.send(encodePacket(
        { prog: opts.program ?? REMOTE_PROGRAM, vers: REMOTE_PROTOCOL_VERSION, proc, type: MessageType.Call, serial, status: MessageStatus.Ok },
        args,
      ));
    });
  }

  /** Sends a keepalive PING (the peer answers PONG); mostly for tests and liveness checks. */
  ping(): void {
    this.sendKeepalive(KEEPALIVE_PROC_PING);
  }

  /** Tears the connection down; pending calls fail with `reason`. Idempotent. */
  destroy(reason: VmrError = new UnavailableError(`connection to ${this.label} closed`)): void {
    if (this.closedWith) return;
    this.closedWith = reason;
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    for (const p of [...this.pending.values()]) {
      p.cleanup();
      p.reject(new UnavailableError(`${p.what}: ${reason.message}`, { cause: reason }));
    }
    this.stream.destroy();
    this.emit('close', reason);
  }

  // An idle connection must not keep the process alive (like an HTTP agent's idle socket); one with
  // calls in flight must, or a script awaiting a reply could exit under it.
  private updateRef(): void {
    const s = this.stream as Duplex & { ref?: () => void; unref?: () => void };
    if (this.pending.size > 0 || this.pinned) s.ref?.();
    else s.unref?.();
  }

  private pinned = false;

  /** Keeps the process alive even while idle (e.g. someone is waiting for events). */
  keepProcessAlive(on: boolean): void {
    this.pinned = on;
    this.updateRef();
  }

  private send(buf: Buffer): void {
    if (this.closedWith) return;
    this.lastTx = Date.now();
    this.stream.write(buf);
  }

  private sendKeepalive(proc: number): void {
    this.send(encodePacket({
      prog: KEEPALIVE_PROGRAM,
      vers: KEEPALIVE_PROTOCOL_VERSION,
      proc,
      type: MessageType.Message,
      serial: 0,
      status: MessageStatus.Ok,
    }));
  }

  private tick(): void {
    const now = Date.now();
    const silentFor = now - this.lastRx;
    if (silentFor >= this.intervalMs * this.count) {
      this.destroy(new UnavailableError(
        `${this.label} stopped answering (no data for ${Math.round(silentFor / 1000)} s); the connection is considered dead`,
      ));
      return;
    }
    if (silentFor >= this.intervalMs && now - this.lastTx >= this.intervalMs) this.sendKeepalive(KEEPALIVE_PROC_PING);
  }

  private onData(chunk: Buffer): void {
    this.lastRx = Date.now();
    let frames: Buffer[];
    try {
      frames = this.framer.push(chunk);
    } catch (err) {
      this.destroy(new UnavailableError(`protocol error from ${this.label}: ${(err as Error).message}`, { cause: err }));
      return;
    }
    for (const f of frames) {
      if (this.closedWith) return;
      this.route(decodePacket(f));
    }
  }

  // Route by program and message type first: events carry serial 1 on libvirtd 9.0 and would
  // otherwise be taken for the reply to call #1.
  private route(p: Packet): void {
    if (p.prog === KEEPALIVE_PROGRAM) {
      if (p.type === MessageType.Message && p.proc === KEEPALIVE_PROC_PING) this.sendKeepalive(KEEPALIVE_PROC_PONG);
      return;
    }
    if (p.prog !== REMOTE_PROGRAM && p.prog !== QEMU_PROGRAM) return;
    if (p.prog === QEMU_PROGRAM && p.type === MessageType.Message) return; // QEMU monitor events: not subscribed
    if (p.type === MessageType.Message) {
      this.emit('event', p.proc, p.payload);
      return;
    }
    if (p.type !== MessageType.Reply && p.type !== MessageType.ReplyWithFds) return;
    const call = this.pending.get(p.serial);
    if (!call) return; // cancelled or timed out: the late reply is dropped
    call.cleanup();
    let payload = p.payload;
    if (p.type === MessageType.ReplyWithFds) payload = payload.subarray(4);
    if (p.status === MessageStatus.Ok) {
      call.resolve(payload);
      return;
    }
    try {
      const remote = decodeRemoteError(payload);
      if (remote.code === 0) call.resolve(Buffer.alloc(0));
      else call.reject(toVmrError(remote, call.what));
    } catch (err) {
      call.reject(new UnavailableError(`${call.what}: undecodable error reply from ${this.label}: ${(err as Error).message}`));
    }
  }
}
