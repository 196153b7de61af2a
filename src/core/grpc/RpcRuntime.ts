// Wraps handlers so each RPC gets a CallContext, exactly one reply, errors through the one mapping,
// backpressure on server streams, and in-flight tracking for graceful shutdown.
import { once } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import type { ServerSurfaceCall } from '@grpc/grpc-js/build/src/server-call.js';
import { inject, injectable } from 'tsyringe';
import { TOKENS } from '../tokens.js';
import type { Logger, Progress } from '../ports/common.js';
import type { ContextService } from '../contexts/ContextService.js';
import { createCallContext, type RpcCallContext } from './callContext.js';
import { toGrpcStatus as mapStatus } from './statusMapping.js';

// Whatever happens while mapping, the call still gets exactly one status.
const toGrpcStatus: typeof mapStatus = (err, opts) => {
  try {
    return mapStatus(err, opts);
  } catch (mapErr) {
    opts.log.error({ err, mapErr, method: opts.method }, 'error while mapping an error');
    return { code: 2, details: 'internal error (see the daemon log)' };
  }
};

export type UnaryHandler<Req, Res> = (req: Req, ctx: RpcCallContext) => Promise<Res>;
/** Emits events (progress …) with `emit`; returns the final event. */
export type StreamHandler<Req, Ev> = (req: Req, ctx: RpcCallContext, emit: (ev: Ev) => Promise<void>) => Promise<Ev | undefined>;
export type ClientStreamHandler<Req, Res> = (messages: AsyncIterable<Req>, ctx: RpcCallContext) => Promise<Res>;

@injectable()
export class RpcRuntime {
  private readonly shutdownController = new AbortController();
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(
    @inject(TOKENS.Logger) private readonly log: Logger,
    @inject(TOKENS.Contexts) private readonly contexts: ContextService,
  ) {}

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

  private async ctxFor(call: ServerSurfaceCall, method: string, progress?: (p: Progress) => void): Promise<RpcCallContext> {
    const context = await this.contexts.current();
    return createCallContext(call, { method, context, log: this.log, shutdown: this.shutdownController.signal, progress });
  }

  unary<Req, Res>(method: string, h: UnaryHandler<Req, Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, cb) => {
      let ctx: RpcCallContext | undefined;
      void this.track((async () => {
        try {
          ctx = await this.ctxFor(call, method);
          const res = await h(call.request, ctx);
          cb(null, res);
        } catch (err) {
          cb(toGrpcStatus(err, { log: ctx?.log ?? this.log, method, signal: ctx?.signal, deadlinePassed: ctx?.deadlinePassed() }) as grpc.ServiceError);
        } finally {
          ctx?.dispose();
        }
      })());
    };
  }

  serverStream<Req, Ev>(method: string, h: StreamHandler<Req, Ev>, progressEvent?: (p: Progress) => Ev): grpc.handleServerStreamingCall<Req, Ev> {
    return (call) => {
      let ctx: RpcCallContext | undefined;
      void this.track((async () => {
        const emit = async (ev: Ev) => {
          if (call.cancelled || call.destroyed) return;
          if (!call.write(ev)) await once(call, 'drain', { signal: ctx?.signal });
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
        try {
          ctx = await this.ctxFor(call, method, progress);
          const final = await h(call.request, ctx, emit);
          if (final !== undefined) await emit(final);
          call.end();
        } catch (err) {
          // emit('error'), not destroy(): grpc-js sends the status from the 'error' listener; a destroyed
          // server stream never sends one and the client waits forever (checked with grpc-js 1.14.7).
          call.emit('error', toGrpcStatus(err, { log: ctx?.log ?? this.log, method, signal: ctx?.signal, deadlinePassed: ctx?.deadlinePassed() }) as grpc.ServiceError);
        } finally {
          ctx?.dispose();
        }
      })());
    };
  }

  clientStream<Req, Res>(method: string, h: ClientStreamHandler<Req, Res>): grpc.handleClientStreamingCall<Req, Res> {
    return (call, cb) => {
      let ctx: RpcCallContext | undefined;
      void this.track((async () => {
        try {
          ctx = await this.ctxFor(call, method);
          const res = await h(call as AsyncIterable<Req>, ctx);
          cb(null, res);
        } catch (err) {
          cb(toGrpcStatus(err, { log: ctx?.log ?? this.log, method, signal: ctx?.signal, deadlinePassed: ctx?.deadlinePassed() }) as grpc.ServiceError);
        } finally {
          ctx?.dispose();
        }
      })());
    };
  }
}
