// Which host paths a socket client may make the daemon read or write. The socket grants VMs, not the
// daemon's filesystem: a path is usable only under a directory the daemon's config names
// (`paths.import`, `paths.export`), and the check is made on the opened descriptor, never by
// resolving the path a second time (a symlink swapped in between would win).
import { constants } from 'node:fs';
import { open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, PermissionDeniedError, fromSystemError, type VmrError } from '../errors.js';

export type PathSetting = 'paths.import' | 'paths.export';

export interface HostPathsOptions {
  dataDir: string;
  /** Absolute directories the daemon may read from (default `<dataDir>/import`). */
  import?: string[];
  /** Absolute directories the daemon may write into (default `<dataDir>/export`). */
  export?: string[];
}

/** A file opened for reading after the policy check; read it through `fh` or `fdPath` only. */
export interface OpenedHostFile {
  fh: FileHandle;
  /** `/proc/self/fd/N`: names the opened inode, not the path. */
  fdPath: string;
  /** Where the descriptor really points (for messages and relative lookups). */
  realPath: string;
  size: number;
  close(): Promise<void>;
}

/** A directory opened for writing after the policy check; entries are reached through its descriptor. */
export interface OpenedHostDir {
  fh: FileHandle;
  fdPath: string;
  realPath: string;
  /** The path of `name` inside the opened directory (through the descriptor). */
  entry(name: string): string;
  close(): Promise<void>;
}

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
// O_NONBLOCK: a FIFO named where a directory is expected must fail (ENOTDIR), never block.
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NONBLOCK;

export const fdPath = (fh: FileHandle): string => `/proc/self/fd/${fh.fd}`;

/** Refuses what no syscall should see: empty, NUL, relative. */
export function checkPathSyntax(p: unknown, field: string): string {
  if (typeof p !== 'string' || p === '') throw new InvalidArgumentError(`${field} is required`, { field });
  if (p.includes('\0')) throw new InvalidArgumentError(`${field} must not contain NUL`, { field });
  if (!path.isAbsolute(p)) throw new InvalidArgumentError(`${field} "${p.slice(0, 128)}" must be absolute (a path on the daemon's host)`, { field });
  return p;
}

/** `p` is `dir` or below it (both real paths). */
export function insideDir(dir: string, p: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..' + path.sep) && rel !== '..' && !path.isAbsolute(rel));
}
const inside = insideDir;

export class HostPaths {
  readonly dataDir: string;
  readonly importDirs: string[];
  readonly exportDirs: string[];

  constructor(opts: HostPathsOptions) {
    this.dataDir = path.resolve(opts.dataDir);
    this.importDirs = (opts.import?.length ? opts.import : [path.join(this.dataDir, 'import')]).map((d) => path.resolve(d));
    this.exportDirs = (opts.export?.length ? opts.export : [path.join(this.dataDir, 'export')]).map((d) => path.resolve(d));
  }

  /** Real paths of the configured dirs (a dir that does not exist yet allows nothing). */
  private async roots(setting: PathSetting): Promise<string[]> {
    const dirs = setting === 'paths.import' ? this.importDirs : this.exportDirs;
    const out: string[] = [];
    for (const d of dirs) {
      try {
        out.push(await realpath(d));
      } catch { /* missing: grants nothing */ }
    }
    return out;
  }

  /**
   * Whether a real path may be used under `setting`. Inside the data dir only its own `import`/`export`
   * dirs count, whatever the setting says: the daemon's state, keys and base disks are never reachable.
   */
  async allows(setting: PathSetting, real: string, opts: { entry?: boolean } = {}): Promise<boolean> {
    const roots = await this.roots(setting);
    // An entry to create or replace must be below a root, never the root itself.
    if (!roots.some((r) => inside(r, real) && !(opts.entry && r === real))) return false;
    const data = await realpath(this.dataDir).catch(() => this.dataDir);
    if (!inside(data, real)) return true;
    const own = path.join(data, setting === 'paths.import' ? 'import' : 'export');
    return inside(own, real);
  }

  private denied(setting: PathSetting, field: string, shown: string): VmrError {
    const dirs = (setting === 'paths.import' ? this.importDirs : this.exportDirs).join(', ');
    return new PermissionDeniedError(
      `${field} "${shown.slice(0, 256)}" is outside the directories the daemon may ${setting === 'paths.import' ? 'read' : 'write'} (${setting}: ${dirs}); ` +
      `send the bytes through the socket instead (vmr import / vmr export), or ask the daemon's admin to add the directory to ${setting}`,
      { field },
    );
  }

