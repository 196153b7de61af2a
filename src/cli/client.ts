// A thin wrapper over the generated VMService client: promises instead of callbacks, one place that
// classifies failures (unreachable vs server error vs Ctrl-C), and cancellation of every call in flight.
import { EventEmitter } from 'node:events';
import { Channel, type Call } from './wire/channel.js';
import { vmServiceMethod, type MethodDef } from './wire/methods.js';
import { ServiceError, Status } from './wire/status.js';
import type { DaemonAddress } from './host.js';
import type { Req, Res, RpcName } from './messages.js';
import {
  CancelledError, DaemonUnreachableError, ServerError, isConnectFailure, isServiceError, statusName, unreachableReason,
} from './errors.js';

/** What a client-streaming caller writes to: backpressure through write()'s result and 'drain'. */
export interface ClientStreamCall<Req> extends EventEmitter {
  write(message: Req): boolean;
  end(): void;
  cancel(): void;
}

/** A bidirectional call: 'data' (Res), 'end', 'error' events; write/end/cancel. */
export interface DuplexCall<Req, Res> extends EventEmitter {
  write(message: Req): boolean;
  end(): void;
  cancel(): void;
  on(event: 'data', listener: (message: Res) => void): this;
  on(event: 'error', listener: (err: ServiceError) => void): this;
  on(event: 'end', listener: () => void): this;
}

export interface UnaryOptions {
  /** Deadline in seconds from now; none by default (pulls and runs can be long). */
  timeoutSeconds?: number;
}

export class DaemonClient {
  private readonly channel: Channel;
  private readonly active = new Set<Call>();
  private readonly abort = new AbortController();

  constructor(readonly address: DaemonAddress) {
    this.channel = new Channel(address.socketPath);
  }

  /** Aborted by cancel(); long client-side waits (device-flow polling) listen to it. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get cancelled(): boolean {
    return this.abort.signal.aborted;
  }

  /** Ctrl-C: cancel every call in flight; the daemon sees CANCELLED and aborts the operation. */
  cancel(): void {
    this.abort.abort();
    for (const call of this.active) call.cancel();
  }

  close(): void {
    this.channel.close();
  }

  private start(name: string, opts: UnaryOptions): Call {
    const def: MethodDef | undefined = vmServiceMethod(name);
    if (!def) throw new Error(`VMService has no method ${name}`);
    const call = this.channel.call(def, opts.timeoutSeconds ? Date.now() + opts.timeoutSeconds * 1000 : undefined);
    this.active.add(call);
    call.once('status', () => this.active.delete(call));
    return call;
  }

  translate(err: unknown): Error {
    if (this.cancelled) return new CancelledError();
    if (!isServiceError(err)) return err instanceof Error ? err : new Error(String(err));
    if (isConnectFailure(err)) return new DaemonUnreachableError(this.address.target, unreachableReason(err.details));
    return new ServerError(statusName(err.code), err.details || err.message);
  }

  /**
   * Untyped unary call: the reply's shape is the caller's claim. Kept for callers that name their own
   * shape; everything in src/cli uses call().
   * @deprecated use call(), typed by the RPC's name.
   */
  unary<R = unknown>(name: string, request: object, opts: UnaryOptions = {}): Promise<R> {
    return this.call(name as RpcName, request as Req<RpcName>, opts) as Promise<R>;
  }

  /**
   * A unary call typed by the RPC's name from the types generated from proto/: `call('ListVMs', {})` resolves
   * to ListVMsResponse as the codec decodes it (int64 as decimal strings, enum names, defaults, oneof names).
   */
  call<M extends RpcName>(name: M, request: NoInfer<Req<M>>, opts: UnaryOptions = {}): Promise<Res<M>> {
    if (this.cancelled) return Promise.reject(new CancelledError());
    const call = this.start(name, opts);
    const result = replyOf<Res<M>>(call, (err) => this.translate(err));
    call.write(request as object);
    call.end();
    return result;
  }

