// A small JSON-Schema subset for plugin configs: enough to catch type errors at startup with the
// offending path, fill defaults, and warn (not fail) on unknown keys as containerd does.
import type { Issue } from '../errors.js';

export type ConfigSchema =
  | { type: 'string'; enum?: readonly string[]; default?: string; description?: string; pattern?: string }
  | { type: 'number' | 'integer'; minimum?: number; maximum?: number; default?: number; description?: string }
  | { type: 'boolean'; default?: boolean; description?: string }
  | { type: 'array'; items: ConfigSchema; default?: unknown[]; description?: string }
  | {
      type: 'object';
      properties?: Record<string, ConfigSchema>;
      required?: readonly string[];
      /** Schema for keys not in `properties` (a map); absent: unknown keys are warned about. */
      additionalProperties?: ConfigSchema;
      default?: Record<string, unknown>;
      description?: string;
    };

export interface ConfigCheck {
  value: unknown;
  errors: Issue[];
  warnings: Issue[];
}

/** Validates `value` against `schema`, returning a copy with defaults filled in. */
export function checkConfig(schema: ConfigSchema, value: unknown, path = ''): ConfigCheck {
  const errors: Issue[] = [];
  const warnings: Issue[] = [];
  const out = walk(schema, value, path, errors, warnings);
  return { value: out, errors, warnings };
}

function walk(s: ConfigSchema, v: unknown, path: string, errors: Issue[], warnings: Issue[]): unknown {
  const at = path || '(root)';
  if (v === undefined || v === null) {
    if (s.default !== undefined) v = structuredClone(s.default);
    else if (s.type === 'object') v = {};
    else return undefined;
  }
  switch (s.type) {
    case 'string':
      if (typeof v !== 'string') return fail(errors, at, `must be a string, got ${typeName(v)}`);
      if (s.enum && !s.enum.includes(v)) return fail(errors, at, `must be one of ${s.enum.join(', ')}, got "${v}"`);
      if (s.pattern && !new RegExp(s.pattern).test(v)) return fail(errors, at, `must match ${s.pattern}`);
      return v;
    case 'number':
    case 'integer':
      if (typeof v !== 'number' || Number.isNaN(v)) return fail(errors, at, `must be a number, got ${typeName(v)}`);
      if (s.type === 'integer' && !Number.isInteger(v)) return fail(errors, at, `must be an integer`);
      if (s.minimum !== undefined && v < s.minimum) return fail(errors, at, `must be >= ${s.minimum}`);
      if (s.maximum !== undefined && v > s.maximum) return fail(errors, at, `must be <= ${s.maximum}`);
      return v;
    case 'boolean':
      if (typeof v !== 'boolean') return fail(errors, at, `must be true or false, got ${typeName(v)}`);
      return v;
    case 'array':
      if (!Array.isArray(v)) return fail(errors, at, `must be a list, got ${typeName(v)}`);
      return v.map((item, i) => walk(s.items, item, `${path}[${i}]`, errors, warnings));
    case 'object': {
      if (typeof v !== 'object' || Array.isArray(v)) return fail(errors, at, `must be a mapping, got ${typeName(v)}`);
      const obj = v as Record<string, unknown>;
      const res: Record<string, unknown> = {};
      for (const req of s.required ?? []) {
        if (obj[req] === undefined) errors.push({ path: join(path, req), message: 'is required' });
      }
      for (const [k, sub] of Object.entries(s.properties ?? {})) {
        const r = walk(sub, obj[k], join(path, k), errors, warnings);
        if (r !== undefined) res[k] = r;
      }
      for (const [k, val] of Object.entries(obj)) {
        if (s.properties && k in s.properties) continue;
        if (s.additionalProperties) res[k] = walk(s.additionalProperties, val, join(path, k), errors, warnings);
        else warnings.push({ path: join(path, k), message: 'unknown key, ignored', severity: 'warning' });
      }
      return res;
    }
  }
}

function fail(errors: Issue[], path: string, message: string): undefined {
  errors.push({ path, message });
  return undefined;
}
const join = (p: string, k: string) => (p ? `${p}.${k}` : k);
const typeName = (v: unknown) => (Array.isArray(v) ? 'a list' : v === null ? 'null' : typeof v);
