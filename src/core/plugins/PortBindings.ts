// The table of bound ports, apart from the host that fills it: services and handlers take the slots of
// the ports they use (not the PluginHost), and the core's own ports can be built before the host exists.
import { FailedPreconditionError } from '../errors.js';
import type { PortRef } from './refs.js';

/** One port as a consumer sees it: resolved at call time, so a port bound after wiring (plugin start) is seen. */
export interface PortSlot<T> {
  readonly ref: PortRef<T>;
  /** The implementation; the host's FAILED_PRECONDITION / UNAVAILABLE naming the plugin to configure when unbound. */
  get(): T;
  maybe(): T | undefined;
}

export class PortBindings {
  private readonly bound = new Map<string, { impl: unknown; plugin: string }>();
  /** Set by the PluginHost: it knows which plugin should have provided a port and why it did not. */
  explainUnbound: (ref: PortRef<unknown>) => Error = (ref) => new FailedPreconditionError(`no ${ref.title} is configured`);

  bind(id: string, impl: unknown, plugin: string): void {
    this.bound.set(id, { impl, plugin });
  }

  has(id: string): boolean {
    return this.bound.has(id);
  }

  clear(): void {
    this.bound.clear();
  }

  maybe<T>(ref: PortRef<T>): T | undefined {
    return this.bound.get(ref.id)?.impl as T | undefined;
  }

  get<T>(ref: PortRef<T>): T {
    const b = this.bound.get(ref.id);
    if (b) return b.impl as T;
    throw this.explainUnbound(ref);
  }

  providerOf(portId: string): string | undefined {
    return this.bound.get(portId)?.plugin;
  }

  slot<T>(ref: PortRef<T>): PortSlot<T> {
    return { ref, get: () => this.get(ref), maybe: () => this.maybe(ref) };
  }
}
