// The in-process zstd binding (native/zstd.c, built by `npm run build` when gcc and libzstd-dev are there).
// Hash workers load it themselves; the daemon checks once that it loads (native.ts), so a missing or broken build
// is reported at start and imports use the `zstd` binary instead.
import { nativeHelper } from './native.js';

export type NativeZstd = { path: string; version: string } | { path?: undefined; reason: string };

/** The binding's path and libzstd's version, or why there is none. */
export function nativeZstd(): NativeZstd {
  const h = nativeHelper<{ version(): string }>('zstd', 'the native zstd binding was not built (npm run build needs gcc and libzstd-dev)');
  if (h.path === undefined) return { reason: h.reason };
  try {
    return { path: h.path, version: h.module.version() };
  } catch (err) {
    return { reason: `${h.path} does not load: ${(err as Error).message}` };
  }
}
