// Copies into shared memory with libc's memcpy (native/sharedCopy.c, built by `npm run build` when gcc is there):
// V8 copies into a SharedArrayBuffer word by word, three times slower here, and a pull copies every byte it
// downloads into one. Without the helper, Buffer.copy.
import { nativeHelper } from './native.js';

type Copy = (target: Buffer, at: number, source: Buffer) => number;

let copy: Copy | undefined;

function load(): Copy {
  const h = nativeHelper<{ copy: Copy }>('sharedCopy', 'not built');
  return h.path === undefined ? (target, at, source) => source.copy(target, at) : h.module.copy;
}

/** As much of `source` as fits into `target` from `at`; the bytes copied. */
export function copyIntoShared(target: Buffer, at: number, source: Buffer): number {
  copy ??= load();
  return copy(target, at, source);
}
