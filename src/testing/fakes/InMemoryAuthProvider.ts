// A strict in-memory auth provider: users with passwords, sessions per context, device flow that a
// test completes with approveDevice(). For core tests and plugin authors; never a fallback.
import { randomBytes } from 'node:crypto';
import { AlreadyExistsError, InvalidArgumentError, UnauthenticatedError } from '../../core/errors.js';
import type { CallContext, ComponentHealth } from '../../core/ports/common.js';
import type { AuthProvider, LoginInput, LoginResult, RegisterInput, RegistryCredentials } from '../../core/ports/auth.js';

interface Session { username: string; accessToken: string; expiresAt: string; server: string }

export class InMemoryAuthProvider implements AuthProvider {
  readonly users = new Map<string, { password: string; email: string; id: string }>();
  readonly sessions = new Map<string, Session>();
  private readonly devices = new Map<string, { userCode: string; approvedBy?: string }>();

  constructor(users: Record<string, string> = {}) {
    for (const [u, p] of Object.entries(users)) this.users.set(u, { password: p, email: '', id: `u-${u}` });
  }

  private key(ctx: CallContext, server: string): string {
    return `${ctx.context.name}|${server || ctx.context.authServer}`;
  }

  async login(input: LoginInput, ctx: CallContext): Promise<LoginResult> {
    const server = input.server || ctx.context.authServer || 'memory://auth';
    if (input.deviceFlow && !input.deviceCode) {
      const deviceCode = randomBytes(8).toString('hex');
      const userCode = randomBytes(3).toString('hex').toUpperCase();
      this.devices.set(deviceCode, { userCode });
      return { accessToken: '', tokenType: '', expiresAt: '', username: '', server, message: `visit memory://device and enter ${userCode}`,
        verificationUri: 'memory://device', verificationUriComplete: `memory://device?user_code=${userCode}`, userCode, deviceCode, interval: 1, pending: true };
    }
    let username: string;
    if (input.deviceCode) {
      const d = this.devices.get(input.deviceCode);
      if (!d) throw new UnauthenticatedError('unknown or expired device code; start the login again');
      if (!d.approvedBy) return { accessToken: '', tokenType: '', expiresAt: '', username: '', server, message: 'waiting for approval', pending: true, interval: 1 };
      this.devices.delete(input.deviceCode);
      username = d.approvedBy;
    } else {
      const u = this.users.get(input.username);
      if (!u || u.password !== input.password) throw new UnauthenticatedError('wrong username or password');
      username = input.username;
    }
    const s: Session = { username, server, accessToken: randomBytes(16).toString('hex'), expiresAt: new Date(Date.now() + 3600_000).toISOString() };
    this.sessions.set(this.key(ctx, input.server), s);
    return { accessToken: s.accessToken, tokenType: 'Bearer', expiresAt: s.expiresAt, username, server, message: `logged in as ${username}` };
  }

  /** Test hook: the user approves a device code in their "browser". */
  approveDevice(userCode: string, username: string): void {
    const d = [...this.devices.values()].find((x) => x.userCode === userCode);
    if (!d) throw new Error(`no pending device login with user code ${userCode}`);
    d.approvedBy = username;
  }

  async logout(server: string, ctx: CallContext): Promise<{ message: string }> {
    const had = this.sessions.delete(this.key(ctx, server));
    return { message: had ? 'logged out' : 'not logged in' };
  }

  async register(input: RegisterInput): Promise<{ userId: string; username: string; message: string }> {
    if (this.users.has(input.username)) throw new AlreadyExistsError(`user "${input.username}" already exists`, { field: 'username' });
    if (input.password.length < 8) throw new InvalidArgumentError('password must be at least 8 characters', { field: 'password' });
    const id = `u-${input.username}`;
    this.users.set(input.username, { password: input.password, email: input.email, id });
    return { userId: id, username: input.username, message: `user ${input.username} registered` };
  }

  async registryCredentials(_host: string, ctx: CallContext): Promise<RegistryCredentials | undefined> {
    const s = this.sessions.get(this.key(ctx, ''));
    return s ? { kind: 'basic', username: s.username, password: s.accessToken } : undefined;
  }

  async health(): Promise<ComponentHealth> {
    return { name: 'auth', status: 'SERVING', message: `in-memory auth, ${this.users.size} user(s)`, latencyMs: 0 };
  }
}
