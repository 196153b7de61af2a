// How Register creates an account at the identity provider. OIDC has no standard API for this, so it is
// an interface with one implementation per provisioning API; SCIM 2.0 (RFC 7643/7644) is the first.
export interface NewUser {
  username: string;
  /** Passed through to the provider; never stored or logged. */
  password: string;
  email: string;
  displayName: string;
}

export interface RegisteredUser {
  userId: string;
  username: string;
}

export interface Registrar {
  /** Where accounts are created, for messages. */
  readonly target: string;
  /** AlreadyExistsError when the name is taken, InvalidArgumentError (with the provider's reason) when refused. */
  register(user: NewUser, signal: AbortSignal): Promise<RegisteredUser>;
}
