// The daemon's event bus: publishers never wait, and every subscriber has its own bounded queue, so a
// slow reader costs at most `queueSize` events of memory. When a queue is full its oldest event goes;
// the reader then gets one synthetic `daemon/events-dropped` event saying how many it missed.
import { randomBytes } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import type { DaemonConfig } from '../config/DaemonConfig.js';
import type { Logger } from '../ports/common.js';
import { TOKENS } from '../tokens.js';

export type EventType = 'vm' | 'image' | 'network' | 'compose' | 'context' | 'daemon';

export interface DaemonEvent {
  id: string;
  /** RFC 3339 with milliseconds. */
  time: string;
  type: EventType;
  action: string;
  name: string;
  attributes: Record<string, string>;
}

export type EventInit = Omit<DaemonEvent, 'id' | 'time' | 'attributes'> & { attributes?: Record<string, string> };

export interface EventFilter {
  /** Empty or absent: all types. `daemon` events always pass. */
  types?: string[];
  names?: string[];
}

export interface EventBusOptions {
  /** Events one subscriber may have waiting before the oldest are dropped. */
  queueSize: number;
  /** Recent events kept for subscribers that ask for a replay. */
  history: number;
}

export const DEFAULT_EVENT_OPTIONS: EventBusOptions = { queueSize: 1024, history: 256 };

export function matches(f: EventFilter, ev: DaemonEvent): boolean {
  if (ev.type === 'daemon') return true;
  if (f.types?.length && !f.types.includes(ev.type)) return false;
  if (f.names?.length && !f.names.includes(ev.name)) return false;
  return true;
}

/** One reader's view of the bus. Async-iterable; ends when closed (by the reader or the bus). */
export class Subscription implements AsyncIterable<DaemonEvent> {
  private readonly queue: DaemonEvent[] = [];
  private dropped = 0;
  private waiter?: () => void;
  private closed = false;
  /** Largest queue length seen (tests and metrics check the bound holds). */
  highWater = 0;
  droppedTotal = 0;

  constructor(private readonly filter: EventFilter, readonly capacity: number, private readonly onClose: (s: Subscription) => void) {}

  get size(): number {
    return this.queue.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Called by the bus; never blocks. */
  offer(ev: DaemonEvent): void {
    if (this.closed || !matches(this.filter, ev)) return;
    if (this.queue.length >= this.capacity) {
      this.queue.shift();
      this.dropped += 1;
      this.droppedTotal += 1;
    }
    this.queue.push(ev);
    if (this.queue.length > this.highWater) this.highWater = this.queue.length;
    this.wake();
  }

  /** The next event, or undefined once closed (or when `signal` fires). */
  async next(signal?: AbortSignal): Promise<DaemonEvent | undefined> {
    for (;;) {
      if (this.dropped > 0) {
        const count = this.dropped;
        this.dropped = 0;
        return this.bus.synthetic(count);
      }
      const ev = this.queue.shift();
      if (ev) return ev;
      if (this.closed || signal?.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const done = () => { signal?.removeEventListener('abort', done); this.waiter = undefined; resolve(); };
        this.waiter = done;
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.onClose(this);
    this.wake();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<DaemonEvent> {
    try {
      for (;;) {
        const ev = await this.next();
        if (!ev) return;
        yield ev;
      }
    } finally {
      this.close();
    }
  }

  /** Set by the bus right after construction (keeps the constructor free of a back-reference cycle). */
  bus!: EventBus;

  private wake(): void {
    this.waiter?.();
  }
}

@injectable()
export class EventBus {
  private readonly subs = new Set<Subscription>();
  private readonly recent: DaemonEvent[] = [];
  private readonly boot = randomBytes(4).toString('hex');
  private seq = 0;
  private closed = false;
  readonly options: EventBusOptions;
  /** Events published since start, and events dropped for slow readers (metrics). */
  publishedTotal = 0;
  droppedTotal = 0;

  constructor(
    @inject(TOKENS.Logger) private readonly log: Logger,
    @inject(TOKENS.Config) config: Pick<DaemonConfig, 'events'> | undefined,
  ) {
    this.options = { ...DEFAULT_EVENT_OPTIONS, ...(config?.events ?? {}) };
  }

  get subscriberCount(): number {
    return this.subs.size;
  }

  /** Per-subscriber queue numbers (tests and diagnostics check the bound holds). */
  stats(): Array<{ size: number; highWater: number; capacity: number; dropped: number }> {
    return [...this.subs].map((s) => ({ size: s.size, highWater: s.highWater, capacity: s.capacity, dropped: s.droppedTotal }));
  }

  publish(init: EventInit): DaemonEvent {
    const ev: DaemonEvent = { attributes: {}, ...init, id: this.nextId(), time: new Date().toISOString() };
    ev.attributes = { ...ev.attributes };
    this.publishedTotal += 1;
    if (this.options.history > 0) {
      this.recent.push(ev);
      if (this.recent.length > this.options.history) this.recent.shift();
    }
    for (const s of this.subs) {
      const before = s.droppedTotal;
      s.offer(ev);
      this.droppedTotal += s.droppedTotal - before;
    }
    this.log.debug({ event: ev }, 'event');
    return ev;
  }

  /** `replay`: start with the remembered recent events that match. `queueSize` overrides the default (tests). */
  subscribe(filter: EventFilter = {}, opts: { replay?: boolean; queueSize?: number } = {}): Subscription {
    const s = new Subscription(filter, Math.max(1, opts.queueSize ?? this.options.queueSize), (x) => this.subs.delete(x));
    s.bus = this;
    if (this.closed) {
      s.close();
      return s;
    }
    if (opts.replay) for (const ev of this.recent) s.offer(ev);
    this.subs.add(s);
    return s;
  }

  /** Ends every subscription (streams finish normally); later subscriptions end at once. */
  close(): void {
    this.closed = true;
    for (const s of [...this.subs]) s.close();
  }

  /** @internal */
  synthetic(count: number): DaemonEvent {
    return { id: this.nextId(), time: new Date().toISOString(), type: 'daemon', action: 'events-dropped', name: '', attributes: { count: String(count) } };
  }

  private nextId(): string {
    this.seq += 1;
    return `${this.boot}-${this.seq}`;
  }
}
