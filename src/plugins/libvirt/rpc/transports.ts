// Byte pipes to a libvirtd: a local unix socket, or ssh running `virt-ssh-helper`/`nc -U` on the
// remote host and speaking over its stdio (what the libvirt C client does, so ~/.ssh/config,
// agents and ProxyJump all work). The RPC stream is identical on both.
import net from 'node:net';
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { CancelledError, UnavailableError } from '../../../plugin-api/index.js';
import type { LibvirtUri } from './uri.js';

export interface DialOptions {
  signal?: AbortSignal;
  /** ssh binary (tests substitute a fake); default `ssh`. */
  sshCommand?: string;
}

export type Dialer = (uri: LibvirtUri, opts: DialOptions) => Promise<Duplex>;

export const dial: Dialer = (uri, opts) => (uri.transport === 'ssh' ? dialSsh(uri, opts) : dialUnix(uri, opts));

export async function dialUnix(uri: LibvirtUri, opts: DialOptions): Promise<Duplex> {
  const candidates = [uri.socketPath, ...uri.fallbackSockets];
  let firstErr: unknown;
  for (const sock of candidates) {
    try {
      return await connectUnix(sock, opts.signal);
    } catch (err) {
      firstErr ??= err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') break;
    }
  }
  if (firstErr instanceof CancelledError) throw firstErr;
  const e = firstErr as NodeJS.ErrnoException;
  throw new UnavailableError(
    `cannot connect to libvirtd at ${uri.socketPath} (${e.code ?? e.message}); is libvirtd running? ` +
      `(start it with scripts/services/libvirtd.sh or "libvirtd -d")`,
    { cause: firstErr },
  );
}

function connectUnix(sock: string, signal?: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new CancelledError('connect to libvirtd cancelled'));
    const s = net.createConnection(sock);
    const onAbort = () => {
      s.destroy();
      reject(new CancelledError('connect to libvirtd cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    s.once('connect', () => {
      signal?.removeEventListener('abort', onAbort);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      reject(err);
    });
  });
}

/** The ssh argument list libvirt's own client would use for this URI. */
export function sshArgs(uri: LibvirtUri): string[] {
  const args: string[] = [];
  if (uri.port) args.push('-p', String(uri.port));
  if (uri.user) args.push('-l', uri.user);
  if (uri.params.keyfile) args.push('-i', uri.params.keyfile);
  args.push('-T', '-e', 'none', '-o', 'BatchMode=yes');
  if (uri.params.no_verify === '1') args.push('-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null');
  args.push('--', uri.host!, remoteCommand(uri));
  return args;
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function remoteCommand(uri: LibvirtUri): string {
  const proxy = uri.params.proxy ?? 'auto';
  const nc = `${shq(uri.params.netcat ?? 'nc')} -U ${shq(uri.socketPath)}`;
  const helper = `virt-ssh-helper ${uri.params.readonly === '1' ? '-r ' : ''}${shq(uri.openUri)}`;
  if (proxy === 'netcat') return nc;
  if (proxy === 'native') return helper;
  return `sh -c ${shq(`if command -v virt-ssh-helper >/dev/null 2>&1; then exec ${helper}; else exec ${nc}; fi`)}`;
}

export async function dialSsh(uri: LibvirtUri, opts: DialOptions): Promise<Duplex> {
  if (opts.signal?.aborted) throw new CancelledError('connect to libvirtd cancelled');
  const cmd = opts.sshCommand ?? process.env.VMR_LIBVIRT_SSH ?? 'ssh';
  const child = spawn(cmd, sshArgs(uri), { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr = (stderr + d).slice(-2000);
  });
  const stream = Duplex.from({ readable: child.stdout, writable: child.stdin }) as Duplex & { ref(): void; unref(): void };
  // Let the RPC layer ref/unref the child like a socket (idle connections do not hold the process).
  stream.ref = () => {
    child.ref();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { ref?: () => void }).ref?.();
  };
  stream.unref = () => {
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?: () => void }).unref?.();
  };
  // Errors before the RPC layer takes the stream over surface through its closed state.
  stream.on('error', () => undefined);
  const fail = (why: string) => {
    const msg = `ssh to ${uri.host} for libvirt failed: ${why}${stderr.trim() ? `: ${stderr.trim()}` : ''}`;
    stream.destroy(new UnavailableError(msg));
  };
  child.once('error', (err) => fail(err.message));
  child.once('exit', (code, sig) => {
    // Let buffered stdout drain first; the reader sees the error only if nothing else ended it.
    setImmediate(() => fail(sig ? `ssh killed by ${sig}` : `ssh exited with status ${code}`));
  });
  stream.once('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) =>
      reject(new UnavailableError(`cannot run "${cmd}" to reach libvirt on ${uri.host}: ${err.message}`, { cause: err })),
    );
  });
  child.stdin.on('error', () => undefined); // EPIPE when ssh dies; the exit handler reports why
  return stream;
}
