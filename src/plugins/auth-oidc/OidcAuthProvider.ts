// AuthProvider over OpenID Connect: Login (device flow, or the password grant when enabled), Logout,
// Register (through a Registrar) and the registry credentials derived from the session.
import * as oidc from 'openid-client';
import {
  type AuthProvider, type CallContext, CancelledError, type ComponentHealth, FailedPreconditionError,
  InvalidArgumentError, isVmrError, type KeyValueStore, type Logger, type LoginInput, type LoginResult,
  type RegisterInput, type RegistryCredentials, UnauthenticatedError,
} from '../../plugin-api/index.js';
import { ClientSecrets } from './clientSecrets.js';
import type { AuthOidcConfig } from './config.js';
import { forgetDevice, pendingDevice, pollDevice, startDevice } from './deviceFlow.js';
import { checkIssuer } from './health.js';
import { IssuerClients, normalizeIssuer, withSignal } from './issuerClients.js';
import { isUnexplainedRefusal, oauthErrorCode, toDomainError } from './oidcErrors.js';
import { registrarFor } from './registrarFor.js';
import { credentialsFor, hostAllowed } from './registryCredentials.js';
import { sessionKey, type Session, type SessionStore } from './session.js';
import { SessionManager } from './SessionManager.js';
import { sessionFromTokens } from './tokenSession.js';

export class OidcAuthProvider implements AuthProvider {
  readonly sessions: SessionManager;
  private readonly clients: IssuerClients;
  private readonly extraParams: Record<string, string>;

  constructor(
    private readonly config: AuthOidcConfig,
    readonly store: SessionStore,
    private readonly kv: KeyValueStore,
    private readonly log: Logger,
  ) {
    const secrets = new ClientSecrets(config, normalizeIssuer);
    this.clients = new IssuerClients({
      allowInsecureIssuers: config.allowInsecureIssuers,
      timeoutSeconds: config.httpTimeoutSeconds,
      secretFor: (issuer, clientId) => secrets.secretFor(issuer, clientId),
    });
    this.extraParams = config.resource ? { resource: config.resource } : {};
    this.sessions = new SessionManager(store, this.clients, config.refreshSkewSeconds * 1000, this.extraParams, log);
  }

  async login(input: LoginInput, ctx: CallContext): Promise<LoginResult> {
    const issuer = this.issuerFor(input.server, ctx);
    const clientId = ctx.context.authClientId || this.config.clientId;
    const what = `login at ${issuer}`;
    return withSignal(ctx.signal, async () => {
      try {
        const config = await this.clients.get(issuer, clientId);
        if (input.deviceCode) return await this.completeDevice(config, issuer, clientId, input.deviceCode, ctx);
        if (input.deviceFlow || (!input.username && !input.password)) {
          return await this.beginDevice(config, issuer, clientId, ctx);
        }
        return await this.passwordLogin(config, issuer, clientId, input, ctx);
      } catch (err) {
        // However the library wrapped it, a failure after the caller went away is a cancellation.
        if (ctx.signal.aborted && !isVmrError(err)) throw new CancelledError(`${what}: cancelled`, { cause: err });
        throw toDomainError(err, what, issuer);
      }
    });
  }

