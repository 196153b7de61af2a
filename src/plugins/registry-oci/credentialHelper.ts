// The docker credential-helper protocol: `docker-credential-<name> get` reads the server URL on stdin and
// prints {"ServerURL","Username","Secret"}; username "<token>" means the secret is an identity token.
import { spawn } from 'node:child_process';
import type { RegistryCredentials } from '../../core/ports/auth.js';

export type HelperRunner = (helper: string, host: string) => Promise<RegistryCredentials | undefined>;

export const runCredentialHelper: HelperRunner = (helper, host) =>
  new Promise((resolve) => {
    if (!/^[A-Za-z0-9._-]+$/.test(helper)) return resolve(undefined);
    let out = '';
    const child = spawn(`docker-credential-${helper}`, ['get'], { stdio: ['pipe', 'pipe', 'ignore'], timeout: 15_000 });
    child.stdout.on('data', (d: Buffer) => { out += d.toString('utf8'); });
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