  /** Server streaming: calls onMessage for each message, resolves when the stream ends OK. */
  serverStream<M extends RpcName>(name: M, request: NoInfer<Req<M>>, onMessage: (msg: Res<M>) => void, opts: UnaryOptions = {}): Promise<void> {
    if (this.cancelled) return Promise.reject(new CancelledError());
    const call = this.start(name, opts);
    const done = new Promise<void>((resolve, reject) => {
      let failed = false;
      call.on('message', (msg: Res<M>) => {
        if (failed) return;
        try {
          onMessage(msg);
        } catch (err) {
          failed = true;
          call.cancel();
          reject(err);
        }
      });
      call.once('status', (err: ServiceError | null) => {
        if (failed) return;
        if (err) reject(this.translate(err));
        else resolve();
      });
    });
    call.write(request as object);
    call.end();
    return done;
  }

  /**
   * Server streaming with backpressure: the caller iterates, and the call stops reading from the socket
   * while the caller is busy (e.g. writing a multi-GB export to disk). Leaving the loop cancels the call.
   */
  async *readStream<M extends RpcName>(name: M, request: NoInfer<Req<M>>, opts: UnaryOptions = {}): AsyncGenerator<Res<M>> {
    if (this.cancelled) throw new CancelledError();
    const call = this.start(name, opts);
    const queue: Res<M>[] = [];
    let status: ServiceError | null | undefined; // undefined: still running
    let wake: (() => void) | undefined;
    call.on('message', (msg: Res<M>) => {
      queue.push(msg);
      if (queue.length >= 8) call.pause();
      wake?.();
    });
    call.once('status', (err: ServiceError | null) => {
      status = err;
      wake?.();
    });
    call.write(request as object);
    call.end();
    let ended = false;
    try {
      for (;;) {
        if (queue.length > 0) {
          const msg = queue.shift()!;
          if (queue.length < 4) call.resume();
          yield msg;
          continue;
        }
        if (status !== undefined) {
          ended = true;
          if (status) throw this.translate(status);
          return;
        }
        await new Promise<void>((resolve) => { wake = resolve; });
        wake = undefined;
      }
    } finally {
      if (!ended) call.cancel();
    }
  }

  /**
   * Bidirectional streaming, shaped like a grpc-js duplex: 'data' per reply, then 'end' (OK) or 'error' (a
   * raw ServiceError; see translate); write/end/cancel on the request side.
   */
  duplex<M extends RpcName>(name: M, opts: UnaryOptions = {}): DuplexCall<Req<M>, Res<M>> {
    const call = this.start(name, opts);
    const out = Object.assign(new EventEmitter(), {
      write: (message: Req<M>) => call.write(message as object),
      end: () => call.end(),
      cancel: () => call.cancel(),
    }) as DuplexCall<Req<M>, Res<M>>;
    call.on('message', (msg: Res<M>) => out.emit('data', msg));
    call.once('status', (err: ServiceError | null) => (err ? out.emit('error', err) : out.emit('end')));
    if (this.cancelled) call.cancel();
    return out;
  }

  /** Client streaming: the caller writes (honouring backpressure) and ends; `result` settles with the reply. */
  clientStream<M extends RpcName>(name: M, opts: UnaryOptions = {}): { call: ClientStreamCall<Req<M>>; result: Promise<Res<M>> } {
    const call = this.start(name, opts);
    const result = replyOf<Res<M>>(call, (err) => this.translate(err));
    if (this.cancelled) call.cancel();
    return { call: call as unknown as ClientStreamCall<Req<M>>, result };
  }
}

/** The single reply of a unary or client-streaming call. */
function replyOf<R>(call: Call, translate: (err: unknown) => Error): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    let reply: R | undefined;
    let count = 0;
    call.on('message', (msg: R) => {
      reply = msg;
      count++;
    });
    call.once('status', (err: ServiceError | null) => {
      if (err) reject(translate(err));
      else if (count !== 1) reject(translate(new ServiceError(count === 0 ? Status.UNIMPLEMENTED : Status.INTERNAL, count === 0 ? 'No message received' : 'Too many responses received')));
      else resolve(reply as R);
    });
  });
}
