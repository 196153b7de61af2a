import type { CallContext } from '../ports/common.js';

const STEP = 8 << 20;

/** Byte progress for one phase, reported every 8 MiB and at the end (not per chunk). */
export function byteProgress(ctx: CallContext, phase: string, total: number, item?: string) {
  let current = 0;
  let last = -STEP;
  const emit = () => ctx.progress?.({ phase, item, current, total, unit: 'bytes' });
  return {
    add(n: number) {
      current += n;
      if (current - last >= STEP) {
        last = current;
        emit();
      }
    },
    done() {
      emit();
    },
  };
}
