// The native helpers (native/*.c, compiled into dist/src/native by `npm run build` when their build needs are there:
// scripts/build-native.mjs). Each is loaded here once, so a missing or broken build is known at first use and the
// caller falls back; hash workers that use one load it again themselves (an addon loads once per thread).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export type NativeHelper<T> = { path: string; module: T } | { path?: undefined; reason: string };

const loaded = new Map<string, NativeHelper<unknown>>();

/** native/<name>.node and its exports, or why there is none (`unbuilt`: what its build needs). */
export function nativeHelper<T>(name: string, unbuilt: string): NativeHelper<T> {
  let h = loaded.get(name);
  if (!h) {
    const file = fileURLToPath(new URL(`../../native/${name}.node`, import.meta.url));
    try {
      h = { path: file, module: createRequire(import.meta.url)(file) };
    } catch (err) {
      h = { reason: existsSync(file) ? `${file} does not load: ${(err as Error).message}` : unbuilt };
    }
    loaded.set(name, h);
  }
  return h as NativeHelper<T>;
}
