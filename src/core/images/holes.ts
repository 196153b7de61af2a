// The SEEK_DATA helper (native/holes.c), which the hash workers load to leave a sparse disk's holes unread: its path
// when it was built and loads here. Without it, holes are read.
import { nativeHelper } from './native.js';

export function holesHelper(): string | undefined {
  return nativeHelper('holes', 'not built').path;
}
