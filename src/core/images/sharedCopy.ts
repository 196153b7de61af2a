// Copies into shared memory with libc's memcpy (native/sharedCopy.c, built by `npm run build` when gcc is there):
// V8 copies into a SharedArrayBuffer word by word, three times slower here, and a pull copies every byte it
// downloads into one. Without the helper, Buffer.copy.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

type Copy = (target: Buffer, at: number, source: Buffer) => number;

let copy: Copy | undefined;

function load(): Copy {
  try {
    const file = fileURLToPath(new URL('../../native/sharedCopy.node', import.meta.url));
    return (createRequire(import.meta.url)(file) as { copy: Copy }).copy;
  } catch {
    return (target, at, source) => source.copy(target, at);
  }
}

/** As much of `source` as fits into `target` from `at`; the bytes copied. */
export function copyIntoShared(target: Buffer, at: number, source: Buffer): number {
  copy ??= load();
  return copy(target, at, source);
}
