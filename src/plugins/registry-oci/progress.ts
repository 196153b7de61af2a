import type { CallContext } from '../../plugin-api/index.js';

/** Byte progress of one blob, throttled so that a fast transfer does not flood the client stream. */
export function byteReporter(ctx: CallContext, phase: string, item: string, total: number) {
  let last = -1;
  let lastAt = 0;
  return (current: number) => {
    if (!ctx.progress) return;
    const now = Date.now();
    if (current === total || current - last >= 8 * 1024 * 1024 || now - lastAt >= 250) {
      last = current;
      lastAt = now;
      ctx.progress({ phase, item, current, total, unit: 'bytes' });
    }
  };
}
