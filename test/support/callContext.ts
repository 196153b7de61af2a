import type { CallContext, ContextInfo, Logger, Progress } from '../../src/core/ports/common.js';
import { silentLogger as silent } from '../../src/core/log/silentLogger.js';

/** The plugin API's silent logger as a value (tests pass it where a Logger is expected). */
export const silentLogger: Logger = silent();

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
