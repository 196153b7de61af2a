// The SEEK_DATA helper (native/holes.c, built by `npm run build` when gcc is there), which the hash workers load to
// leave a sparse disk's holes unread: its path when it was built and loads here. Without it, holes are read.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

let helper: string | null | undefined;

export function holesHelper(): string | undefined {
  if (helper === undefined) {
    const file = fileURLToPath(new URL('../../native/holes.node', import.meta.url));
    try {
      createRequire(import.meta.url)(file);
      helper = file;
    } catch {
      helper = null;
    }
  }
  return helper ?? undefined;
}
