// The test guest (test/support/guest/build-guest.sh), built once per version of the script and
// cached under .test-work/guest/<hash>/ so that every suite and process shares one build.
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from './services.js';

const pexec = promisify(execFile);

export interface TestGuest {
  dir: string;
  /** Sparse raw disk: what the image store keeps as a base disk. */
  rawPath: string;
  qcow2Path: string;
  /** VMFile pointing at guest.qcow2. */
  vmfilePath: string;
  /** Virtual size of the disk in bytes. */
  diskSize: number;
}

/** Lines the guest prints on its serial console. */
export const GUEST_MARKERS = {
  ready: 'VMR-GUEST ready',
  ipPrefix: 'VMR-GUEST ip=',
  userDataBegin: 'VMR-GUEST user-data-begin',
  userDataEnd: 'VMR-GUEST user-data-end',
  acpiPoweroff: 'VMR-GUEST acpi-poweroff',
} as const;

const script = path.join(repoRoot, 'test/support/guest/build-guest.sh');
let building: Promise<TestGuest> | undefined;

export function testGuest(): Promise<TestGuest> {
  building ??= build();
  return building;
}

async function build(): Promise<TestGuest> {
  const hash = createHash('sha256').update(await fs.readFile(script)).digest('hex').slice(0, 16);
  const base = path.join(repoRoot, '.test-work/guest');
  const dir = path.join(base, hash);
  const guest: TestGuest = {
    dir,
    rawPath: path.join(dir, 'guest.raw'),
    qcow2Path: path.join(dir, 'guest.qcow2'),
    vmfilePath: path.join(dir, 'vmfile.yaml'),
    diskSize: 0,
  };
  if (!(await exists(guest.vmfilePath))) {
    await fs.mkdir(base, { recursive: true });
    // Build beside the final place and rename, so a concurrent process never sees half a guest.
    const tmp = await fs.mkdtemp(path.join(base, `.build-${hash}-`));
    try {
      await pexec('bash', [script, tmp], { timeout: 300_000 });
      await fs.rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      });
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
    // Guests built by older versions of the script are dead weight now.
    for (const d of await fs.readdir(base)) {
      if (d !== hash && /^[0-9a-f]{16}$/.test(d)) await fs.rm(path.join(base, d), { recursive: true, force: true });
    }
  }
  await makeTraversable(dir);
  guest.diskSize = (await fs.stat(guest.rawPath)).size;
  return guest;
}

/**
 * QEMU runs as libvirt-qemu: every parent of a disk it opens must be searchable by others. Fixes
 * the directories inside the repo; reports one outside it instead of changing it.
 */
export async function makeTraversable(p: string): Promise<void> {
  for (let cur = path.resolve(p); ; cur = path.dirname(cur)) {
    const st = await fs.stat(cur);
    if ((st.mode & 0o001) === 0) {
      if (!cur.startsWith(repoRoot)) {
        throw new Error(`${cur} is not searchable by others, so libvirt-qemu cannot open the test guest; chmod o+x it`);
      }
      await fs.chmod(cur, (st.mode & 0o7777) | 0o005);
    }
    if (path.dirname(cur) === cur) return;
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false);
}
