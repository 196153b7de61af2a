// Where a VM's own files live: <stateDir>/<uri-slug>/<name>.<random>/{overlay.qcow2,seed.iso,console.log}.
// The random suffix means a run that fails (or loses a race for the name) only ever removes files
// it created itself; the slug keeps test-driver VMs apart from real ones.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { FailedPreconditionError, fromSystemError } from '../../../core/errors.js';

export interface VmPaths {
  dir: string;
  overlay: string;
  seed: string;
  console: string;
  /** Present only for ephemeral VMs: holds the domain UUID, so orphans can be found after a restart. */
  ephemeralMarker: string;
}

const MARKER = 'ephemeral.uuid';

export function uriSlug(uri: string): string {
  const readable = uri.replace(/[^a-zA-Z0-9]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 40);
  return `${readable}-${createHash('sha256').update(uri).digest('hex').slice(0, 8)}`;
}

export class VmFiles {
  private prepared?: Promise<void>;

  constructor(readonly root: string) {}

  paths(dir: string): VmPaths {
    return {
      dir,
      overlay: path.join(dir, 'overlay.qcow2'),
      seed: path.join(dir, 'seed.iso'),
      console: path.join(dir, 'console.log'),
      ephemeralMarker: path.join(dir, MARKER),
    };
  }

  /** Creates a fresh directory for a VM; QEMU (user libvirt-qemu) must be able to reach into it. */
  async create(name: string): Promise<VmPaths> {
    this.prepared ??= prepare(this.root);
    await this.prepared.catch((err) => {
      this.prepared = undefined;
      throw err;
    });
    const dir = path.join(this.root, `${name}.${randomBytes(4).toString('hex')}`);
    try {
      await fs.mkdir(dir, { mode: 0o755 });
      await fs.chmod(dir, 0o755);
    } catch (err) {
      throw fromSystemError(err, `create the VM directory ${dir}`);
    }
    return this.paths(dir);
  }

  /** True when `dir` is a VM directory of ours (so deleting it cannot hit anything else). */
  owns(dir: string): boolean {
    const rel = path.relative(this.root, path.resolve(dir));
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) && !rel.includes(path.sep);
  }

  async remove(dir: string): Promise<void> {
    if (!this.owns(dir)) return;
    await fs.rm(dir, { recursive: true, force: true });
  }

  /** Ephemeral VM directories with the domain UUID each belongs to, and when they were last changed. */
  async ephemeralDirs(): Promise<{ dir: string; uuid: string; mtimeMs: number }[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.root);
    } catch {
      return [];
    }
    const out: { dir: string; uuid: string; mtimeMs: number }[] = [];
    for (const n of names) {
      const dir = path.join(this.root, n);
      try {
        const uuid = (await fs.readFile(path.join(dir, MARKER), 'utf8')).trim();
        out.push({ dir, uuid, mtimeMs: (await fs.stat(dir)).mtimeMs });
      } catch {
        // Not ephemeral, or removed meanwhile.
      }
    }
    return out;
  }
}

async function prepare(root: string): Promise<void> {
  try {
    await fs.mkdir(root, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw fromSystemError(err, `create the VM state directory ${root}`);
  }
  await ensureTraversable(root);
}

/**
 * QEMU runs as libvirt-qemu, so every directory above a disk must be searchable by others. We add
 * o+x (never o+r) to directories we own; one we do not own is reported with what to change.
 */
export async function ensureTraversable(dir: string): Promise<void> {
  const uid = process.getuid?.() ?? -1;
  for (let cur = path.resolve(dir); ; cur = path.dirname(cur)) {
    const st = await fs.stat(cur);
    if ((st.mode & 0o001) === 0) {
      if (st.uid !== uid) {
        throw new FailedPreconditionError(
          `QEMU (user libvirt-qemu) cannot reach files under ${dir} because ${cur} is not searchable by others; ` +
            `run "chmod o+x ${cur}" or set the libvirt plugin's stateDir elsewhere`,
        );
      }
      await fs.chmod(cur, (st.mode & 0o7777) | 0o001);
    }
    if (path.dirname(cur) === cur) return;
  }
}
