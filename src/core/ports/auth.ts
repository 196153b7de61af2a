import type { CallContext, HealthProbe } from './common.js';

export interface LoginInput {
  username: string;
  password: string;
  /** Issuer; empty: the current context's auth server. */
  server: string;
  /** Start (true, no device code) or complete (deviceCode set) the device authorization grant. */
  deviceFlow: boolean;
  deviceCode: string;
}

export interface LoginResult {
  accessToken: string;
  tokenType: string;
  expiresAt: string;
  username: string;
  server: string;
  message: string;
  /** Device flow, first step: show these to the user, then call Login again with deviceCode. */
  verificationUri?: string;
  verificationUriComplete?: string;
  userCode?: string;
  deviceCode?: string;
  interval?: number;
  /** Device flow: true while the user has not finished (client polls again after `interval`). */
  pending?: boolean;
}

export interface RegisterInput {
  username: string;
  password: string;
  email: string;
  displayName: string;
}

/** What a registry's auth challenge can be answered with. */
export type RegistryCredentials =
  | { kind: 'basic'; username: string; password: string }
  /** Docker "identity token": a refresh token exchanged at the token realm with grant_type=refresh_token. */
  | { kind: 'identityToken'; username: string; token: string }
  /** A bearer token usable as is. */
  | { kind: 'bearer'; token: string };

/** Port `vmregistry.auth.v1`. */
export interface AuthProvider extends HealthProbe {
  login(input: LoginInput, ctx: CallContext): Promise<LoginResult>;
  /** Idempotent. */
  logout(server: string, ctx: CallContext): Promise<{ message: string }>;
  register(input: RegisterInput, ctx: CallContext): Promise<{ userId: string; username: string; message: string }>;
  /** Credentials for a registry host from the current context's session; undefined when logged out. */
  registryCredentials(registryHost: string, ctx: CallContext): Promise<RegistryCredentials | undefined>;
}