  async logout(server: string, ctx: CallContext): Promise<{ message: string }> {
    const raw = server || ctx.context.authServer;
    if (!raw) return { message: `context "${ctx.context.name}" has no auth server; nothing to log out of` };
    const issuer = normalizeIssuer(raw);
    const key = sessionKey(ctx.context.name, issuer);
    await this.sessions.settle(key);
    const s = await this.store.load(key);
    if (!s) return { message: `not logged in to ${issuer}` };
    const notes: string[] = [];
    await withSignal(ctx.signal, async () => {
      let config: oidc.Configuration;
      try {
        config = await this.clients.get(issuer, s.clientId);
      } catch (err) {
        // The local session goes regardless: the user asked to be logged out here.
        notes.push(`could not revoke the session at ${issuer} (${toDomainError(err, 'discovery', issuer).message}); ` +
          'its tokens stay valid until they expire');
        return;
      }
      const meta = config.serverMetadata();
      if (s.refreshToken && meta.revocation_endpoint) {
        try {
          // Revoking the refresh token ends the grant; JWT access tokens stay valid until they expire
          // (minutes), which is why providers keep them short-lived.
          await oidc.tokenRevocation(config, s.refreshToken, { token_type_hint: 'refresh_token' });
        } catch (err) {
          notes.push(`could not revoke the session at ${issuer} (${toDomainError(err, 'revocation', issuer).message}); ` +
            'its tokens stay valid until they expire');
        }
      } else if (s.refreshToken) {
        notes.push(`${issuer} has no revocation endpoint; its tokens stay valid until they expire`);
      }
      if (meta.end_session_endpoint) {
        // RP-initiated logout is a browser interaction (the provider's session lives in the user's
        // browser cookies, not here): hand the CLI the URL to open — also when revocation failed, since the
        // browser session is a separate thing. client_id instead of id_token_hint keeps the ID token
        // (personal data) out of messages that may end up in logs.
        const url = oidc.buildEndSessionUrl(config, { client_id: s.clientId });
        notes.push(`to also sign out of ${issuer} in your browser, open ${url.href}`);
      }
    });
    await this.store.delete(key);
    this.log.info({ issuer, username: s.username, context: ctx.context.name }, 'logged out');
    return { message: [`logged out ${s.username} from ${issuer}`, ...notes].join('; ') };
  }

  async register(input: RegisterInput, ctx: CallContext): Promise<{ userId: string; username: string; message: string }> {
    if (!input.username) throw new InvalidArgumentError('username is required', { field: 'username' });
    if (!input.password) throw new InvalidArgumentError('password is required', { field: 'password' });
    const registrar = registrarFor(this.config, ctx.context.name);
    const user = await registrar.register(
      { username: input.username, password: input.password, email: input.email, displayName: input.displayName },
      ctx.signal,
    );
    this.log.info({ username: user.username, userId: user.userId, target: registrar.target }, 'user registered');
    return { ...user, message: `registered ${user.username}; log in with \`vmr login\`` };
  }

  async registryCredentials(registryHost: string, ctx: CallContext): Promise<RegistryCredentials | undefined> {
    if (!ctx.context.authServer) return undefined;
    // The session's tokens are the user's identity: only the context's own registry (and hosts the admin
    // listed) get them, never e.g. a public registry an image happens to be pulled from.
    if (!hostAllowed(registryHost, ctx.context.registryUrl, this.config.credentialHosts)) return undefined;
    const key = sessionKey(ctx.context.name, normalizeIssuer(ctx.context.authServer));
    const s = await withSignal(ctx.signal, () => this.sessions.fresh(key, ctx.signal));
    return s ? credentialsFor(s) : undefined;
  }

  health(ctx: CallContext): Promise<ComponentHealth> {
    return checkIssuer(ctx, this.config.healthTimeoutMs);
  }

  private issuerFor(server: string, ctx: CallContext): string {
    const raw = server || ctx.context.authServer;
    if (!raw) {
      throw new FailedPreconditionError(`context "${ctx.context.name}" has no auth server; set one on the context ` +
        '(`vmr context update --auth-server URL`) or pass the server to login');
    }
    return normalizeIssuer(raw);
  }

