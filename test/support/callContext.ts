import type { CallContext, ContextInfo, Logger, Progress } from '../../src/core/ports/common.js';

export const silentLogger: Logger = {
  debug() {}, info() {}, warn() {}, error() {},
  child() { return silentLogger; },
};

/** A CallContext for port calls in tests; `progress` collects every event. */
export function callContext(context: Partial<ContextInfo> = {}, signal: AbortSignal = new AbortController().signal): CallContext & { events: Progress[] } {
  const events: Progress[] = [];
  return {
    signal, log: silentLogger, events, progress: (p) => { events.push(p); },
    context: {
      name: 'test', description: '', registryUrl: '', authServer: '', authClientId: '', libvirtUri: '',
      insecureRegistry: false, current: true, created: new Date(0).toISOString(), ...context,
    },
  };
}
