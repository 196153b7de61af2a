// Who may read a VM's files. Seeds carry user-data (often secrets), overlays and console logs carry the
// guest's data: only the daemon and the QEMU process may read them. Under qemu:///system QEMU runs as
// qemu.conf's user/group (Debian: libvirt-qemu), so a root daemon gives files 0640 and directories
// 0750 with that group; a daemon that cannot set the group keeps files 0600 (libvirt's dynamic
// ownership hands them to QEMU while it runs) and lets QEMU only traverse (0711). Where QEMU runs as
// the daemon's own user (qemu:///session, the test driver) everything is 0700/0600.
// Directories above the files are only changed when the daemon made them (its data dir and below);
// any other directory QEMU cannot search is reported with what to change, never opened up.
import fs from 'node:fs/promises';
import path from 'node:path';
import { FailedPreconditionError } from '../../../plugin-api/index.js';
import { parseLibvirtUri } from '../rpc/uri.js';

/** The identity QEMU runs as, when it is not the daemon's own. */
export interface QemuIdentity {
  user: string;
  uid?: number;
  /** Primary and supplementary groups of that user. */
  gids: number[];
  /** qemu.conf's group, which we give our files when we may. */
  group: string;
  gid?: number;
}

export interface FileModes {
  dir: number;
  file: number;
  /** Group given to files and directories (undefined: leave the daemon's). */
  gid?: number;
  /** QEMU's identity when it differs from ours (traversal checks apply), else undefined. */
  qemu?: QemuIdentity;
}

const PRIVATE: FileModes = { dir: 0o700, file: 0o600 };

/** The modes for VM files of `uri`'s driver, as seen from this process. */
export async function fileModesFor(uri: string, files = systemFiles): Promise<FileModes> {
  const u = parseLibvirtUri(uri);
  // Only qemu:///system (local, or remote paths on shared storage) runs QEMU as someone else.
  if (u.driver !== 'qemu' || u.path !== '/system') return PRIVATE;
  const qemu = await qemuIdentity(files);
  const myUid = process.getuid?.() ?? -1;
  const myGids = new Set([process.getgid?.() ?? -1, ...(process.getgroups?.() ?? [])]);
  if (qemu.gid !== undefined && (myUid === 0 || myGids.has(qemu.gid))) {
    return { dir: 0o750, file: 0o640, gid: qemu.gid, qemu };
  }
  return { dir: 0o711, file: 0o600, qemu };
}

/** Creates (or tightens) a directory the daemon owns with the modes' mode and group. */
export async function secureDir(dir: string, m: FileModes): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: m.dir });
  if (m.gid !== undefined) await fs.chown(dir, -1, m.gid);
  await fs.chmod(dir, m.dir);
}

/** Gives a file the modes' mode and group (after its writer created it with the umask's). */
export async function secureFile(file: string, m: FileModes): Promise<void> {
  if (m.gid !== undefined) await fs.chown(file, -1, m.gid);
  await fs.chmod(file, m.file);
}

/**
 * Makes sure QEMU can search every directory above `target`. Directories under one of `ownRoots`
 * that the daemon owns get group (or, failing that, other) search permission; any other one fails
 * FAILED_PRECONDITION naming it and the fix. Nothing to do when QEMU runs as the daemon's user.
 */
export async function ensureQemuCanReach(target: string, m: FileModes, ownRoots: string[]): Promise<void> {
  const q = m.qemu;
  if (!q) return;
  const myUid = process.getuid?.() ?? -1;
  const roots = ownRoots.map((r) => path.resolve(r));
  for (let cur = path.resolve(target); ; cur = path.dirname(cur)) {
    const st = await fs.stat(cur);
    if (!searchable(st, q)) {
      const ours = st.uid === myUid && roots.some((r) => cur === r || cur.startsWith(r + path.sep));
      if (!ours) {
        throw new FailedPreconditionError(
          `QEMU (user ${q.user}) cannot reach ${target}: ${cur} is not searchable by it, and vmregistry does not change ` +
            `directories it did not create; allow just traversal (e.g. "setfacl -m u:${q.user}:x ${cur}" or "chmod o+x ${cur}"), ` +
            `or move the daemon's data dir (or the libvirt plugin's stateDir) to a place QEMU can reach`,
        );
      }
      if (m.gid !== undefined) {
        await fs.chown(cur, -1, m.gid);
        await fs.chmod(cur, (st.mode & 0o7777) | 0o010);
      } else {
        await fs.chmod(cur, (st.mode & 0o7777) | 0o001);
      }
    }
    if (path.dirname(cur) === cur) return;
  }
}

function searchable(st: { uid: number; gid: number; mode: number }, q: QemuIdentity): boolean {
  if (q.uid === 0) return true;
  if (q.uid !== undefined && st.uid === q.uid) return (st.mode & 0o100) !== 0;
  if (q.gids.includes(st.gid)) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

export interface SystemFiles {
  qemuConf: () => Promise<string>;
  passwd: () => Promise<string>;
  group: () => Promise<string>;
}

const systemFiles: SystemFiles = {
  qemuConf: () => fs.readFile('/etc/libvirt/qemu.conf', 'utf8').catch(() => ''),
  passwd: () => fs.readFile('/etc/passwd', 'utf8').catch(() => ''),
  group: () => fs.readFile('/etc/group', 'utf8').catch(() => ''),
};

/** qemu.conf's user and group (Debian's defaults when unset), resolved through passwd and group. */
export async function qemuIdentity(files: SystemFiles = systemFiles): Promise<QemuIdentity> {
  const conf = await files.qemuConf();
  const setting = (key: string) => new RegExp(`^\\s*${key}\\s*=\\s*"([^"]*)"`, 'm').exec(conf)?.[1];
  const user = setting('user') ?? 'libvirt-qemu';
  const group = setting('group') ?? 'libvirt-qemu';
  const passwd = (await files.passwd()).split('\n').map((l) => l.split(':'));
  const groups = (await files.group()).split('\n').map((l) => l.split(':'));
  const byNumber = (s: string) => (/^\+\d+$/.test(s) ? Number(s.slice(1)) : undefined);
  const pw = passwd.find((p) => p[0] === user);
  const uid = byNumber(user) ?? (pw ? Number(pw[2]) : undefined);
  const gid = byNumber(group) ?? groups.find((g) => g[0] === group)?.[2];
  const gids = new Set<number>();
  if (pw) gids.add(Number(pw[3]));
  for (const g of groups) if (g[3]?.split(',').map((s) => s.trim()).includes(user)) gids.add(Number(g[2]));
  if (gid !== undefined) gids.add(Number(gid));
  return { user, uid, gids: [...gids].filter((n) => Number.isInteger(n)), group, gid: gid === undefined ? undefined : Number(gid) };
}
