// `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `$VAR` and `$$`, as in
// compose-spec, from the variables the client sent (never the daemon's own environment).

export interface InterpolationResult {
  value: string;
  /** Problems in this one string (unset required variable, malformed expression). */
  errors: string[];
  /** Variables used but not set (they became empty strings). */
  unset: string[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

export function interpolate(input: string, env: Record<string, string>): InterpolationResult {
  const errors: string[] = [];
  const unset: string[] = [];
  let out = '';
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const close = input.indexOf('}', i + 2);
      if (close < 0) {
        errors.push(`unterminated "\${" at offset ${i}; write "$$" for a literal "$"`);
        out += input.slice(i);
        break;
      }
      out += expand(input.slice(i + 2, close), env, errors, unset);
      i = close + 1;
      continue;
    }
    const m = NAME.exec(input.slice(i + 1));
    if (m) {
      out += lookup(m[0], env, unset);
      i += 1 + m[0].length;
      continue;
    }
    // A lone `$` (e.g. "cost: 5$") stays as it is.
    out += '$';
    i++;
  }
  return { value: out, errors, unset };
}

function expand(expr: string, env: Record<string, string>, errors: string[], unset: string[]): string {
  const m = NAME.exec(expr);
  if (!m) {
    errors.push(`"\${${expr}}" is not a variable reference (names are letters, digits and "_")`);
    return '';
  }
  const name = m[0];
  const rest = expr.slice(name.length);
  const value = env[name];
  const isSet = value !== undefined;
  const isFull = isSet && value !== '';
  if (rest === '') return lookup(name, env, unset);
  const op = /^(:-|-|:\?|\?)/.exec(rest)?.[0];
  if (!op) {
    errors.push(`"\${${expr}}": unknown modifier "${rest}" (use :-, -, :? or ?)`);
    return '';
  }
  const arg = rest.slice(op.length);
  switch (op) {
    case ':-':
      return isFull ? value : arg;
    case '-':
      return isSet ? value : arg;
    case ':?':
    case '?':
      if (op === ':?' ? isFull : isSet) return value!;
      errors.push(`variable ${name} is required${arg ? `: ${arg}` : ''}`);
      return '';
  }
  return '';
}

function lookup(name: string, env: Record<string, string>, unset: string[]): string {
  const v = env[name];
  if (v === undefined) {
    unset.push(name);
    return '';
  }
  return v;
}
