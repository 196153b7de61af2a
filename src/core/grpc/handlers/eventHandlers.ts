import type { DaemonEvent, EventBus } from '../../events/EventBus.js';
import type { RpcRuntime } from '../RpcRuntime.js';
import type * as pb from '../../../generated/proto/messages.js';

const KNOWN_TYPES = new Set(['vm', 'image', 'network', 'compose', 'context', 'daemon']);

/** `Events`: follows the bus until the client cancels or the daemon stops (the bus closes). */
export function eventHandlers(rt: RpcRuntime, bus: EventBus) {
  return {
    Events: rt.serverStream('Events', async (req, ctx, emit) => {
      const types = ((req.types ?? []) as string[]).map((t) => t.trim().toLowerCase()).filter(Boolean);
      const unknown = types.filter((t) => !KNOWN_TYPES.has(t));
      if (unknown.length) ctx.log.debug({ unknown }, 'Events filter names types no event has yet');
      const sub = bus.subscribe({ types, names: ((req.names ?? []) as string[]).filter(Boolean) }, { replay: !req.sinceNow });
      try {
        for (;;) {
          const ev = await sub.next(ctx.signal);
          if (!ev) {
            if (ctx.signal.aborted) throw ctx.signal.reason; // the client left: CANCELLED, not OK
            return undefined;
          }
          // emit() awaits 'drain': while the client is slow, events wait in the bounded queue (oldest dropped).
          await emit(eventToWire(ev));
        }
      } finally {
        sub.close();
      }
    }),
  };
}

export const eventToWire = (ev: DaemonEvent): pb.Event => ({ ...ev, attributes: { ...ev.attributes } });
