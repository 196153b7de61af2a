// Which process is creating a VM directory. A run writes `<dir>/owner` (pid and the process's start
// time, so a recycled pid does not count) before anything else; once the domain is defined, the
// domain's metadata owns the directory instead. A directory no domain names is a leftover exactly when
// its owner process is gone — or is this process and no run here holds it (see sweep.ts).
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

const OWNER = 'owner';

/**
 * Directories of runs in progress in this process, whichever LibvirtHypervisor instance runs them (a
 * test, or a second instance on the same state dir, must not see another's run as a leftover).
 */
export const RUNS_IN_FLIGHT = new Set<string>();

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); undefined when unknown. */
function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const SELF = `${process.pid} ${startTicks(process.pid) ?? '?'}`;

export async function writeRunOwner(dir: string): Promise<void> {
  await fs.writeFile(path.join(dir, OWNER), SELF + '\n', { mode: 0o600 });
}

export type RunOwner = 'self' | 'alive' | 'gone';

/** Who made `dir`: this process, another live process, or nobody alive (also when no record exists). */
export async function runOwner(dir: string): Promise<RunOwner> {
  const rec = (await fs.readFile(path.join(dir, OWNER), 'utf8').catch(() => '')).trim();
  if (!rec) return 'gone';
  if (rec === SELF) return 'self';
  const [pidText, ticks] = rec.split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return 'gone';
  const now = startTicks(pid);
  if (now === undefined) {
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return 'gone';
    }
    // Alive (or not ours to signal) but without /proc to compare start times: assume it is the owner.
    return ticks === '?' ? 'alive' : 'gone';
  }
  return now === ticks ? 'alive' : 'gone';
}
