// A second, independent OIDC provider for the auth suites: Debian's `glewlwyd` (C, babelouest/glewlwyd),
// started by the test itself on a loopback port with a throwaway SQLite database — no systemd, no
// /etc config. It is configured the way an administrator would: through its admin REST API (signed in
// as the database's initial admin), adding the OIDC plugin instance, a user and a confidential client.
// It behaves unlike panva's `oidc-provider` in the ways that matter here: the password grant is refused
// with a bare HTTP 403 and no body, it is only allowed to confidential clients, and a bad client secret
// gets a bare 400.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../freePort.js';
import { requireService } from '../services.js';

const BINARY = '/usr/bin/glewlwyd';
const SCHEMA = '/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3';
const MODULES = '/usr/lib/glewlwyd';

export interface Glewlwyd {
  /** The OIDC issuer, e.g. http://127.0.0.1:PORT/api/oidc */
  issuer: string;
  /** A confidential client allowed the password grant and refresh. */
  clientId: string;
  clientSecret: string;
  /** What the server logged (for diagnosing a failed start). */
  log(): string;
  addUser(username: string, password: string): Promise<void>;
  /** Adds another client; `methods` are its allowed token_endpoint_auth_methods. */
  addClient(clientId: string, secret: string, methods: string[]): Promise<void>;
  stop(): Promise<void>;
}

export async function startGlewlwyd(): Promise<Glewlwyd> {
  await requireService('packages');
  await access(BINARY).catch(() => {
    throw new Error(`${BINARY} is missing: install the Debian package glewlwyd (scripts/services/apt-packages.sh)`);
  });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vmrt-glewlwyd-'));
  let proc: ChildProcess | undefined;
  let output = '';
  try {
    const db = path.join(dir, 'glewlwyd.sqlite');
    await run('sqlite3', [db], await readFile(SCHEMA, 'utf8'));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const conf = path.join(dir, 'glewlwyd.conf');
    await writeFile(conf, configFile(port, base, db), { mode: 0o600 });
    proc = spawn(BINARY, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (b: Buffer) => { output += b.toString(); });
    proc.stderr!.on('data', (b: Buffer) => { output += b.toString(); });
    const exited = new Promise<never>((_, reject) => proc!.once('exit', (code) =>
      reject(new Error(`glewlwyd exited with ${code} while starting: ${output.slice(-2000)}`))));
    exited.catch(() => undefined);
    const api = await Promise.race([adminSession(`${base}/api`), exited]);

    const issuer = `${base}/api/oidc`;
    await api('POST', '/mod/plugin/', oidcPlugin(issuer));
    const clientId = `vmr-conf-${randomBytes(3).toString('hex')}`;
    const clientSecret = randomBytes(18).toString('base64url');
    const addClient = async (id: string, secret: string, methods: string[]) => {
      await api('POST', '/client/', {
        client_id: id, name: id, confidential: true, password: secret, enabled: true,
        redirect_uri: ['http://127.0.0.1/cb'], authorization_type: ['password', 'refresh_token', 'device_authorization', 'code'],
        token_endpoint_auth_method: methods, scope: [],
      });
    };
    await addClient(clientId, clientSecret, ['client_secret_basic', 'client_secret_post']);
    const child = proc;
    return {
      issuer,
      clientId,
      clientSecret,
      log: () => output,
      addClient,
      addUser: async (username, password) => {
        await api('POST', '/user/', { username, password, name: username, email: `${username}@example.org`, enabled: true, scope: ['openid', 'g_profile'] });
      },
      stop: async () => {
        if (child.exitCode === null) {
          const gone = new Promise((r) => child.once('exit', r));
          child.kill();
          await gone;
        }
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    proc?.kill();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function configFile(port: number, base: string, db: string): string {
  return `port=${port}
bind_address="127.0.0.1"
external_url="${base}"
login_url="login.html"
api_prefix="api"
allow_origin="*"
log_mode="console"
log_level="INFO"
cookie_secure=0
session_expiration=3600
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
allow_multiple_user_per_session=true
login_api_enabled=true
max_post_size=16778240
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="${MODULES}/user"
client_module_path="${MODULES}/client"
user_auth_scheme_module_path="${MODULES}/scheme"
plugin_module_path="${MODULES}/plugin"
use_secure_connection=0
hash_algorithm="SHA512"
database = { type = "sqlite3"; path = "${db}"; };
`;
}

function oidcPlugin(issuer: string): Record<string, unknown> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    module: 'oidc', name: 'oidc', display_name: 'OIDC', enabled: true,
    parameters: {
      iss: issuer, 'jwt-type': 'rsa', 'jwt-key-size': '256',
      key: privateKey.export({ type: 'pkcs8', format: 'pem' }), cert: publicKey.export({ type: 'spki', format: 'pem' }),
      'access-token-duration': 3600, 'refresh-token-duration': 1209600, 'code-duration': 600, 'refresh-token-rolling': true,
      'allow-non-oidc': true, 'auth-type-code-enabled': true, 'auth-type-token-enabled': true, 'auth-type-id-token-enabled': true,
      'auth-type-none-enabled': true, 'auth-type-password-enabled': true, 'auth-type-client-enabled': true,
      'auth-type-refresh-enabled': true, 'auth-type-device-enabled': true,
      'device-authorization-expiration': 600, 'device-authorization-interval': 1,
      'introspection-revocation-allowed': true, 'introspection-revocation-allow-target-client': true,
      'introspection-revocation-auth-scope': [], 'session-management-allowed': true,
      'session-cookie-name': 'GLEWLWYD_OIDC_SESSION', 'session-cookie-expiration': 3600,
      scope: [], 'additional-parameters': [], claims: [], 'service-documentation': '', 'op-policy-uri': '', 'op-tos-uri': '',
      'jwks-show': true, 'subject-type': 'public',
    },
  };
}

type Api = (method: string, route: string, body?: unknown) => Promise<unknown>;

/** Signs in as the schema's initial administrator (admin/password) and returns a cookie-carrying caller. */
async function adminSession(api: string): Promise<Api> {
  let cookie = '';
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`${api}/auth/`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'password' }),
      });
      if (res.status !== 200) throw new Error(`admin sign-in answered ${res.status}`);
      cookie = (res.headers.get('set-cookie') ?? '').split(';')[0];
      break;
    } catch (err) {
      if (i > 100) throw new Error(`glewlwyd did not come up: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return async (method, route, body) => {
    const res = await fetch(`${api}${route}`, {
      method, headers: { 'content-type': 'application/json', cookie }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`glewlwyd ${method} ${route} answered ${res.status}: ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
}

function run(cmd: string, args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}: ${err}`))));
    p.stdin!.end(input);
  });
}
