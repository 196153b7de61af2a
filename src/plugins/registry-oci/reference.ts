// Image references as users type them: `[host[:port]/]repository[:tag][@sha256:hex]`.
// A first path component counts as a host when it has a dot or a colon, or is `localhost` (docker's rule).
import { FailedPreconditionError, InvalidArgumentError } from '../../plugin-api/index.js';

export interface ImageReference {
  /** `host[:port]`, lower-case. */
  host: string;
  /** Scheme from the context's registry URL when it named one explicitly. */
  scheme?: 'http' | 'https';
  repository: string;
  tag?: string;
  digest?: string;
}

const NAME_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** Splits a registry URL from a context (`localhost:5000`, `https://r.example/`) into scheme and host. */
export function parseRegistryUrl(url: string): { host: string; scheme?: 'http' | 'https' } {
  const m = /^(https?):\/\/([^/]+)\/*$/i.exec(url.trim()) ?? /^()([^/]+)\/*$/.exec(url.trim());
  if (!m || !m[2]) {
    throw new InvalidArgumentError(`registry URL "${url}" is not "host[:port]" or "http(s)://host[:port]"`, { field: 'registryUrl' });
  }
  const scheme = m[1] ? (m[1].toLowerCase() as 'http' | 'https') : undefined;
  return { host: m[2].toLowerCase(), scheme };
}

/**
 * Parses `ref`; a reference without a host goes to `defaultRegistry` (the context's registry URL).
 * Neither tag nor digest means tag `latest`.
 */
export function parseReference(ref: string, defaultRegistry = ''): ImageReference {
  const bad = (why: string) => new InvalidArgumentError(`image reference "${ref}" is invalid: ${why}`, { field: 'reference' });
  let rest = ref.trim();
  if (!rest) throw bad('it is empty');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(`digest "${digest}" is not sha256:<64 hex>`);
  }
  let host: string | undefined;
  let scheme: 'http' | 'https' | undefined;
  const slash = rest.indexOf('/');
  if (slash > 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      host = first.toLowerCase();
      rest = rest.slice(slash + 1);
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`tag "${tag}" must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}`);
  }
  if (!rest) throw bad('the repository name is empty');
  for (const part of rest.split('/')) {
    if (!NAME_COMPONENT.test(part)) throw bad(`repository component "${part}" must be lower-case letters, digits and separators`);
  }
  if (!host) {
    if (!defaultRegistry) {
      throw new FailedPreconditionError(
        `image reference "${ref}" names no registry and the current context has none; ` +
          'use host[:port]/name:tag or set the context\'s registry URL');
    }
    ({ host, scheme } = parseRegistryUrl(defaultRegistry));
  }
  if (!tag && !digest) tag = 'latest';
  return { host, scheme, repository: rest, tag, digest };
}

/** `host/repo:tag@digest` as canonical text. */
export function formatReference(r: ImageReference): string {
  return `${r.host}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** The tag or digest the manifest endpoint is addressed by (digest wins). */
export function manifestTarget(r: ImageReference): string {
  return r.digest ?? r.tag ?? 'latest';
}

/** Docker treats loopback registries as insecure by default; so do we (traffic never leaves the host). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}
