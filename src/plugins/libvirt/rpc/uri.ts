// libvirt connection URIs: driver[+transport]://[user@][host][:port]/path[?params]. We speak the
// remote protocol ourselves, so every URI ends up at a libvirtd socket (local, or remote via ssh);
// the URI sent in CONNECT_OPEN is the same URI without the transport and host.
import os from 'node:os';
import path from 'node:path';
import { InvalidArgumentError } from '../../../plugin-api/index.js';

export type Transport = 'unix' | 'ssh';

export interface LibvirtUri {
  /** The URI as given. */
  raw: string;
  /** `qemu`, `test`, `lxc` … */
  driver: string;
  transport: Transport;
  user?: string;
  host?: string;
  port?: number;
  /** `/system`, `/session`, `/default` … */
  path: string;
  params: Record<string, string>;
  /** What CONNECT_OPEN receives, e.g. `qemu:///system` or `test:///default` (`?name=` overrides). */
  openUri: string;
  /** Local socket (unix) or remote socket (ssh, used by `nc -U`). */
  socketPath: string;
  /** Sockets to try after `socketPath` when it does not exist (modular daemons). */
  fallbackSockets: string[];
}

const SYSTEM_SOCK = '/run/libvirt/libvirt-sock';
const SYSTEM_SOCK_RO = '/run/libvirt/libvirt-sock-ro';

export function parseLibvirtUri(raw: string): LibvirtUri {
  const m = /^([a-z][a-z0-9]*)(?:\+([a-z0-9]+))?:\/\/([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/i.exec(raw.trim());
  if (!m) {
    throw new InvalidArgumentError(
      `"${raw}" is not a libvirt URI; expected e.g. qemu:///system, test+unix:///default or qemu+ssh://user@host/system`,
      { field: 'libvirtUri' },
    );
  }
  const [, driver, transportRaw, authority, p = '/', query = ''] = m;
  const params: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(query)) params[k] = v;

  let user: string | undefined;
  let host: string | undefined;
  let port: number | undefined;
  if (authority) {
    const am = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(authority);
    if (!am) throw new InvalidArgumentError(`bad host part "${authority}" in libvirt URI "${raw}"`, { field: 'libvirtUri' });
    user = am[1] ? decodeURIComponent(am[1]) : undefined;
    host = am[2] ? am[2].replace(/^\[|\]$/g, '') : undefined;
    port = am[3] ? Number(am[3]) : undefined;
  }

  let transport: Transport;
  if (transportRaw === undefined || transportRaw === 'unix') {
    if (host && transportRaw === undefined) {
      throw new InvalidArgumentError(
        `libvirt URI "${raw}" names a remote host without a transport (TLS), which is not supported; use ${driver}+ssh://${authority}${p}`,
        { field: 'libvirtUri' },
      );
    }
    if (host && transportRaw === 'unix') {
      throw new InvalidArgumentError(`libvirt URI "${raw}": the unix transport cannot reach host "${host}"`, { field: 'libvirtUri' });
    }
    transport = 'unix';
  } else if (transportRaw === 'ssh' || transportRaw === 'libssh' || transportRaw === 'libssh2') {
    if (!host) throw new InvalidArgumentError(`libvirt URI "${raw}" needs a host for the ssh transport`, { field: 'libvirtUri' });
    transport = 'ssh';
  } else {
    throw new InvalidArgumentError(
      `libvirt transport "${transportRaw}" in "${raw}" is not supported; use unix (local) or ssh`,
      { field: 'libvirtUri' },
    );
  }

  const session = p === '/session';
  const readOnly = params.readonly === '1';
  let socketPath: string;
  const fallbackSockets: string[] = [];
  if (params.socket) {
    socketPath = params.socket;
  } else if (session && transport === 'unix') {
    socketPath = sessionSocket();
  } else {
    socketPath = readOnly ? SYSTEM_SOCK_RO : SYSTEM_SOCK;
    if (!readOnly && driver === 'qemu') fallbackSockets.push('/run/libvirt/virtqemud-sock');
  }
  const openUri = params.name ?? `${driver}://${p}`;
  return { raw, driver, transport, user, host, port, path: p, params, openUri, socketPath, fallbackSockets };
}

/** The per-user daemon's socket, where libvirt puts it ($XDG_RUNTIME_DIR or ~/.cache). */
function sessionSocket(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  if (runtime) return path.join(runtime, 'libvirt', 'libvirt-sock');
  return path.join(os.homedir(), '.cache', 'libvirt', 'libvirt-sock');
}
