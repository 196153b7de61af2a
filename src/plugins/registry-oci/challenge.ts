// WWW-Authenticate parsing (RFC 7235): several challenges, quoted params with commas and escapes.

export interface Challenge {
  scheme: 'basic' | 'bearer' | string;
  params: Record<string, string>;
}

export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const text = Array.isArray(header) ? header.join(', ') : header ?? '';
  const out: Challenge[] = [];
  let i = 0;
  const ws = () => { while (i < text.length && /[\s,]/.test(text[i]!)) i++; };
  const token = () => {
    const m = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/.exec(text.slice(i));
    if (!m) return '';
    i += m[0].length;
    return m[0];
  };
  while (i < text.length) {
    ws();
    const scheme = token();
    if (!scheme) { i++; continue; }
    const ch: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(ch);
    for (;;) {
      const save = i;
      while (i < text.length && /[\s,]/.test(text[i]!)) i++;
      const name = token();
      let j = i;
      while (j < text.length && text[j] === ' ') j++;
      if (!name || text[j] !== '=') { i = save; break; }
      i = j + 1;
      while (i < text.length && text[i] === ' ') i++;
      let value = '';
      if (text[i] === '"') {
        i++;
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < text.length) i++;
          value += text[i++];
        }
        i++;
      } else {
        value = token();
      }
      ch.params[name.toLowerCase()] = value;
    }
  }
  return out;
}

/** Scopes as resource → actions; merging takes the union of actions per resource. */
export type ScopeSet = Map<string, Set<string>>;

export function parseScopes(list: Iterable<string>, into: ScopeSet = new Map()): ScopeSet {
  for (const item of list) {
    for (const s of item.split(' ')) {
      if (!s) continue;
      const cut = s.lastIndexOf(':');
      if (cut <= 0) continue;
      const res = s.slice(0, cut);
      const set = into.get(res) ?? new Set<string>();
      for (const a of s.slice(cut + 1).split(',')) if (a) set.add(a);
      into.set(res, set);
    }
  }
  return into;
}

export function formatScopes(set: ScopeSet): string[] {
  return [...set.entries()]
    .map(([res, acts]) => `${res}:${[...acts].sort().join(',')}`)
    .sort();
}

export const repoScope = (repository: string, ...actions: string[]) => `repository:${repository}:${actions.join(',')}`;
