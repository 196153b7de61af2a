// Debian's docker-registry (distribution 2.8) on a free loopback port with temp storage, in three
// setups: open, htpasswd Basic, and token auth with the test token service. Stop with stop().
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';
import { Agent, request } from 'undici';
import { requireService } from './services.js';
import { freePort } from './freePort.js';
import { startTokenService, type CredentialCheck, type TokenService } from './tokenService.js';

const pexec = promisify(execFile);

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export type RegistryAuth =
  | { kind: 'none' }
  | { kind: 'htpasswd'; users: Record<string, string> }
  | { kind: 'token'; check: CredentialCheck; service?: string; issuer?: string; ttlS?: number };

export interface RegistryOptions {
  /** Serve HTTPS with a certificate for 127.0.0.1 issued by a fresh test CA (`caFile`). */
  tls?: boolean;
}

export interface TestRegistry {
  /** `127.0.0.1:<port>` */
  host: string;
  /** The test CA's certificate when started with `tls`. */
  caFile?: string;
  url: string;
  port: number;
  dir: string;
  tokenService?: TokenService;
  pid(): number | undefined;
  /** SIGKILL: no graceful shutdown (fault tests). */
  kill(): Promise<void>;
  /** Starts it again on the same port and storage. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const probeAgent = new Agent({ connect: { rejectUnauthorized: false } });

/** A CA and a server certificate for 127.0.0.1 signed by it (openssl CLI). */
async function makeTlsFiles(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const f = (n: string) => path.join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await pexec('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-subj', '/CN=vmr-test-ca', '-days', '2']);
  await pexec('openssl', ['req', ...ec, '-keyout', f('tls.key'), '-out', f('tls.csr'), '-subj', '/CN=127.0.0.1']);
  await writeFile(f('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  await pexec('openssl', ['x509', '-req', '-in', f('tls.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-out', f('tls.crt'), '-days', '2', '-extfile', f('san.ext')]);
  return { ca: f('ca.crt'), cert: f('tls.crt'), key: f('tls.key') };
}

async function waitUp(url: string, child: ChildProcess, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode} before serving`);
    try {
      const res = await request(`${url}/v2/`, { dispatcher: probeAgent });
      await res.body.dump();
      if (res.statusCode === 200 || res.statusCode === 401) return;
    } catch {
      // not listening yet
    }
    await delay(50);
  }
  throw new Error(`docker-registry at ${url} did not answer within ${timeoutMs} ms`);
}

export async function startRegistry(auth: RegistryAuth = { kind: 'none' }, opts: RegistryOptions = {}): Promise<TestRegistry> {
  await requireService('packages');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vmr-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const url = `${opts.tls ? 'https' : 'http'}://${host}`;
  const tls = opts.tls ? await makeTlsFiles(dir) : undefined;
  let authYaml = '';
  let tokenService: TokenService | undefined;
  if (auth.kind === 'htpasswd') {
    const lines = Object.entries(auth.users).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 4)}`);
    await writeFile(path.join(dir, 'htpasswd'), lines.join('\n') + '\n');
    authYaml = `auth:\n  htpasswd:\n    realm: vmr-test\n    path: ${path.join(dir, 'htpasswd')}\n`;
  } else if (auth.kind === 'token') {
    const service = auth.service ?? 'vmr-test-registry';
    const issuer = auth.issuer ?? 'vmr-test-issuer';
    tokenService = await startTokenService(dir, { service, issuer, check: auth.check, ttlS: auth.ttlS });
    authYaml = `auth:\n  token:\n    realm: ${tokenService.realm}\n    service: ${service}\n    issuer: ${issuer}\n    rootcertbundle: ${tokenService.certPath}\n`;
  }
  const cfg = path.join(dir, 'config.yml');
  await writeFile(cfg, [
    'version: 0.1',
    'log:\n  level: error\n  accesslog:\n    disabled: true',
    `storage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'data')}\n  delete:\n    enabled: true`,
    // A fixed secret keeps upload `_state` tokens valid across a restart.
    `http:\n  addr: ${host}\n  secret: vmr-test-secret` + (tls ? `\n  tls:\n    certificate: ${tls.cert}\n    key: ${tls.key}` : ''),
    authYaml,
  ].join('\n'));
  const log = createWriteStream(path.join(dir, 'registry.log'), { flags: 'a' });
  let child: ChildProcess;
  const launch = async () => {
    child = spawn(REGISTRY_BIN, ['serve', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    await waitUp(url, child);
  };
  const exited = () => new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));
  await launch();
  return {
    host, url, port, dir, tokenService, caFile: tls?.ca,
    pid: () => child.pid,
    async kill() { child.kill('SIGKILL'); await exited(); },
    restart: launch,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited();
        clearTimeout(t);
      }
      await tokenService?.stop();
      log.end();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
