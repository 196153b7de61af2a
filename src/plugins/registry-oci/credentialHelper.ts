// The docker credential-helper protocol: `docker-credential-<name> get` reads the server URL on stdin and
// prints {"ServerURL","Username","Secret"}; username "<token>" means the secret is an identity token.
import { spawn } from 'node:child_process';
import type { RegistryCredentials } from '../../plugin-api/index.js';

export type HelperRunner = (helper: string, host: string, signal?: AbortSignal) => Promise<RegistryCredentials | undefined>;

/** A helper gets 15 s (it may prompt a keyring) and stops with the caller's signal. */
export const runCredentialHelper: HelperRunner = (helper, host, signal) =>
  new Promise((resolve) => {
    if (!/^[A-Za-z0-9._-]+$/.test(helper)) return resolve(undefined);
    let out = '';
    const child = spawn(`docker-credential-${helper}`, ['get'], { stdio: ['pipe', 'pipe', 'ignore'], timeout: 15_000, signal });
    child.stdout.on('data', (d: Buffer) => { if (out.length < 64 * 1024) out += d.toString('utf8'); });
    // A helper that exits without reading its input must not take the daemon down with EPIPE.
    child.stdin.on('error', () => undefined);
    // A missing helper or "credentials not found" both mean: no credentials from this source.
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => {
      if (code !== 0) return resolve(undefined);
      try {
        const r = JSON.parse(out) as { Username?: string; Secret?: string };
        if (!r.Secret) return resolve(undefined);
        resolve(r.Username === '<token>'
          ? { kind: 'identityToken', username: '', token: r.Secret }
          : { kind: 'basic', username: r.Username ?? '', password: r.Secret });
      } catch {
        resolve(undefined);
      }
    });
    child.stdin.end(host);
  });
