// `healthcheck:` of a service as docker compose writes it (test, interval, timeout, retries,
// start_period), resolved to argv and seconds; problems go to the loader's error list with the line.
import type { Healthcheck } from './model.js';

type P = (string | number)[];
type Err = (p: P, message: string) => void;

const DEFAULTS = { interval: 5, timeout: 30, retries: 3, start_period: 0 } as const;
/** A day: a longer wait is a typo, and a timer cannot hold much more anyway. */
const MAX_SECONDS = 86_400;
const UNIT: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** `1m30s`, `500ms`, `10s`, or a plain number of seconds; undefined when it is neither. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(m[1]) * UNIT[m[2]!]!;
  return total;
}

/** The resolved healthcheck, or undefined (with errors reported) when `v` is absent or broken. */
export function resolveHealthcheck(v: unknown, at: P, err: Err): Healthcheck | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const h = v as Record<string, unknown>;
  const before = { n: 0 };
  const fail: Err = (p, m) => {
    before.n++;
    err(p, m);
  };
  const test = resolveTest(h.test, [...at, 'test'], fail);
  const seconds = (key: 'interval' | 'timeout' | 'start_period', min: number) => {
    if (h[key] === undefined) return DEFAULTS[key];
    const s = parseDuration(h[key]);
    if (s === undefined) {
      fail([...at, key], `${JSON.stringify(h[key])} is not a duration; write e.g. 10s, 1m30s, 500ms or a number of seconds`);
      return 0;
    }
    if (s < min || s > MAX_SECONDS) fail([...at, key], `must be between ${min}s and ${MAX_SECONDS}s, got ${s}s`);
    return s;
  };
  const intervalSeconds = seconds('interval', 0.01);
  const timeoutSeconds = seconds('timeout', 0.1);
  const startPeriodSeconds = seconds('start_period', 0);
  const retries = h.retries === undefined ? DEFAULTS.retries : h.retries;
  // The schema reports a retries that is not a whole number in range; only the value is taken here.
  if (before.n || !test || typeof retries !== 'number') return undefined;
  return { test, intervalSeconds, timeoutSeconds, retries, startPeriodSeconds };
}

function resolveTest(v: unknown, at: P, err: Err): string[] | undefined {
  if (typeof v === 'string') {
    if (!v.trim()) return err(at, 'the test command is empty'), undefined;
    return ['/bin/sh', '-c', v];
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return undefined;
  const [kind, ...rest] = v as string[];
  if (kind === 'CMD-SHELL') {
    if (rest.length !== 1 || !rest[0]!.trim()) return err(at, 'CMD-SHELL takes exactly one shell command string: ["CMD-SHELL", "test -f /ready"]'), undefined;
    return ['/bin/sh', '-c', rest[0]!];
  }
  if (kind === 'CMD') {
    if (!rest.length || !rest[0]) return err(at, 'CMD needs the program and its arguments: ["CMD", "test", "-f", "/ready"]'), undefined;
    return rest;
  }
  if (kind === 'NONE') return err(at, 'NONE (disable the image\'s healthcheck) has no meaning here: images carry none; drop healthcheck:'), undefined;
  err(at, `a test list starts with "CMD" or "CMD-SHELL", got ${JSON.stringify(kind ?? '')}`);
  return undefined;
}
