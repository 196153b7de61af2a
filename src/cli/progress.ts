// Renders the Progress events of pull, push, import and export: a redrawn bar with rate and ETA on a
// terminal, a plain line every ~2 s otherwise (CI logs, pipes). Always on stderr.
import { compactDuration, humanSize } from './format.js';
import type { Progress } from './messages.js';

export interface ProgressOptions {
  tty: boolean;
  columns?: number;
  /** Minimum time between plain lines when not on a terminal. */
  plainIntervalMs?: number;
  now?: () => number;
}

interface Sample { t: number; v: number }

const RATE_WINDOW_MS = 5000;
const TTY_REDRAW_MS = 100;

export class ProgressRenderer {
  private key = '';
  private last?: Progress;
  private samples: Sample[] = [];
  private lastDraw = 0;
  private lastPlain = 0;
  private drawnText = '';
  private printedText = '';
  private readonly now: () => number;

  constructor(private readonly stream: NodeJS.WritableStream, private readonly opts: ProgressOptions) {
    this.now = opts.now ?? Date.now;
  }

  update(p: Progress): void {
    // One line per phase: daemons report bytes cumulatively across blobs, so a line per item would
    // leave a trail of half-full bars. The item is shown on the line as it changes.
    const key = p.phase;
    const t = this.now();
    const changed = key !== this.key;
    if (changed) {
      // A new phase starts a new line; the finished one stays on screen.
      if (this.last) this.finishLine();
      this.key = key;
      this.samples = [];
    }
    const v = Number(p.current) || 0;
    const prev = this.samples[this.samples.length - 1];
    if (prev && v < prev.v) this.samples = [];
    this.samples.push({ t, v });
    while (this.samples.length > 2 && t - this.samples[0].t > RATE_WINDOW_MS) this.samples.shift();
    this.last = p;
    if (this.opts.tty) {
      if (changed || t - this.lastDraw >= TTY_REDRAW_MS || isComplete(p)) this.draw(t);
    } else if (changed || t - this.lastPlain >= (this.opts.plainIntervalMs ?? 2000)) {
      this.plain(t);
    }
  }

  /** The operation finished: leave the last state on screen and end the line. */
  done(): void {
    if (this.last) this.finishLine();
    this.last = undefined;
    this.key = '';
  }

  /** The operation failed or was cancelled: end the bar's line so the error starts on a fresh one. */
  abort(): void {
    if (this.opts.tty && this.drawnText) this.stream.write('\n');
    this.drawnText = '';
    this.last = undefined;
  }

  private finishLine(): void {
    const t = this.now();
    if (this.opts.tty) {
      this.draw(t);
      this.stream.write('\n');
      this.drawnText = '';
    } else {
      const text = this.render(false);
      if (text !== this.printedText) this.stream.write(`${text}\n`);
      this.printedText = '';
    }
  }

  private draw(t: number): void {
    this.lastDraw = t;
    const text = this.render(true);
    this.drawnText = text;
    this.stream.write(`\r\x1b[2K${text}`);
  }

  private plain(t: number): void {
    this.lastPlain = t;
    const text = this.render(false);
    this.printedText = text;
    this.stream.write(`${text}\n`);
  }

  private rate(): number | undefined {
    if (this.samples.length < 2) return undefined;
    const a = this.samples[0];
    const b = this.samples[this.samples.length - 1];
    const dt = (b.t - a.t) / 1000;
    return dt > 0.05 ? (b.v - a.v) / dt : undefined;
  }

  private render(withBar: boolean): string {
    const p = this.last!;
    const bytes = p.unit !== 'items';
    const current = Number(p.current) || 0;
    const total = Number(p.total) || 0;
    const fmt = (n: number) => (bytes ? humanSize(n) : String(n));
    const speed = (r: number) => (bytes ? `${humanSize(r)}/s` : `${r.toFixed(1)}/s`);
    const rate = this.rate();
    const stats: string[] = [];
    if (total > 0) {
      stats.push(`${String(Math.floor(Math.min(1, current / total) * 100)).padStart(3)}%`);
      stats.push(`${fmt(current)}/${fmt(total)}${bytes ? '' : ' items'}`);
      if (rate !== undefined && current < total) {
        stats.push(speed(rate));
        stats.push(`ETA ${rate > 0 ? compactDuration((total - current) / rate) : '--'}`);
      }
    } else if (current > 0) {
      stats.push(`${fmt(current)}${bytes ? '' : ' items'}`);
      if (rate !== undefined) stats.push(speed(rate));
    }
    const tail = [p.item ? shorten(p.item) : '', p.message].filter(Boolean).join(' ');
    const phase = p.phase || 'working';
    if (!withBar || total <= 0) return [phase, ...stats, tail].filter(Boolean).join('  ');
    const columns = this.opts.columns ?? 80;
    const fixed = [phase.padEnd(8), ...stats, tail].filter(Boolean).join('  ').length + 4;
    const width = Math.max(10, Math.min(40, columns - fixed - 1));
    const line = [phase.padEnd(8), bar(current / total, width), ...stats, tail].filter(Boolean).join('  ');
    // A wrapped line breaks the \r redraw; cut it to the terminal width.
    return line.length >= columns ? line.slice(0, columns - 1) : line;
  }
}

function bar(fraction: number, width: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  if (filled >= width) return `[${'='.repeat(width)}]`;
  if (filled === 0) return `[${' '.repeat(width)}]`;
  return `[${'='.repeat(filled - 1)}>${' '.repeat(width - filled)}]`;
}

function isComplete(p: Progress): boolean {
  const total = Number(p.total) || 0;
  return total > 0 && Number(p.current) >= total;
}

/** Digests are long; "sha256:0123456789ab…" is enough to tell them apart. */
function shorten(item: string): string {
  return /^sha256:[0-9a-f]{64}$/.test(item) ? `${item.slice(0, 19)}…` : item;
}
