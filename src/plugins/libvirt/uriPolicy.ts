// What a context may name as its libvirt URI. Any socket user can create a context, so its URI must
// not turn the daemon's own identity or reach into something else: ssh keys of the daemon's choosing
// (`keyfile`), skipped host-key checks (`no_verify`), arbitrary local sockets (`socket`), commands on
// the remote side (`netcat`, `command`), other TLS material (`pkipath`), or a driver other than the
// one the URI claims (`name`). Those are the daemon config's to allow; the default URI in the
// config is the admin's and is not checked.
import { InvalidArgumentError } from '../../plugin-api/index.js';
import { parseLibvirtUri, type LibvirtUri } from './rpc/uri.js';

/** Query parameters a context URI may carry without the config allowing them: they only restrict. */
const HARMLESS_PARAMS = new Set(['readonly']);

/** Paths each driver may open from a context (the test driver's other paths are files libvirtd would read). */
const DRIVER_PATHS: Record<string, readonly string[]> = {
  qemu: ['/system', '/session'],
  test: ['/default'],
};

export interface UriPolicy {
  /** Extra query parameters contexts may use (plugin config `contextUriParams`), e.g. ["keyfile"]. */
  allowedParams: readonly string[];
  /** URIs the daemon config itself names (the default `uri`): trusted as written. */
  trusted: readonly string[];
}

/** Why `uri` may not be a context's libvirt URI, or undefined when it may. */
export function uriPolicyViolation(uri: string, policy: UriPolicy): string | undefined {
  const raw = uri.trim();
  if (policy.trusted.some((t) => t.trim() === raw)) return undefined;
  let u: LibvirtUri;
  try {
    u = parseLibvirtUri(raw);
  } catch (err) {
    return (err as Error).message;
  }
  const paths = DRIVER_PATHS[u.driver];
  if (!paths) {
    return `driver "${u.driver}" is not allowed in a context; use qemu:///system, qemu:///session, test:///default or qemu+ssh://user@host/system`;
  }
  if (!paths.includes(u.path)) {
    return `"${u.driver}://${u.path}" is not allowed in a context; the ${u.driver} driver opens ${paths.join(' or ')}`;
  }
  const refused = Object.keys(u.params).filter((p) => !HARMLESS_PARAMS.has(p) && !policy.allowedParams.includes(p));
  if (refused.length) {
    return `parameter${refused.length > 1 ? 's' : ''} ${refused.map((p) => `"${p}"`).join(', ')} ` +
      `${refused.length > 1 ? 'are' : 'is'} not allowed in a context's libvirt URI (it would make the daemon use its own keys, ` +
      `sockets or commands on a socket user's behalf); an admin can allow it with plugins.libvirt.config.contextUriParams`;
  }
  if (u.host?.startsWith('-') || u.user?.startsWith('-')) return `host and user may not start with "-"`;
  return undefined;
}

/** Throws INVALID_ARGUMENT naming `field` when a context may not use `uri`. */
export function checkContextUri(uri: string, policy: UriPolicy, field = 'libvirt_uri'): void {
  const why = uriPolicyViolation(uri, policy);
  if (why) throw new InvalidArgumentError(`libvirt URI "${uri.trim().slice(0, 200)}" refused: ${why}`, { field });
}
