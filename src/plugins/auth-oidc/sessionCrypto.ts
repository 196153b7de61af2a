// Seals session secrets (tokens) with AES-256-GCM before they reach the state store, so a copy of the
// database alone reveals no tokens. The key lives in a 0600 file in the plugin's data dir; the AAD
// binds each ciphertext to its store key so a sealed blob cannot be moved to another context.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { DataLossError, fromSystemError, type Logger } from '../../plugin-api/index.js';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1';

export class SessionCrypto {
  /**
   * Names the key without revealing it (a hash of 256 random bits): sessions are stored under it, so
   * daemons sharing a state store but not a key file never see, overwrite or delete each other's sessions.
   */
  readonly keyId: string;

  private constructor(private readonly key: Buffer) {
    this.keyId = createHash('sha256').update('vmregistry auth-oidc session key id\0').update(key).digest('hex').slice(0, 16);
  }

  /** Loads the key from `dir/session.key`, creating it (0600, in a 0700 dir) on first use. */
  static async open(dir: string, log?: Logger): Promise<SessionCrypto> {
    const file = path.join(dir, 'session.key');
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const key = await readOrCreateKey(file);
      const mode = (await stat(file)).mode & 0o777;
      if (mode !== 0o600) {
        // Someone loosened it; tighten rather than refuse so the daemon keeps working.
        log?.warn({ file, mode: mode.toString(8) }, 'session key file had loose permissions; set to 0600');
        await chmod(file, 0o600);
      }
      if (key.length !== KEY_BYTES) {
        throw new DataLossError(`session key ${file} is corrupt (${key.length} bytes, want ${KEY_BYTES}); ` +
          'delete it and log in again');
      }
      return new SessionCrypto(key);
    } catch (err) {
      throw fromSystemError(err, `cannot open the session key ${file}`);
    }
  }

  seal(plaintext: string, aad: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url')}`;
  }

  /** Throws DataLossError when the blob was tampered with, sealed under another key, or for another aad. */
  open(sealed: string, aad: string): string {
    const [version, body] = sealed.split('.', 2);
    const raw = Buffer.from(body ?? '', 'base64url');
    if (version !== VERSION || raw.length < IV_BYTES + TAG_BYTES) {
      throw new DataLossError('stored session is not in a known format; log in again with `vmr login`');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch (err) {
      throw new DataLossError('stored session cannot be decrypted (key changed or data tampered with); ' +
        'log in again with `vmr login`', { cause: err });
    }
  }
}

async function readOrCreateKey(file: string): Promise<Buffer> {
  try {
    // 'wx' fails when the file exists, so two daemons starting at once cannot overwrite each other's key.
    const fh = await open(file, 'wx', 0o600);
    try {
      const key = randomBytes(KEY_BYTES);
      await fh.writeFile(key);
      await fh.sync();
      return key;
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return readFile(file);
  }
}
