// A CallContext for tests and fakes: a quiet logger, the `default` context, an abortable signal.
import type { CallContext, ContextInfo, Logger } from '../core/ports/common.js';
import { silentLogger } from '../core/log/silentLogger.js';

export const quietLogger: Logger = silentLogger();

export function defaultContextInfo(overrides: Partial<ContextInfo> = {}): ContextInfo {
  return {
    name: 'default',
    description: 'local libvirt',
    registryUrl: '',
    authServer: '',
    authClientId: '',
    libvirtUri: 'test+unix:///default',
    insecureRegistry: false,
    current: true,
    created: '2026-01-01T00:00:00Z',
    ...overrides,
  };
}

/** A fresh CallContext; pass `signal` to test cancellation. */
export function testCallContext(overrides: Partial<CallContext> = {}): CallContext {
  return {
    signal: overrides.signal ?? new AbortController().signal,
    context: overrides.context ?? defaultContextInfo(),
    log: overrides.log ?? quietLogger,
    ...(overrides.progress ? { progress: overrides.progress } : {}),
    ...(overrides.requestId ? { requestId: overrides.requestId } : {}),
  };
}
