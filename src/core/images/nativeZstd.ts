// The in-process zstd binding (native/zstd.c, built by `npm run build` when gcc and libzstd-dev are there).
// Hash workers load it themselves (an addon loads once per thread); the daemon only checks here, once, that
// it loads, so a missing or broken build is reported at start and imports use the `zstd` binary instead.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export type NativeZstd = { path: string; version: string } | { path?: undefined; reason: string };

let probed: NativeZstd | undefined;

/** The binding's path and libzstd's version, or why there is none. */
export function nativeZstd(): NativeZstd {
  if (probed) return probed;
  const file = fileURLToPath(new URL('../../native/zstd.node', import.meta.url));
  try {
    const z = createRequire(import.meta.url)(file) as { version(): string };
    probed = { path: file, version: z.version() };
  } catch (err) {
    probed = {
      reason: existsSync(file)
        ? `${file} does not load: ${(err as Error).message}`
        : 'the native zstd binding was not built (npm run build needs gcc and libzstd-dev)',
    };
  }
  return probed;
}
