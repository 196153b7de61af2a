// Where a VM's own files live: <stateDir>/<uri-slug>/<name>.<random>/{overlay.qcow2,seed.iso,console.log}
// (modes in filePermissions.ts).
// The random suffix means a run that fails (or loses a race for the name) only ever removes files
// it created itself; the slug keeps test-driver VMs apart from real ones.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fromSystemError } from '../../../plugin-api/index.js';
import { ensureQemuCanReach, secureDir, secureFile, type FileModes } from './filePermissions.js';
import { writeRunOwner } from './runOwner.js';

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

export interface VmFilesOptions {
  /** Modes, group and QEMU identity for this URI (default: private, QEMU runs as us). */
  modes?: () => Promise<FileModes>;
  /** Directories the daemon made: ones above the files that QEMU cannot search are fixed only under these. */
  ownRoots?: string[];
}

export class VmFiles {
  private prepared?: Promise<FileModes>;

  constructor(readonly root: string, private readonly opts: VmFilesOptions = {}) {}

  paths(dir: string): VmPaths {
    return {
      dir,
      overlay: path.join(dir, 'overlay.qcow2'),
      seed: path.join(dir, 'seed.iso'),
      console: path.join(dir, 'console.log'),
      ephemeralMarker: path.join(dir, MARKER),
    };
  }

  /** The modes files of this URI get (see filePermissions.ts); the state dir is made and checked on first use. */
  modes(): Promise<FileModes> {
    this.prepared ??= this.prepare();
    return this.prepared.catch((err) => {
      this.prepared = undefined;
      throw err;
    });
  }

  /**
   * Creates a fresh private directory for a VM, with an owner record (see runOwner.ts) written before
   * anything else, so the sweep can tell a run in progress from a crash's leftovers.
   */
  async create(name: string, inFlight?: Set<string>): Promise<VmPaths> {
    const modes = await this.modes();
    const dir = path.join(this.root, `${name}.${randomBytes(4).toString('hex')}`);
    // Registered before it exists, so no sweep can take it for a leftover in between.
    inFlight?.add(dir);
    try {
      await fs.mkdir(dir, { mode: modes.dir });
      await secureDir(dir, modes);
      await writeRunOwner(dir);
    } catch (err) {
      await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
      inFlight?.delete(dir);
      throw fromSystemError(err, `create the VM directory ${dir}`);
    }
    return this.paths(dir);
  }

  /** Gives a file QEMU opens the private mode and group. */
  async secure(file: string): Promise<void> {
    await secureFile(file, await this.modes());
  }

  /**
   * The image's base disk, which QEMU opens read-only as the overlay's backing file: its directories
   * must be searchable by QEMU, and the file, when the daemon owns it, readable by QEMU and nobody else.
   */
  async prepareBaseDisk(file: string): Promise<void> {
    const modes = await this.modes();
    await ensureQemuCanReach(path.dirname(file), modes, this.opts.ownRoots ?? []);
    const st = await fs.stat(file).catch(() => undefined);
    if (!st || st.uid !== (process.getuid?.() ?? -1) || !modes.qemu) return;
    if (modes.gid !== undefined) {
      await secureFile(file, modes);
    } else if ((st.mode & 0o004) === 0) {
      // Not root and not in QEMU's group: libvirt's dynamic ownership hands the backing file to QEMU's
      // user for good (it never restores shared backing files), after which only "others" read
      // permission lets the daemon read it again. Documented: join QEMU's group to avoid this.
      await fs.chmod(file, (st.mode & 0o7777) | 0o044);
    }
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

  /** Every VM directory, with the ephemeral domain UUID when it has one. */
  async dirs(): Promise<{ dir: string; uuid?: string; mtimeMs: number }[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.root);
    } catch {
      return [];
    }
    const out: { dir: string; uuid?: string; mtimeMs: number }[] = [];
    for (const n of names) {
      const dir = path.join(this.root, n);
      try {
        const st = await fs.lstat(dir);
        if (!st.isDirectory()) continue;
        const uuid = (await fs.readFile(path.join(dir, MARKER), 'utf8').catch(() => undefined))?.trim();
        out.push({ dir, uuid, mtimeMs: st.mtimeMs });
      } catch {
        // Removed meanwhile.
      }
    }
    return out;
  }

  /** Ephemeral VM directories with the domain UUID each belongs to, and when they were last changed. */
  async ephemeralDirs(): Promise<{ dir: string; uuid: string; mtimeMs: number }[]> {
    return (await this.dirs()).filter((d): d is { dir: string; uuid: string; mtimeMs: number } => d.uuid !== undefined);
  }

  private async prepare(): Promise<FileModes> {
    const modes = await (this.opts.modes?.() ?? Promise.resolve<FileModes>({ dir: 0o700, file: 0o600 }));
    try {
      // The state dir and the per-URI dir are the plugin's own: private, with QEMU's group.
      await secureDir(path.dirname(this.root), modes);
      await secureDir(this.root, modes);
    } catch (err) {
      throw fromSystemError(err, `create the VM state directory ${this.root}`);
    }
    await ensureQemuCanReach(this.root, modes, this.opts.ownRoots ?? []);
    return modes;
  }
}
