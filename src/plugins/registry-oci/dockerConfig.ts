// Credentials the way docker, podman and skopeo find them: auth files (`auths`), then per-registry
// `credHelpers`, then a global `credsStore`, each helper run as `docker-credential-<name> get`.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RegistryCredentials } from '../../plugin-api/index.js';
import { runCredentialHelper, type HelperRunner } from './credentialHelper.js';

interface AuthEntry { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string }
interface AuthFile { auths?: Record<string, AuthEntry>; credHelpers?: Record<string, string>; credsStore?: string }

export interface DockerConfigOptions {
  /** Overrides the search list (config option `dockerConfigPath`). */
  paths?: string[];
  env?: NodeJS.ProcessEnv;
  runHelper?: HelperRunner;
  /** Stops a credential helper that hangs when the call is cancelled. */
  signal?: AbortSignal;
}

/**
 * Files in the order they are consulted: `$REGISTRY_AUTH_FILE` and containers' auth.json (podman/skopeo)
 * first, then `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`. The first file with an entry wins.
 */
export function authFilePaths(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.HOME ?? os.homedir();
  const out: string[] = [];
  if (env.REGISTRY_AUTH_FILE) out.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) out.push(path.join(env.XDG_RUNTIME_DIR, 'containers/auth.json'));
  out.push(path.join(env.XDG_CONFIG_HOME ?? path.join(home, '.config'), 'containers/auth.json'));
  out.push(path.join(env.DOCKER_CONFIG ?? path.join(home, '.docker'), 'config.json'));
  return out;
}

/** Keys an `auths` map may use for `host`: bare, with scheme, with `/v1/` or `/v2/` suffix. */
function matches(key: string, host: string): boolean {
  const k = key.replace(/^https?:\/\//, '').replace(/\/+(v1|v2)?\/*$/, '').toLowerCase();
  return k === host.toLowerCase() || (host === 'docker.io' && k === 'index.docker.io');
}

function fromEntry(e: AuthEntry): RegistryCredentials | undefined {
  if (e.registrytoken) return { kind: 'bearer', token: e.registrytoken };
  let username = e.username ?? '';
  let password = e.password ?? '';
  if (e.auth) {
    const plain = Buffer.from(e.auth, 'base64').toString('utf8');
    const cut = plain.indexOf(':');
    if (cut >= 0) {
      username = plain.slice(0, cut);
      password = plain.slice(cut + 1);
    }
  }
  if (e.identitytoken) return { kind: 'identityToken', username, token: e.identitytoken };
  if (username || password) return { kind: 'basic', username, password };
  return undefined;
}

async function readAuthFile(p: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await readFile(p, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as AuthFile;
  } catch {
    // A broken file must not hide the next one; docker also just fails on it, we skip it.
    return undefined;
  }
}

export async function dockerCredentials(host: string, opts: DockerConfigOptions = {}): Promise<RegistryCredentials | undefined> {
  const run = opts.runHelper ?? runCredentialHelper;
  for (const p of opts.paths ?? authFilePaths(opts.env)) {
    const file = await readAuthFile(p);
    if (!file) continue;
    const helper = Object.entries(file.credHelpers ?? {}).find(([k]) => matches(k, host))?.[1];
    if (helper) {
      const c = await run(helper, host, opts.signal);
      if (c) return c;
    }
    for (const [k, e] of Object.entries(file.auths ?? {})) {
      if (!matches(k, host)) continue;
      const c = fromEntry(e);
      if (c) return c;
    }
    if (file.credsStore) {
      const c = await run(file.credsStore, host, opts.signal);
      if (c) return c;
    }
  }
  return undefined;
}
