// `--no-ssh-key` and what `vmr run` / `vmr compose up` send otherwise: the user's public key.
import type { Cli } from './runtime.js';
import { defaultPublicKey, MissingSshError } from './sshKeys.js';

/** The keys to send; none with --no-ssh-key, or (with a note) when no key exists and none can be made. */
export async function injectedKeys(cli: Cli, opts: { sshKey?: boolean }): Promise<string[]> {
  if (opts.sshKey === false) return [];
  try {
    return [(await defaultPublicKey(cli.io.env)).publicKey];
  } catch (err) {
    // Running the VM matters more than the key: say why there is none and go on.
    const why = err instanceof MissingSshError ? err.message : (err as Error).message;
    cli.note(`Note: no SSH key given to the VM (${why}); "vmr ssh" will not be able to log in.`);
    return [];
  }
}
