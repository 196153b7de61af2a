// Bounds on talking to a registry, and what to tell the user when one is hit. A registry that accepts
// the connection and then says nothing must end a pull or push with UNAVAILABLE naming what it did,
// not hang it; the caller's cancel or deadline stops everything at once.
import {
  type CallContext, CancelledError, DeadlineExceededError, hasCode, isVmrError, UnavailableError,
} from '../../plugin-api/index.js';

export interface TimeoutOptions {
  /** TCP connect plus TLS handshake. */
  connectTimeoutMs: number;
  /** From the request's last byte sent to the response's headers. */
  headersTimeoutMs: number;
  /** Longest silence while a response body is arriving. */
  bodyTimeoutMs: number;
  /** A whole pull or push, retries included; 0 = no bound besides the caller's deadline. */
  operationTimeoutMs: number;
}

/** Node timers overflow past 2^31-1 ms and then fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const DEFAULT_TIMEOUTS: TimeoutOptions = {
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 60_000,
  bodyTimeoutMs: 60_000,
  operationTimeoutMs: 6 * 3600_000,
};

/** The bounds out of a plugin config, defaults for keys it lacks. */
export function timeoutsOf(c: Partial<TimeoutOptions>): TimeoutOptions {
  return {
    connectTimeoutMs: c.connectTimeoutMs ?? DEFAULT_TIMEOUTS.connectTimeoutMs,
    headersTimeoutMs: c.headersTimeoutMs ?? DEFAULT_TIMEOUTS.headersTimeoutMs,
    bodyTimeoutMs: c.bodyTimeoutMs ?? DEFAULT_TIMEOUTS.bodyTimeoutMs,
    operationTimeoutMs: c.operationTimeoutMs ?? DEFAULT_TIMEOUTS.operationTimeoutMs,
  };
}

/** undici Agent options for these bounds. */
export function agentTimeouts(o: TimeoutOptions) {
  return { headersTimeout: o.headersTimeoutMs, bodyTimeout: o.bodyTimeoutMs, connect: { timeout: o.connectTimeoutMs } };
}

/** The network code of an error, looking through a domain error to its cause. */
const codeOf = (err: unknown): string => {
  const e = err as { code?: string; cause?: { code?: string } } | undefined;
  if (isVmrError(err)) return e?.cause?.code ?? '';
  return e?.code ?? e?.cause?.code ?? '';
};

/** A connect or headers timeout: the registry is there but not answering; one more try is plenty. */
export function isTimeout(err: unknown): boolean {
  const c = codeOf(err);
  return c === 'UND_ERR_CONNECT_TIMEOUT' || c === 'UND_ERR_HEADERS_TIMEOUT' || c === 'ETIMEDOUT';
}

/** What the registry (or its token service: `who`) did, in words, for a failed request or body read. */
export function describeNetworkError(err: unknown, host: string, o: TimeoutOptions, who = 'registry'): string {
  switch (codeOf(err)) {
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return `could not connect to ${who} ${host} within ${o.connectTimeoutMs} ms (connectTimeoutMs)`;
    case 'UND_ERR_HEADERS_TIMEOUT':
      return `${who} ${host} accepted the connection but sent no response within ${o.headersTimeoutMs} ms (headersTimeoutMs)`;
    case 'UND_ERR_BODY_TIMEOUT':
      return `${who} ${host} stopped sending the response body for ${o.bodyTimeoutMs} ms (bodyTimeoutMs)`;
    case 'ECONNREFUSED':
      return `${who} ${host} refused the connection; is it running?`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${who} host ${host} could not be resolved`;
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
      return `${who} ${host} closed the connection`;
    case '':
      // No network code: not the network's doing; the log has the stack.
      return `talking to ${who} ${host} failed: ${(err as Error | undefined)?.message ?? String(err)}`;
    default:
      return `${who} ${host} is unreachable: ${(err as Error | undefined)?.message ?? String(err)}`;
  }
}

/** Errors of response bodies, tagged by the transport with the request they belong to. */
const bodyOrigins = new WeakMap<object, string>();

export function tagBodyError(err: unknown, what: string): void {
  if (typeof err === 'object' && err !== null && !bodyOrigins.has(err)) bodyOrigins.set(err, what);
}

/**
 * Runs one pull or push under `operationTimeoutMs` and the caller's signal, and turns whatever escapes
 * into a domain error: nothing from the network leaves as a bare undici or system error.
 */
export async function boundedOperation<T>(ctx: CallContext, host: string, what: string, o: TimeoutOptions,
  run: (ctx: CallContext) => Promise<T>): Promise<T> {
  const timer = o.operationTimeoutMs > 0 ? AbortSignal.timeout(o.operationTimeoutMs) : undefined;
  const signal = timer ? AbortSignal.any([ctx.signal, timer]) : ctx.signal;
  try {
    return await run({ ...ctx, signal });
  } catch (err) {
    if (ctx.signal.aborted) {
      // grpc-js aborts on both cancel and deadline; say which when the call context can tell.
      const deadline = (ctx as { deadlinePassed?: () => boolean }).deadlinePassed?.();
      if (deadline) throw new DeadlineExceededError(`${what}: the call's deadline passed before the registry finished`, { cause: err });
      if (hasCode(err, 'CANCELLED')) throw err;
      throw new CancelledError(`${what}: cancelled`, { cause: err });
    }
    if (timer?.aborted) {
      throw new UnavailableError(`${what}: not finished after ${o.operationTimeoutMs} ms (operationTimeoutMs); registry ${host} is too slow or stalled`, { cause: err });
    }
    if (isVmrError(err)) throw err;
    const during = typeof err === 'object' && err !== null ? bodyOrigins.get(err) : undefined;
    ctx.log.warn({ err, what }, 'registry operation failed outside the transport');
    throw new UnavailableError(`${what}: ${during ? `${during}: ` : ''}${describeNetworkError(err, host, o)}`, { cause: err });
  }
}
