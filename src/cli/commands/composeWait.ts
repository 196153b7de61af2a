// `vmr compose up --wait`: the daemon waits (ComposeUpRequest.wait); meanwhile the CLI polls ComposePs
// and prints each VM's progress as it changes. On failure it names the service (the daemon's message
// does) and shows the last console lines of that service's VMs.
import { setTimeout as delay } from 'node:timers/promises';
import type { Cli } from '../runtime.js';
import type { ComposeServiceStatus } from '../messages.js';
import { consoleTail } from './logs.js';
import { projectVms, shortName } from './composeAccess.js';

const POLL_MS = 3000;
const TAIL_LINES = 15;

export async function upAndWait<T>(cli: Cli, project: string, up: Promise<T>): Promise<T> {
  let finished = false;
  const seen = new Map<string, string>();
  let last: ComposeServiceStatus[] = [];
  const watch = (async () => {
    while (!finished) {
      await delay(POLL_MS);
      if (finished || !project) break;
      try {
        last = await projectVms(cli, project);
      } catch {
        continue; // the project may not exist yet; up reports real errors
      }
      for (const v of last) {
        const state = [v.status, v.ipAddresses.length ? 'address' : '', v.health ? `health ${v.health}` : ''].filter(Boolean).join(', ');
        if (!finished && seen.get(v.vmName) !== state) cli.note(`${shortName(project, v.vmName)}: ${state}`);
        seen.set(v.vmName, state);
      }
    }
  })();
  try {
    return await up;
  } catch (err) {
    finished = true;
    const failed = failedServices((err as Error).message);
    const vms = last.length ? last : await projectVms(cli, project).catch(() => []);
    for (const v of vms.filter((x) => failed.includes(x.service))) {
      cli.note(`Last console lines of ${v.vmName} (service "${v.service}"):\n${await consoleTail(cli, v.vmName, TAIL_LINES)}`);
    }
    throw err;
  } finally {
    finished = true;
    await watch;
  }
}

/** `compose up "p": service "db", "x" failed: …` → ['db', 'x']. */
export function failedServices(message: string): string[] {
  const m = /service ((?:"[^"]+"(?:, )?)+) failed/.exec(message);
  return m ? [...m[1]!.matchAll(/"([^"]+)"/g)].map((x) => x[1]!) : [];
}
