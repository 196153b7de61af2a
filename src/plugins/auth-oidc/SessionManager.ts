// Keeps sessions usable: hands out the stored session while its access token has more than `skew` left,
// and otherwise refreshes it — once per session no matter how many callers arrive together (the
// provider rotates refresh tokens, and presenting a consumed one would revoke the whole grant).
import * as oidc from 'openid-client';
import { CancelledError, isVmrError, type Logger, UnauthenticatedError } from '../../plugin-api/index.js';
import type { IssuerClients } from './issuerClients.js';
import { withSignal } from './issuerClients.js';
import { oauthErrorCode, RELOGIN, toDomainError } from './oidcErrors.js';
import type { Session, SessionStore } from './session.js';
import { SingleFlight } from './singleFlight.js';
import { sessionFromTokens } from './tokenSession.js';

export class SessionManager {
  private readonly flights = new SingleFlight<Session | undefined>();
  /** Counts refresh grants sent, per session key; tests read it to prove single-flight. */
  readonly refreshCount = new Map<string, number>();

  constructor(
    private readonly store: SessionStore,
    private readonly clients: IssuerClients,
    private readonly skewMs: number,
    private readonly extraParams: Record<string, string>,
    private readonly log: Logger,
  ) {}

  /** The session under `key` with an access token good for at least the skew; undefined when logged out. */
  async fresh(key: string, signal?: AbortSignal): Promise<Session | undefined> {
    const s = await this.store.load(key);
    if (!s || this.isFresh(s)) return s;
    const flight = this.flights.do(key, () => this.refresh(key));
    // The refresh is shared and bounded by the per-request timeout; this caller stops waiting for it when
    // its own call is cancelled or past its deadline.
    return signal ? untilAborted(flight, signal) : flight;
  }

  /** Waits for a refresh of `key` that is under way (logout must not race one). */
  async settle(key: string): Promise<void> {
    await this.flights.running(key)?.catch(() => undefined);
  }

  private isFresh(s: Session): boolean {
    return s.expiresAt - this.skewMs > Date.now();
  }

  private async refresh(key: string): Promise<Session | undefined> {
    // Re-read inside the flight: a caller that loaded the old session just before a previous refresh
    // finished must not refresh again with the (now consumed) old refresh token.
    const s = await this.store.load(key);
    if (!s || this.isFresh(s)) return s;
    if (!s.refreshToken) {
      await this.store.delete(key);
      throw new UnauthenticatedError(`session expired; ${RELOGIN}`);
    }
    this.refreshCount.set(key, (this.refreshCount.get(key) ?? 0) + 1);
    // Shared by every waiting caller, so it must not die with whichever caller started it.
    return withSignal(undefined, async () => {
      try {
        const config = await this.clients.get(s.issuer, s.clientId);
        const tokens = await oidc.refreshTokenGrant(config, s.refreshToken!, this.extraParams);
        const next = sessionFromTokens(tokens, { issuer: s.issuer, clientId: s.clientId }, s);
        await this.store.save(key, next);
        this.log.debug({ issuer: s.issuer, username: s.username }, 'access token refreshed');
        return next;
      } catch (err) {
        const code = oauthErrorCode(err);
        if (code === 'invalid_grant' || code === 'invalid_client' || code === 'unauthorized_client') {
          // The grant is gone at the provider (revoked, expired, or the refresh token was reused).
          await this.store.delete(key);
          throw new UnauthenticatedError(`session expired; ${RELOGIN}`, { cause: err });
        }
        // Provider down: keep the session, the next call may succeed.
        throw isVmrError(err) ? err : toDomainError(err, `refreshing the session at ${s.issuer}`, s.issuer);
      }
    });
  }
}

function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new CancelledError('cancelled while refreshing the session', { cause: signal.reason }));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new CancelledError('cancelled while refreshing the session', { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
