import { randomUUID } from 'node:crypto';
import type { ServerSurfaceCall } from '@grpc/grpc-js/build/src/server-call.js';
import type { CallContext, ContextInfo, Logger, Progress } from '../ports/common.js';

export interface RpcCallContext extends CallContext {
  method: string;
  deadlinePassed(): boolean;
  dispose(): void;
}

/**
 * Builds the CallContext of one RPC: its signal fires on client cancel, deadline expiry (grpc-js
 * emits 'cancelled' for both) and daemon shutdown.
 */
export function createCallContext(call: ServerSurfaceCall, opts: {
  method: string;
  context: ContextInfo;
  log: Logger;
  shutdown: AbortSignal;
  progress?: (p: Progress) => void;
}): RpcCallContext {
  const ac = new AbortController();
  const onCancel = () => ac.abort(new DOMException('client cancelled the call', 'AbortError'));
  call.on('cancelled', onCancel);
  const onShutdown = () => ac.abort(new DOMException('daemon shutting down', 'AbortError'));
  opts.shutdown.addEventListener('abort', onShutdown, { once: true });
  const requestId = (call.metadata.get('x-request-id')[0] as string | undefined) ?? randomUUID();
  const deadline = call.getDeadline();
  return {
    signal: ac.signal,
    context: opts.context,
    log: opts.log.child({ rpc: opts.method, requestId, context: opts.context.name }),
    progress: opts.progress,
    requestId,
    method: opts.method,
    deadlinePassed: () => {
      const d = deadline instanceof Date ? deadline.getTime() : deadline;
      return Number.isFinite(d) && d > 0 && Date.now() >= d;
    },
    dispose: () => {
      call.removeListener('cancelled', onCancel);
      opts.shutdown.removeEventListener('abort', onShutdown);
    },
  };
}
