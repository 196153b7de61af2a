// What both fakes share: injected delays and failures, cancellation, use-after-shutdown, and a call log
// that lets tests observe ordering and overlap without looking at the clock.
import { UnavailableError, throwIfAborted } from '../../core/errors.js';
import type { CallContext } from '../../core/ports/common.js';
import { sleep } from '../../core/async/sleep.js';

/** Which targets (VM or network names) an operation fails for. */
export type FailMatcher = string | readonly string[] | RegExp | ((target: string) => boolean);

export function matches(m: FailMatcher | undefined, target: string): boolean {
  if (m === undefined) return false;
  if (typeof m === 'string') return m === target;
  if (m instanceof RegExp) return m.test(target);
  if (typeof m === 'function') return m(target);
  return m.includes(target);
}

export interface CallEvent {
  seq: number;
  op: string;
  target: string;
  phase: 'begin' | 'end' | 'fail';
}

export class FakeControls<Op extends string> {
  readonly events: CallEvent[] = [];
  private seq = 0;
  private readonly active = new Map<string, number>();
  private readonly peak = new Map<string, number>();
  private closed = false;

  constructor(
    private readonly what: string,
    /** Mutable: tests may change delays between calls. */
    public delays: Partial<Record<Op, number>>,
    /** Mutable: tests may arm and disarm failures between calls. */
    public failOn: Partial<Record<Op, FailMatcher>>,
    public failWith: (op: Op, target: string) => Error,
  ) {}

  get isShutdown(): boolean {
    return this.closed;
  }

  shutdown(): void {
    this.closed = true;
  }

  /** Wraps one port call: guards, log, delay, injected failure, then `body`. */
  async call<T>(op: Op, target: string, ctx: CallContext, body: () => T | Promise<T>): Promise<T> {
    this.guard(ctx);
    this.log(op, target, 'begin');
    this.active.set(op, (this.active.get(op) ?? 0) + 1);
    this.peak.set(op, Math.max(this.peak.get(op) ?? 0, this.active.get(op)!));
    try {
      const d = this.delays[op];
      if (d !== undefined && d > 0) await sleep(d, ctx.signal);
      this.guard(ctx);
      if (matches(this.failOn[op], target)) throw this.failWith(op, target);
      const out = await body();
      this.log(op, target, 'end');
      return out;
    } catch (err) {
      this.log(op, target, 'fail');
      throw err;
    } finally {
      this.active.set(op, this.active.get(op)! - 1);
    }
  }

  guard(ctx: CallContext): void {
    if (this.closed) throw new UnavailableError(`${this.what} was shut down; no calls are accepted after shutdown`);
    throwIfAborted(ctx.signal);
  }

  /** Most calls of `op` that were in flight at once. */
  maxConcurrent(op: Op): number {
    return this.peak.get(op) ?? 0;
  }

  /** Targets of `op` calls in the order they began (or ended). */
  order(op: Op, phase: CallEvent['phase'] = 'begin'): string[] {
    return this.events.filter((e) => e.op === op && e.phase === phase).map((e) => e.target);
  }

  /** Sequence number of an event, for "A ended before B began" assertions; -1 when absent. */
  seqOf(op: Op, target: string, phase: CallEvent['phase']): number {
    return this.events.find((e) => e.op === op && e.target === target && e.phase === phase)?.seq ?? -1;
  }

  resetLog(): void {
    this.events.length = 0;
    this.peak.clear();
  }

  private log(op: string, target: string, phase: CallEvent['phase']): void {
    this.events.push({ seq: ++this.seq, op, target, phase });
  }
}
