// The credential boundary: a registry's credentials, tokens and challenges belong to its origin
// (scheme, host, port). A URL the registry hands us (upload Location, redirect) may point anywhere;
// requests there go without Authorization, and their 401s are not the registry's challenge.

/** `scheme://host[:port]` (default port elided), or '' for anything that is not an absolute http(s) URL. */
export function originOf(url: string): string {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : '';
  } catch {
    return '';
  }
}

export function sameOrigin(a: string, b: string): boolean {
  const o = originOf(a);
  return o !== '' && o === originOf(b);
}

/** HTTP redirects we follow (GET/HEAD only; a 303 is one too). */
export const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
export const MAX_REDIRECTS = 5;
