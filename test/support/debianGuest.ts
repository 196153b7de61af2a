// A real Debian 12 cloud image (systemd, the distribution's cloud-init and openssh-server,
// qemu-guest-agent) built from Debian packages by scripts/guest/build-debian.sh. Building takes
// minutes and needs a Debian mirror, so the image is cached on the machine, outside the repo and
// never in git, under a name that changes with the build script: a second run does not rebuild.
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, requireService } from './services.js';

const pexec = promisify(execFile);

/** What a test needs to know about the image besides its path. */
export const DEBIAN_GUEST = {
  /** cloud-init's default user (sudo without password, SSH key only). */
  defaultUser: 'debian',
  /** The root filesystem's label; the kernel finds it whether the disk is vda or sda. */
  rootLabel: 'vmr-debian-root',
  /** Virtual size of the image. */
  diskBytes: 2 * 1024 ** 3,
  memoryMb: 1024,
  vcpuCount: 2,
  /**
   * Bound from domain start to sshd accepting the injected key under TCG. It needs ~3 min of CPU
   * (50–70 s wall on an idle 2-core host, ~15 min wall at load 20 there). The root disk must be
   * virtio: SATA with multi-threaded TCG livelocks.
   */
  sshReadyMs: 1_200_000,
  /** Bound for building the image when it is not cached (~14 min at load 15 on 2 cores). */
  buildMs: 2_400_000,
} as const;

export const DEBIAN_GUEST_CACHE = process.env.VMR_TEST_IMAGE_CACHE ?? '/var/cache/vmregistry-test';
const script = path.join(repoRoot, 'scripts/guest/build-debian.sh');
let building: Promise<string> | undefined;

/** Path of the cached Debian 12 qcow2, built first if this version of the build script has none. */
export function debianGuestImage(): Promise<string> {
  building ??= ensureImage().catch((err: unknown) => {
    building = undefined;
    throw err;
  });
  return building;
}

async function ensureImage(): Promise<string> {
  const hash = createHash('sha256').update(await fs.readFile(script)).digest('hex').slice(0, 16);
  const image = path.join(DEBIAN_GUEST_CACHE, `debian-12-${hash}.qcow2`);
  if (await exists(image)) return image;
  await requireService('packages');
  await fs.mkdir(DEBIAN_GUEST_CACHE, { recursive: true, mode: 0o755 });
  // One builder across test processes: the others wait on the lock, then find the image. The script
  // writes beside the image and renames, so nobody ever sees half of one.
  const lock = path.join(DEBIAN_GUEST_CACHE, 'debian-12.lock');
  try {
    await pexec('flock', [lock, 'bash', '-c', '[ -s "$1" ] || bash "$2" "$1"', 'build', image, script], {
      timeout: DEBIAN_GUEST.buildMs,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string; killed?: boolean };
    const why = e.killed ? `timed out after ${DEBIAN_GUEST.buildMs / 1000} s` : (e.stderr?.trim().split('\n').slice(-15).join('\n') || e.message);
    throw new Error(`building the Debian 12 test image with ${path.relative(repoRoot, script)} failed: ${why}`);
  }
  if (!(await exists(image))) throw new Error(`${script} finished without writing ${image}`);
  return image;
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false);
}
