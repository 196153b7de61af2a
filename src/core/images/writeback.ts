// Early writeback (issue 17). The kernel starts writing dirty pages only past dirty_background_ratio
// (GiBs on a large machine), so an import or pull that ends with fsync waits for every byte it wrote
// to reach the disk. Asking for a datasync every few dozen MiB while the data still arrives lets the
// disk work alongside the CPU; the closing fsync then has only the tail left. Durability is unchanged:
// the closing fsync still comes before anything is published.
import type { FileHandle } from 'node:fs/promises';

const EVERY = 64 * 1024 * 1024;

export class Writeback {
  private since = 0;
  private running?: Promise<void>;

  constructor(private readonly fh: FileHandle, private readonly every = EVERY) {}

  private timer?: NodeJS.Timeout;

  /** Counts `n` bytes written (or about to be); starts a datasync when enough piled up and none runs. */
  wrote(n: number): void {
    this.since += n;
    if (this.since < this.every) return;
    this.sync();
  }

  /** For a file another process or thread writes: a datasync every `ms` until settle(). */
  periodic(ms = 250): this {
    this.timer = setInterval(() => this.sync(), ms);
    this.timer.unref();
    return this;
  }

  /** Stops the timer and waits for a datasync in flight (before the file is closed). */
  async settle(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private sync(): void {
    if (this.running) return;
    this.since = 0;
    // Best effort: a failure here shows again in the closing fsync, which is awaited.
    this.running = this.fh.datasync().catch(() => undefined).finally(() => { this.running = undefined; });
  }
}
