// A thin wrapper over the generated VMService client: promises instead of callbacks, one place that
// classifies failures (unreachable vs server error vs Ctrl-C), and cancellation of every call in flight.
import * as grpc from '@grpc/grpc-js';
import { vmServiceClient } from './proto.js';
import type { DaemonAddress } from './host.js';
import {
  CancelledError, DaemonUnreachableError, ServerError, isConnectFailure, isServiceError, statusName, unreachableReason,
} from './errors.js';

type AnyCall = { cancel(): void };
type Method = (...args: unknown[]) => unknown;

export interface UnaryOptions {
  /** Deadline in seconds from now; none by default (pulls and runs can be long). */
  timeoutSeconds?: number;
}

export class DaemonClient {
  private readonly client: grpc.Client;
  private readonly active = new Set<AnyCall>();
  private readonly abort = new AbortController();

  constructor(readonly address: DaemonAddress) {
    const Ctor = vmServiceClient();
    this.client = new Ctor(address.target, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.max_send_message_length': 80 * 1024 * 1024,
    });
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
    this.client.close();
  }

  private method(name: string): Method {
    const fn = (this.client as unknown as Record<string, Method>)[name];
    if (typeof fn !== 'function') throw new Error(`VMService has no method ${name}`);
    return fn.bind(this.client);
  }

  private options(opts: UnaryOptions): grpc.CallOptions {
    return opts.timeoutSeconds ? { deadline: Date.now() + opts.timeoutSeconds * 1000 } : {};
  }

  translate(err: unknown): Error {
    if (this.cancelled) return new CancelledError();
    if (!isServiceError(err)) return err instanceof Error ? err : new Error(String(err));
    if (isConnectFailure(err)) return new DaemonUnreachableError(this.address.target, unreachableReason(err.details));
    return new ServerError(statusName(err.code), err.details || err.message);
  }

  unary<Res>(name: string, request: object, opts: UnaryOptions = {}): Promise<Res> {
    if (this.cancelled) return Promise.reject(new CancelledError());
    const fn = this.method(name);
    return new Promise<Res>((resolve, reject) => {
      const call = fn(request, new grpc.Metadata(), this.options(opts), (err: grpc.ServiceError | null, res: Res) => {
        this.active.delete(call);
        if (err) reject(this.translate(err));
        else resolve(res);
      }) as AnyCall;
      this.active.add(call);
    });
  }

  /** Server streaming: calls onMessage for each message, resolves when the stream ends OK. */
  serverStream<Msg>(name: string, request: object, onMessage: (msg: Msg) => void, opts: UnaryOptions = {}): Promise<void> {
    if (this.cancelled) return Promise.reject(new CancelledError());
    const call = this.method(name)(request, new grpc.Metadata(), this.options(opts)) as grpc.ClientReadableStream<Msg>;
    this.active.add(call);
    return new Promise<void>((resolve, reject) => {
      let failed = false;
      call.on('data', (msg: Msg) => {
        try {
          onMessage(msg);
        } catch (err) {
          failed = true;
          call.cancel();
          reject(err);
        }
      });
      call.on('error', (err) => {
        this.active.delete(call);
        if (!failed) reject(this.translate(err));
      });
      call.on('end', () => {
        this.active.delete(call);
        if (!failed) resolve();
      });
    });
  }

  /** Bidirectional streaming: the caller reads, writes and ends; errors are raw (see translate). */
  duplex<Req, Res>(name: string, opts: UnaryOptions = {}): grpc.ClientDuplexStream<Req, Res> {
    const call = this.method(name)(new grpc.Metadata(), this.options(opts)) as grpc.ClientDuplexStream<Req, Res>;
    this.active.add(call);
    const forget = () => this.active.delete(call);
    call.once('end', forget);
    call.once('error', forget);
    if (this.cancelled) call.cancel();
    return call;
  }

  /** Client streaming: the caller writes (honouring backpressure) and ends; `result` settles with the reply. */
  clientStream<Req, Res>(name: string, opts: UnaryOptions = {}): { call: grpc.ClientWritableStream<Req>; result: Promise<Res> } {
    let call!: grpc.ClientWritableStream<Req>;
    const result = new Promise<Res>((resolve, reject) => {
      call = this.method(name)(new grpc.Metadata(), this.options(opts), (err: grpc.ServiceError | null, res: Res) => {
        this.active.delete(call);
        if (err) reject(this.translate(err));
        else resolve(res);
      }) as grpc.ClientWritableStream<Req>;
    });
    // The callback carries the error; without a listener the stream's own 'error' event would crash us.
    call.on('error', () => undefined);
    this.active.add(call);
    if (this.cancelled) call.cancel();
    return { call, result };
  }
}