  /**
   * Opens a regular file for reading: once, without following a final symlink and without blocking on a
   * FIFO or device; then checks where the descriptor points and what it is. `maxBytes` is checked before
   * anything is read.
   */
  async openForRead(p: string, field: string, opts: { maxBytes?: number } = {}): Promise<OpenedHostFile> {
    checkPathSyntax(p, field);
    let fh: FileHandle;
    try {
      fh = await open(p, READ_FLAGS);
    } catch (err) {
      throw fromSystemError(err, `"${p.slice(0, 256)}"`, field);
    }
    try {
      const real = await readlink(fdPath(fh));
      if (!(await this.allows('paths.import', real))) throw this.denied('paths.import', field, p);
      const st = await fh.stat();
      if (!st.isFile()) {
        const kind = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device or special file';
        throw new InvalidArgumentError(`${field} "${p.slice(0, 256)}" is ${kind}, not a regular file`, { field });
      }
      if (opts.maxBytes !== undefined && st.size > opts.maxBytes) {
        throw new InvalidArgumentError(`${field} "${p.slice(0, 256)}" is ${st.size} bytes; the limit is ${opts.maxBytes}`, { field });
      }
      return { fh, fdPath: fdPath(fh), realPath: real, size: st.size, close: () => fh.close().catch(() => undefined) };
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw fromSystemError(err, `"${p.slice(0, 256)}"`, field);
    }
  }

  /** Opens the directory `p` is to be written in; the caller writes `entry(basename)` through it. */
  async openForWrite(p: string, field: string): Promise<{ dir: OpenedHostDir; name: string }> {
    checkPathSyntax(p, field);
    if (p.endsWith('/')) throw new InvalidArgumentError(`${field} "${p.slice(0, 256)}" ends in "/"; name the file or directory to create`, { field });
    const name = path.basename(p);
    if (!name || name === '.' || name === '..' || p.split('/').includes('..')) {
      throw new InvalidArgumentError(`${field} "${p.slice(0, 256)}" must name an entry without "." or ".." segments`, { field });
    }
    if (Buffer.byteLength(name) > 200) throw new InvalidArgumentError(`${field}: the name "${name.slice(0, 64)}…" is too long (temp files beside it need room)`, { field });
    const parent = path.dirname(p);
    let fh: FileHandle;
    try {
      fh = await open(parent, DIR_FLAGS);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw fromSystemError(err, `the directory "${parent.slice(0, 256)}" (create it first)`, field);
      }
      throw fromSystemError(err, `the directory "${parent.slice(0, 256)}"`, field);
    }
    try {
      const real = await readlink(fdPath(fh));
      if (!(await this.allows('paths.export', path.join(real, name), { entry: true }))) throw this.denied('paths.export', field, p);
      const fdp = fdPath(fh);
      return {
        name,
        dir: { fh, fdPath: fdp, realPath: real, entry: (n) => path.join(fdp, n), close: () => fh.close().catch(() => undefined) },
      };
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw fromSystemError(err, `the directory "${parent.slice(0, 256)}"`, field);
    }
  }

  /**
   * Reads `rel` below `baseDir` (compose `*_file` named by path): under paths.import, and — judged on the
   * opened descriptor — inside baseDir's real directory. Bounded by `maxBytes` before reading.
   */
  async readWithin(baseDir: string, rel: string, field: string, maxBytes: number): Promise<string> {
    checkPathSyntax(baseDir, 'base_dir');
    if (rel.includes('\0')) throw new InvalidArgumentError(`${field} must not contain NUL`, { field });
    if (path.isAbsolute(rel)) throw new InvalidArgumentError(`${field} "${rel.slice(0, 128)}" must be relative to the compose file's directory`, { field });
    const lexical = path.relative(path.resolve(baseDir), path.resolve(baseDir, rel));
    if (lexical === '' || lexical === '..' || lexical.startsWith('..' + path.sep)) {
      throw new InvalidArgumentError(`${field} "${rel.slice(0, 128)}" escapes the project directory; keep cloud-init files inside it`, { field });
    }
    const base = await this.dirAllowed(baseDir, 'base_dir');
    if (!base) throw this.denied('paths.import', 'base_dir', baseDir);
    const f = await this.openForRead(path.resolve(base, rel), field, { maxBytes });
    try {
      if (!inside(base, f.realPath)) throw new InvalidArgumentError(`${field} "${rel.slice(0, 128)}" leaves the project directory; keep cloud-init files inside it`, { field });
      return await f.fh.readFile('utf8');
    } finally {
      await f.close();
    }
  }

  /** Whether a directory (e.g. a compose base_dir) lies under `paths.import`, judged on its real path. */
  async dirAllowed(p: string, field: string): Promise<string | undefined> {
    checkPathSyntax(p, field);
    let fh: FileHandle;
    try {
      fh = await open(p, DIR_FLAGS);
    } catch {
      return undefined;
    }
    try {
      const real = await readlink(fdPath(fh));
      return (await this.allows('paths.import', real)) ? real : undefined;
    } finally {
      await fh.close().catch(() => undefined);
    }
  }
}

/** The daemon's policy, from its config. */
export function hostPathsOf(config: { dataDir: string; paths?: { import: string[]; export: string[] } }): HostPaths {
  return new HostPaths({ dataDir: config.dataDir, import: config.paths?.import, export: config.paths?.export });
}
