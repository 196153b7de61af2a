// Wraps handlers so each RPC gets a CallContext, exactly one reply, errors through the one mapping,
// backpressure on server streams, and in-flight tracking for graceful shutdown. Every call ends in
// `finished()`: one log line, the RPC metrics, and (on success) the event the call publishes.
import { once, setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import type { ServerSurfaceCall } from '@grpc/grpc-js/build/src/server-call.js';
import { inject, injectable } from 'tsyringe';
import { TOKENS } from '../tokens.js';
import type { Logger, Progress } from '../ports/common.js';
import type { ContextService } from '../contexts/ContextService.js';
import type { EventBus } from '../events/EventBus.js';
import { eventFor } from '../events/rpcEvents.js';
import { progressDeltas, type DaemonMetrics } from '../metrics/DaemonMetrics.js';
import { createCallContext, type RpcCallContext } from './callContext.js';
import { toGrpcStatus as mapStatus } from './statusMapping.js';
import { assertWellFormed, wellFormed } from './strictDecode.js';
import type { ProgressEvent, RequestOf, ResponseOf, RpcName } from './messages.js';

// Whatever happens while mapping, the call still gets exactly one status.
const toGrpcStatus: typeof mapStatus = (err, opts) => {
  try {
    return mapStatus(err, opts);
  } catch (mapErr) {
    opts.log.error({ err, mapErr, method: opts.method }, 'error while mapping an error');
    return { code: 2, details: 'internal error (see the daemon log)' };
  }
};

/** Codes that mean the daemon (or a backend) failed, not the caller: logged at error level. */
const SERVER_FAULTS = new Set<number>([grpc.status.UNKNOWN, grpc.status.INTERNAL, grpc.status.DATA_LOSS]);

export type UnaryHandler<Req, Res> = (req: Req, ctx: RpcCallContext) => Promise<Res>;
/** Emits events (progress …) with `emit`; returns the final event. */
export type StreamHandler<Req, Ev> = (req: Req, ctx: RpcCallContext, emit: (ev: Ev) => Promise<void>) => Promise<Ev | undefined>;
export type ClientStreamHandler<Req, Res> = (messages: AsyncIterable<Req>, ctx: RpcCallContext) => Promise<Res>;
/** Reads the client's messages and emits its own until either side is done. */
export type BidiStreamHandler<Req, Ev> = (messages: AsyncIterable<Req>, ctx: RpcCallContext, emit: (ev: Ev) => Promise<void>) => Promise<void>;

/** Streams a client ends by cancelling (following a log, an attached console): that is routine, not a failure. */
const ENDED_BY_CANCEL = new Set(['Events', 'VMLogs', 'AttachVMConsole']);

@injectable()
export class RpcRuntime {
  private readonly shutdownController = new AbortController();
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(
    @inject(TOKENS.Logger) private readonly log: Logger,
    @inject(TOKENS.Contexts) private readonly contexts: ContextService,
    @inject(TOKENS.Events) private readonly events: EventBus,
    @inject(TOKENS.Metrics) private readonly metrics: DaemonMetrics,
  ) {
    metrics.trackInflight(() => this.inflight.size);
    // Every in-flight call listens on the shutdown signal; hundreds at once are normal, not a leak.
    setMaxListeners(0, this.shutdownController.signal);
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /** Waits for in-flight calls up to `graceMs`, then cancels the rest and waits for them to unwind. */
  async drain(graceMs: number): Promise<void> {
    const all = () => Promise.allSettled([...this.inflight]);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([all().then(() => false), new Promise<boolean>((r) => { timer = setTimeout(() => r(true), graceMs); })]);
    clearTimeout(timer);
    if (timedOut) {
      this.log.warn({ inflight: this.inflight.size }, 'shutdown grace period over; cancelling in-flight calls');
      this.shutdownController.abort();
      await all();
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => undefined);
    return p;
  }

  private async ctxFor(call: ServerSurfaceCall, method: string, forward?: (p: Progress) => void): Promise<RpcCallContext> {
    const context = await this.contexts.current();
    // Every call gets a progress sink, so transfer bytes are counted for unary pulls and pushes too.
    const count = progressDeltas((phase, n) => this.metrics.transferBytes.inc({ method, phase }, n));
    const progress = (p: Progress) => {
      count(p);
      forward?.(p);
    };
    return createCallContext(call, { method, context, log: this.log, shutdown: this.shutdownController.signal, progress });
  }

  /** The one place a call's outcome is logged, measured and turned into an event. */
  private finished(call: ServerSurfaceCall, method: string, started: number, ctx: RpcCallContext | undefined, outcome: { code: number; req?: unknown; res?: unknown }): void {
    try {
      const seconds = (performance.now() - started) / 1000;
      const code = grpc.status[outcome.code] ?? String(outcome.code);
      this.metrics.observeRpc(method, code, seconds);
      const line = { method, code, duration_ms: Math.round(seconds * 1e6) / 1e3 };
      // ctx.log already carries rpc and requestId; without a ctx (it failed to build) name them here.
      const log = ctx?.log ?? this.log.child({ rpc: method, requestId: call.metadata.get('x-request-id')[0] ?? '' });
      // Cancelling is how a client ends an Events stream: not worth a warning.
      const routine = outcome.code === grpc.status.OK || (outcome.code === grpc.status.CANCELLED && ENDED_BY_CANCEL.has(method));
      if (routine) log.debug(line, outcome.code === grpc.status.OK ? 'rpc done' : 'rpc ended by the client');
      else if (SERVER_FAULTS.has(outcome.code)) log.error(line, 'rpc failed');
      else log.warn(line, 'rpc failed');
      if (outcome.code === grpc.status.OK) {
        const ev = eventFor(method, outcome.req, outcome.res, ctx?.requestId);
        if (ev) this.events.publish(ev);
      }
    } catch (err) {
      this.log.error({ err, method }, 'recording a finished call failed');
    }
  }

  /**
   * The life of one call, shared by every kind of handler: its CallContext, the handler, exactly one
   * reply (or one mapped status), the completion record (log, metrics, event) and cleanup.
   */
  private serve<T>(call: ServerSurfaceCall, method: string, o: {
    progress?: (p: Progress) => void;
    run: (ctx: RpcCallContext) => Promise<T>;
    reply: (res: T) => void | Promise<void>;
    fail: (st: grpc.ServiceError) => void;
    req: unknown;
  }): void {
    let ctx: RpcCallContext | undefined;
    const started = performance.now();
    void this.track((async () => {
      try {
        ctx = await this.ctxFor(call, method, o.progress);
        assertWellFormed(o.req);
        const res = await o.run(ctx);
        await o.reply(res);
        this.finished(call, method, started, ctx, { code: grpc.status.OK, req: o.req, res });
      } catch (err) {
        const st = toGrpcStatus(err, { log: ctx?.log ?? this.log, method, signal: ctx?.signal, deadlinePassed: ctx?.deadlinePassed() });
        o.fail(st as grpc.ServiceError);
        this.finished(call, method, started, ctx, { code: st.code ?? grpc.status.UNKNOWN });
      } finally {
        ctx?.dispose();
      }
    })());
  }

  // Each kind takes the RPC's name and types the handler from the generated messages; the overload with
  // explicit <Req, Res> is for an RPC added to proto/ before the types were regenerated (npm run build).
  unary<M extends RpcName>(method: M, h: NoInfer<UnaryHandler<RequestOf<M>, ResponseOf<M>>>): grpc.handleUnaryCall<RequestOf<M>, ResponseOf<M>>;
  /** @deprecated run `npm run build` to regenerate the message types, then drop the type arguments. */
  unary<Req, Res>(method: string, h: UnaryHandler<Req, Res>): grpc.handleUnaryCall<Req, Res>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  unary(method: string, h: UnaryHandler<never, any>): any {
    return this.unaryCall(method, h as UnaryHandler<unknown, unknown>);
  }

  private unaryCall<Req, Res>(method: string, h: UnaryHandler<Req, Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, cb) => this.serve(call, method, {
      run: (ctx) => h(call.request, ctx),
      reply: (res) => cb(null, res),
      fail: (st) => cb(st),
      req: call.request,
    });
  }

  serverStream<M extends RpcName>(method: M, h: NoInfer<StreamHandler<RequestOf<M>, ResponseOf<M>>>, progressEvent?: (p: Progress) => ProgressEvent): grpc.handleServerStreamingCall<RequestOf<M>, ResponseOf<M>>;
  /** @deprecated run `npm run build` to regenerate the message types, then drop the type arguments. */
  serverStream<Req, Ev>(method: string, h: StreamHandler<Req, Ev>, progressEvent?: (p: Progress) => Ev): grpc.handleServerStreamingCall<Req, Ev>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  serverStream(method: string, h: StreamHandler<never, unknown>, progressEvent?: (p: Progress) => unknown): grpc.handleServerStreamingCall<any, any> {
    return this.serverStreamCall(method, h as StreamHandler<unknown, unknown>, progressEvent);
  }

  private serverStreamCall<Req, Ev>(method: string, h: StreamHandler<Req, Ev>, progressEvent?: (p: Progress) => Ev): grpc.handleServerStreamingCall<Req, Ev> {
    return (call) => {
      let signal: AbortSignal | undefined;
      const emit = async (ev: Ev) => {
        if (call.cancelled || call.destroyed) return;
        if (!call.write(ev)) await once(call, 'drain', { signal });
      };
      // Progress is sampled: at most one event per 100 ms per stream, plus phase changes, so a fast
      // transfer does not flood the socket; the final state always goes out with the result.
      let last = 0;
      let lastPhase = '';
      const progress = progressEvent
        ? (p: Progress) => {
            const now = Date.now();
            if (p.phase === lastPhase && now - last < 100 && p.current !== p.total) return;
            last = now;
            lastPhase = p.phase;
            if (call.cancelled || call.destroyed) return;
            call.write(progressEvent(p)); // best effort: dropping a progress sample is harmless
          }
        : undefined;
      this.serve(call, method, {
        progress,
        run: (ctx) => {
          signal = ctx.signal;
          return h(call.request, ctx, emit);
        },
        reply: async (final) => {
          if (final !== undefined) await emit(final);
          call.end();
        },
        // emit('error'), not destroy(): grpc-js sends the status from the 'error' listener; a destroyed
        // server stream never sends one and the client waits forever (checked with grpc-js 1.14.7).
        fail: (st) => call.emit('error', st),
        req: call.request,
      });
    };
  }

  bidiStream<M extends RpcName>(method: M, h: NoInfer<BidiStreamHandler<RequestOf<M>, ResponseOf<M>>>): grpc.handleBidiStreamingCall<RequestOf<M>, ResponseOf<M>>;
  /** @deprecated run `npm run build` to regenerate the message types, then drop the type arguments. */
  bidiStream<Req, Ev>(method: string, h: BidiStreamHandler<Req, Ev>): grpc.handleBidiStreamingCall<Req, Ev>;
  bidiStream(method: string, h: BidiStreamHandler<never, unknown>): grpc.UntypedHandleCall {
    return this.bidiStreamCall(method, h as BidiStreamHandler<unknown, unknown>);
  }

  private bidiStreamCall<Req, Ev>(method: string, h: BidiStreamHandler<Req, Ev>): grpc.handleBidiStreamingCall<Req, Ev> {
    return (call) => {
      let signal: AbortSignal | undefined;
      const emit = async (ev: Ev) => {
        if (call.cancelled || call.destroyed) return;
        if (!call.write(ev)) await once(call, 'drain', { signal });
      };
      this.serve(call, method, {
        run: (ctx) => {
          signal = ctx.signal;
          return h(call as AsyncIterable<Req>, ctx, emit);
        },
        reply: () => {
          call.end();
        },
        fail: (st) => call.emit('error', st),
        req: {},
      });
    };
  }

  clientStream<M extends RpcName>(method: M, h: NoInfer<ClientStreamHandler<RequestOf<M>, ResponseOf<M>>>): grpc.handleClientStreamingCall<RequestOf<M>, ResponseOf<M>>;
  /** @deprecated run `npm run build` to regenerate the message types, then drop the type arguments. */
  clientStream<Req, Res>(method: string, h: ClientStreamHandler<Req, Res>): grpc.handleClientStreamingCall<Req, Res>;
  clientStream(method: string, h: ClientStreamHandler<never, unknown>): grpc.UntypedHandleCall {
    return this.clientStreamCall(method, h as ClientStreamHandler<unknown, unknown>);
  }

  private clientStreamCall<Req, Res>(method: string, h: ClientStreamHandler<Req, Res>): grpc.handleClientStreamingCall<Req, Res> {
    return (call, cb) => this.serve(call, method, {
      run: (ctx) => h(wellFormed(call as AsyncIterable<Req>), ctx),
      reply: (res) => cb(null, res),
      fail: (st) => cb(st),
      req: {},
    });
  }
}
