// A logged-in session and where it is kept: one per context + issuer in the state store, tokens sealed.
import type { KeyValueStore, Logger } from '../../plugin-api/index.js';
import type { SessionCrypto } from './sessionCrypto.js';

export interface Session {
  issuer: string;
  clientId: string;
  username: string;
  subject?: string;
  accessToken: string;
  refreshToken?: string;
  idToken?: string;
  tokenType: string;
  /** Epoch ms when the access token expires. */
  expiresAt: number;
  scope?: string;
}

/** What is stored: metadata in clear (for listing and expiry checks), tokens sealed. */
interface StoredSession {
  v: 1;
  issuer: string;
  clientId: string;
  username: string;
  subject?: string;
  tokenType: string;
  expiresAt: number;
  scope?: string;
  sealed: string;
}

interface Secrets {
  accessToken: string;
  refreshToken?: string;
  idToken?: string;
}

/** The logical key of a session (also its AAD); where it is stored also names the daemon's key, see SessionStore. */
export const sessionKey = (contextName: string, issuer: string) => `session:${contextName}:${issuer}`;

/**
 * Sessions in the (possibly shared) state store, under `<key>@<keyId>`: daemons that share Redis/Postgres but
 * not the session key file each keep their own sessions and never delete or overwrite another's (a session
 * they cannot decrypt is simply not theirs). Daemons that share the key file share sessions.
 */
export class SessionStore {
  constructor(
    private readonly kv: KeyValueStore,
    private readonly crypto: SessionCrypto,
    private readonly log: Logger,
  ) {}

  /** Where `key` is stored by this daemon. */
  storageKey(key: string): string {
    return `${key}@${this.crypto.keyId}`;
  }

  /** The stored record (tokens sealed), for inspection. */
  raw(key: string): Promise<unknown> {
    return this.kv.get(this.storageKey(key));
  }

  async load(key: string): Promise<Session | undefined> {
    const rec = await this.kv.get<StoredSession>(this.storageKey(key));
    if (!rec) return this.migrate(key);
    const secrets = this.open(rec, key);
    if (!secrets) {
      // Sealed under this very key (the id says so) and still unreadable: tampered with. Drop it so the
      // user is simply asked to log in.
      this.log.warn({ key }, 'dropping a stored session that cannot be decrypted');
      await this.kv.delete(this.storageKey(key));
      return undefined;
    }
    const { sealed: _sealed, v: _v, ...meta } = rec;
    return { ...meta, ...secrets };
  }

  async save(key: string, s: Session): Promise<void> {
    const secrets: Secrets = { accessToken: s.accessToken, refreshToken: s.refreshToken, idToken: s.idToken };
    const rec: StoredSession = {
      v: 1,
      issuer: s.issuer,
      clientId: s.clientId,
      username: s.username,
      subject: s.subject,
      tokenType: s.tokenType,
      expiresAt: s.expiresAt,
      scope: s.scope,
      sealed: this.crypto.seal(JSON.stringify(secrets), key),
    };
    await this.kv.set(this.storageKey(key), rec);
  }

  delete(key: string): Promise<boolean> {
    return this.kv.delete(this.storageKey(key));
  }

  /**
   * Sessions written before keys carried the key id sit under the bare key. One this daemon can open is
   * moved under its own id; one it cannot is another daemon's and is left alone.
   */
  private async migrate(key: string): Promise<Session | undefined> {
    const legacy = await this.kv.get<StoredSession>(key);
    const secrets = legacy && this.open(legacy, key);
    if (!legacy || !secrets) return undefined;
    const { sealed: _sealed, v: _v, ...meta } = legacy;
    const s = { ...meta, ...secrets };
    await this.save(key, s);
    await this.kv.delete(key);
    return s;
  }

  private open(rec: StoredSession, key: string): Secrets | undefined {
    try {
      return JSON.parse(this.crypto.open(rec.sealed, key)) as Secrets;
    } catch {
      return undefined;
    }
  }
}