  private async beginDevice(config: oidc.Configuration, issuer: string, clientId: string, ctx: CallContext): Promise<LoginResult> {
    if (!config.serverMetadata().device_authorization_endpoint) {
      throw new FailedPreconditionError(`${issuer} does not offer the device authorization grant` +
        (this.config.allowPasswordGrant ? '; log in with a username and password instead' : ''));
    }
    const da = await startDevice(config, { scope: this.config.scopes, ...this.extraParams }, this.kv,
      { issuer, clientId, context: ctx.context.name });
    return {
      accessToken: '',
      tokenType: '',
      expiresAt: new Date(Date.now() + da.expires_in * 1000).toISOString(),
      username: '',
      server: issuer,
      message: `open ${da.verification_uri} and enter the code ${da.user_code}, then finish with the device code`,
      verificationUri: da.verification_uri,
      verificationUriComplete: da.verification_uri_complete,
      userCode: da.user_code,
      deviceCode: da.device_code,
      interval: da.interval ?? 5,
      pending: true,
    };
  }

  private async completeDevice(
    config: oidc.Configuration, issuer: string, clientId: string, deviceCode: string, ctx: CallContext,
  ): Promise<LoginResult> {
    const pending = await pendingDevice(this.kv, deviceCode);
    if (pending && (pending.issuer !== issuer || pending.context !== ctx.context.name)) {
      throw new InvalidArgumentError(`this device code was issued by ${pending.issuer} for context "${pending.context}"; ` +
        'finish the login there', { field: 'deviceCode' });
    }
    const poll = await pollDevice(config, deviceCode, this.extraParams, this.kv, pending,
      this.config.deviceWaitSeconds * 1000, ctx.signal);
    if (!poll.done) {
      return {
        accessToken: '', tokenType: '', expiresAt: pending ? new Date(pending.expiresAt).toISOString() : '',
        username: '', server: issuer, deviceCode, interval: poll.interval, pending: true,
        message: `waiting for the sign-in at ${issuer} to be completed; call login again with the device code`,
      };
    }
    await forgetDevice(this.kv, deviceCode);
    return this.finish(sessionFromTokens(poll.tokens, { issuer, clientId }), ctx);
  }

  private async passwordLogin(
    config: oidc.Configuration, issuer: string, clientId: string, input: LoginInput, ctx: CallContext,
  ): Promise<LoginResult> {
    if (!this.config.allowPasswordGrant) {
      throw new FailedPreconditionError('password login is disabled for this daemon (allowPasswordGrant in the ' +
        'auth-oidc plugin config); log in with the device flow (`vmr login --device`)');
    }
    if (!input.username) throw new InvalidArgumentError('username is required for a password login', { field: 'username' });
    if (!input.password) throw new InvalidArgumentError('password is required for a password login', { field: 'password' });
    try {
      const tokens = await oidc.genericGrantRequest(config, 'password', {
        username: input.username, password: input.password, scope: this.config.scopes, ...this.extraParams,
      });
      return await this.finish(sessionFromTokens(tokens, { issuer, clientId, usernameHint: input.username }), ctx);
    } catch (err) {
      if (oauthErrorCode(err) === 'invalid_grant') {
        throw new UnauthenticatedError(`wrong username or password for ${input.username} at ${issuer}`, { cause: err });
      }
      // Some providers (glewlwyd) refuse a wrong password with a bare 403: still a refusal, not an outage.
      const refusal = isUnexplainedRefusal(err);
      if (refusal) {
        throw new UnauthenticatedError(`${issuer} refused the password login for ${input.username} (HTTP ${refusal.status}` +
          `${refusal.reason ? `: ${refusal.reason}` : ', no reason given'}); check the username and password, and that ` +
          'this client may use the password grant (some providers allow it only to confidential clients: see clientSecret)',
        { cause: err });
      }
      throw err;
    }
  }

  private async finish(s: Session, ctx: CallContext): Promise<LoginResult> {
    await this.store.save(sessionKey(ctx.context.name, s.issuer), s);
    this.log.info({ issuer: s.issuer, username: s.username, context: ctx.context.name }, 'logged in');
    return {
      accessToken: s.accessToken,
      tokenType: s.tokenType,
      expiresAt: new Date(s.expiresAt).toISOString(),
      username: s.username,
      server: s.issuer,
      message: `logged in to ${s.issuer} as ${s.username}`,
      pending: false,
    };
  }

}

