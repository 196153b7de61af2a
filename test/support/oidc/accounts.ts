// The test identity provider's users: an in-memory account store with scrypt-hashed passwords, shared
// by the provider (login page, password grant, claims) and the SCIM endpoint (which adds users).
import { randomBytes, randomUUID, scryptSync, timingSafeEqual } from 'node:crypto';

export interface TestAccount {
  id: string;
  username: string;
  email: string;
  displayName: string;
  salt: Buffer;
  hash: Buffer;
}

/** The test provider's password policy, reported through SCIM as a 400 with this reason. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < 10) return 'password must be at least 10 characters long';
  if (!/[0-9]/.test(password) || !/[a-zA-Z]/.test(password)) return 'password must contain letters and digits';
  return undefined;
}

export class AccountStore {
  private readonly byName = new Map<string, TestAccount>();

  add(username: string, password: string, extra: { email?: string; displayName?: string } = {}): TestAccount {
    if (this.byName.has(username)) throw new Error(`account ${username} exists`);
    const salt = randomBytes(16);
    const acc: TestAccount = {
      id: randomUUID(),
      username,
      email: extra.email ?? `${username}@example.test`,
      displayName: extra.displayName ?? username,
      salt,
      hash: scryptSync(password, salt, 32),
    };
    this.byName.set(username, acc);
    return acc;
  }

  has(username: string): boolean {
    return this.byName.has(username);
  }

  get(username: string): TestAccount | undefined {
    return this.byName.get(username);
  }

  verify(username: string, password: string): TestAccount | undefined {
    const acc = this.byName.get(username);
    if (!acc) return undefined;
    return timingSafeEqual(scryptSync(password, acc.salt, 32), acc.hash) ? acc : undefined;
  }

  /** oidc-provider's findAccount result; accountId is the username so tokens carry a readable `sub`. */
  oidcAccount(username: string) {
    const acc = this.byName.get(username);
    if (!acc) return undefined;
    return {
      accountId: acc.username,
      claims: async () => ({
        sub: acc.username,
        preferred_username: acc.username,
        email: acc.email,
        name: acc.displayName,
      }),
    };
  }
}
