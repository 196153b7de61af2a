// The CLI's side of "keys by default": which public key `vmr run` sends (the user's own, else a pair
// the CLI makes once under its config dir), which private keys `vmr ssh` offers, and where host keys
// it learns are kept (its own known_hosts per VM id, never the user's ~/.ssh/known_hosts).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { childProcess } from './builtins.js';

const pexec = (file: string, args: string[], opts: { timeout: number }) => promisify(childProcess().execFile)(file, args, opts);

/** The user's own keys, in the order `vmr run` prefers them. */
export const USER_KEY_NAMES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

export const OPENSSH_PACKAGE_HINT = 'install the ssh client: apt-get install openssh-client (Debian package "openssh-client")';

export function homeDir(env: NodeJS.ProcessEnv): string {
  return env.HOME || os.homedir();
}

/** $XDG_CONFIG_HOME/vmregistry (default ~/.config/vmregistry). */
export function configDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(homeDir(env), '.config');
  return path.join(base, 'vmregistry');
}

/** The key pair the CLI creates when the user has none. */
export function cliKeyPath(env: NodeJS.ProcessEnv): string {
  return path.join(configDir(env), 'ssh', 'id_ed25519');
}

export interface KeyPair {
  privatePath: string;
  publicKey: string;
}

async function readPub(privatePath: string): Promise<KeyPair | undefined> {
  try {
    await fs.access(privatePath);
    const line = (await fs.readFile(`${privatePath}.pub`, 'utf8')).split('\n').find((l) => l.trim());
    return line ? { privatePath, publicKey: line.trim() } : undefined;
  } catch {
    return undefined;
  }
}

/** Every key `vmr ssh` may offer: the user's own that exist, then the CLI's. */
export async function candidateKeys(env: NodeJS.ProcessEnv): Promise<KeyPair[]> {
  const paths = [...USER_KEY_NAMES.map((n) => path.join(homeDir(env), '.ssh', n)), cliKeyPath(env)];
  return (await Promise.all(paths.map(readPub))).filter((k): k is KeyPair => k !== undefined);
}

/**
 * The public key `vmr run` injects: the user's first key, else the CLI's own pair, created now
 * (ed25519, no passphrase, private key 0600 in a 0700 directory) when it does not exist yet.
 */
export async function defaultPublicKey(env: NodeJS.ProcessEnv): Promise<KeyPair> {
  for (const n of USER_KEY_NAMES) {
    const k = await readPub(path.join(homeDir(env), '.ssh', n));
    if (k) return k;
  }
  const own = cliKeyPath(env);
  const existing = await readPub(own);
  if (existing) return existing;
  await fs.mkdir(path.dirname(own), { recursive: true, mode: 0o700 });
  await fs.chmod(path.dirname(own), 0o700);
  try {
    await pexec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `vmregistry@${os.hostname()}`, '-f', own], { timeout: 30_000 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingSshError('ssh-keygen');
    // Another vmr made it at the same moment: use theirs.
    const raced = await readPub(own);
    if (raced) return raced;
    throw err;
  }
  await fs.chmod(own, 0o600);
  const made = await readPub(own);
  if (!made) throw new Error(`ssh-keygen did not create ${own}.pub`);
  return made;
}

export class MissingSshError extends Error {
  constructor(readonly tool: string) {
    super(`"${tool}" is not installed; ${OPENSSH_PACKAGE_HINT}`);
  }
}

/** known_hosts for one VM: a re-created VM (new id, maybe the same IP) starts with a clean slate. */
export async function knownHostsFor(env: NodeJS.ProcessEnv, vmId: string): Promise<string> {
  const dir = path.join(configDir(env), 'known_hosts.d');
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  return path.join(dir, vmId.replace(/[^a-zA-Z0-9-]/g, '_'));
}
