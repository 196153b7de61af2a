// A logged-in session and where it is kept: one per context + issuer in the state store, tokens sealed.
import type { KeyValueStore } from '../../core/ports/state.js';
import type { Logger } from '../../core/ports/common.js';
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

export const sessionKey = (contextName: string, issuer: string) => `session:${contextName}:${issuer}`;

export class SessionStore {
  constructor(
    private readonly kv: KeyValueStore,
    private readonly crypto: SessionCrypto,
    private readonly log: Logger,
  ) {}

  async load(key: string): Promise<Session | undefined> {
    const rec = await this.kv.get<StoredSession>(key);
    if (!rec) return undefined;
    let secrets: Secrets;
    try {
      secrets = JSON.parse(this.crypto.open(rec.sealed, key)) as Secrets;
    } catch (err) {
      // An unreadable session is as good as none: drop it so the user is simply asked to log in.
      this.log.warn({ key, err: (err as Error).message }, 'dropping a stored session that cannot be decrypted');
      await this.kv.delete(key);
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
    await this.kv.set(key, rec);
  }

  delete(key: string): Promise<boolean> {
    return this.kv.delete(key);
  }
}
