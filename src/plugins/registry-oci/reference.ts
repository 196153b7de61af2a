// Image references as users type them: `[host[:port]/]repository[:tag][@sha256:hex]`.
// The grammar is the plugin API's splitReference; this adds the context's default registry and the scheme.
import { FailedPreconditionError, InvalidArgumentError, splitReference } from '../../plugin-api/index.js';

export interface ImageReference {
  /** `host[:port]`, lower-case. */
  host: string;
  /** Scheme from the context's registry URL when it named one explicitly. */
  scheme?: 'http' | 'https';
  repository: string;
  tag?: string;
  digest?: string;
}

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
  const { registry, path: repository, tag, digest } = splitReference(ref, 'reference');
  let host = registry?.toLowerCase();
  let scheme: 'http' | 'https' | undefined;
  if (!host) {
    if (!defaultRegistry) {
      throw new FailedPreconditionError(
        `image reference "${ref}" names no registry and the current context has none; ` +
          'use host[:port]/name:tag or set the context\'s registry URL');
    }
    ({ host, scheme } = parseRegistryUrl(defaultRegistry));
  }
  return { host, scheme, repository, tag: tag ?? (digest ? undefined : 'latest'), digest };
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
