// A promisified VMService client for tests and tools: `await client.unary('ContextList')`.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_OPTIONS } from '../core/grpc/loadProto.js';
import type { ClientRequestOf, ClientResponseOf, RpcName } from '../core/grpc/messages.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Msg = Record<string, any>;

export interface CallOptions {
  deadlineMs?: number;
  signal?: AbortSignal;
  metadata?: Record<string, string>;
}

/**
 * A promisified VMService client (grpc-js with the daemon's loader options).
 *
 * Prefer `unary(rpc, request)`: request and reply are typed by the RPC's name from the message types
 * generated from proto/ (`RequestOf`/`ClientResponseOf`, exported here), so a misspelt field or a number
 * where the reply has an int64 string fails to compile. `call`, `stream` and `clientStream` are untyped
 * (the reply's shape is the caller's claim): kept for the many existing callers.
 */
export class VmClient {
  readonly raw: grpc.Client & Record<string, (...a: unknown[]) => unknown>;

  constructor(readonly socket: string, opts: grpc.ClientOptions = {}) {
    const def = protoLoader.loadSync('vm.proto', PROTO_OPTIONS);
    const pkg = grpc.loadPackageDefinition(def) as unknown as { vmregistry: { v1: { VMService: grpc.ServiceClientConstructor } } };
    this.raw = new pkg.vmregistry.v1.VMService(`unix://${socket}`, grpc.credentials.createInsecure(), opts) as never;
  }

  private callOpts(o: CallOptions): [grpc.Metadata, grpc.CallOptions] {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(o.metadata ?? {})) md.set(k, v);
    return [md, o.deadlineMs ? { deadline: Date.now() + o.deadlineMs } : {}];
  }

  /**
   * A unary call typed by the RPC's name from the message types generated from proto/: the reply as decoded
   * (camelCase, int64 as decimal strings, enum names, defaults, oneof names), e.g.
   * `const { images } = await client.unary('ListLocalImages'); images[0]?.size // string`.
   */
  unary<M extends RpcName>(method: M, req?: NoInfer<ClientRequestOf<M>>, o: CallOptions = {}): Promise<ClientResponseOf<M>> {
    return this.call<ClientResponseOf<M>>(method, (req ?? {}) as Msg, o);
  }

  /** Untyped unary call (prefer `unary`); rejects with the grpc ServiceError (code, details, metadata). */
  call<T = Msg>(method: string, req: Msg = {}, o: CallOptions = {}): Promise<T> {
    const [md, co] = this.callOpts(o);
    return new Promise((resolve, reject) => {
      const c = (this.raw[method] as (r: Msg, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: T) => void) => grpc.ClientUnaryCall)
        .call(this.raw, req, md, co, (err, v) => (err ? reject(err) : resolve(v)));
      o.signal?.addEventListener('abort', () => c.cancel(), { once: true });
    });
  }

  /** Server-streaming call: collects every message. */
  stream<T = Msg>(method: string, req: Msg = {}, o: CallOptions & { onMessage?: (m: T) => void } = {}): Promise<T[]> {
    const [md, co] = this.callOpts(o);
    return new Promise((resolve, reject) => {
      const out: T[] = [];
      const c = (this.raw[method] as (r: Msg, m: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientReadableStream<T>).call(this.raw, req, md, co);
      o.signal?.addEventListener('abort', () => c.cancel(), { once: true });
      c.on('data', (m: T) => { out.push(m); o.onMessage?.(m); });
      c.on('error', reject);
      c.on('end', () => resolve(out));
    });
  }

  /** Client-streaming call: writes `messages` with backpressure, then awaits the response. */
  async clientStream<T = Msg>(method: string, messages: AsyncIterable<Msg> | Iterable<Msg>, o: CallOptions = {}): Promise<T> {
    const [md, co] = this.callOpts(o);
    let call!: grpc.ClientWritableStream<Msg>;
    const done = new Promise<T>((resolve, reject) => {
      call = (this.raw[method] as (m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: T) => void) => grpc.ClientWritableStream<Msg>)
        .call(this.raw, md, co, (err, v) => (err ? reject(err) : resolve(v)));
    });
    // The reply may fail while we are still writing (the daemon went away): awaited below, not unhandled.
    done.catch(() => undefined);
    call.on('error', () => undefined);
    o.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    try {
      for await (const m of messages) {
        if (call.destroyed) break;
        if (!call.write(m)) await Promise.race([new Promise<void>((r) => call.once('drain', () => r())), done.then(() => undefined, () => undefined)]);
      }
      call.end();
    } catch (err) {
      call.cancel();
      await done.catch(() => undefined);
      throw err;
    }
    return done;
  }

  close(): void {
    this.raw.close();
  }
}
