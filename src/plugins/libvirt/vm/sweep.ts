// Removes VM directories that no domain owns: a run the daemon did not finish (SIGKILL between mkdir
// and define), an ephemeral VM that stopped while no daemon watched, a domain undefined behind our
// back. "Owned" means a domain's metadata names the directory; directories of runs in progress (here,
// or in another live process, see runOwner.ts) are never touched.
//
// Order matters: the candidates are listed before the domains. A run that starts after the candidate
// listing is not a candidate; one in flight at that moment is skipped; one that finished before it had
// defined its domain before the domain listing. So a VM that starts between snapshot and sweep never
// loses its files.
import path from 'node:path';
import type { VmFiles } from './vmFiles.js';
import { runOwner } from './runOwner.js';

export interface SweepPlan {
  /** Removes the candidates that `ownedDirs` (the filesDir of every domain, listed after the plan) does not name. */
  finish(ownedDirs: Iterable<string>): Promise<string[]>;
}

export async function planSweep(files: VmFiles, inFlight: ReadonlySet<string>): Promise<SweepPlan> {
  const candidates = (await files.dirs()).map((d) => d.dir).filter((d) => !inFlight.has(d));
  return {
    async finish(ownedDirs) {
      // By directory name (`<vm>.<random>`): the data dir may be reached by another path after a restart.
      const owned = new Set([...ownedDirs].map((d) => path.basename(d)));
      const removed: string[] = [];
      for (const dir of candidates) {
        if (owned.has(path.basename(dir)) || inFlight.has(dir)) continue;
        if ((await runOwner(dir)) === 'alive') continue;
        await files.remove(dir);
        removed.push(dir);
      }
      return removed;
    },
  };
}
