// Files the user names on the command line are read here, client-side; a file that cannot be read is
// a usage error (exit 2), not a server error.
import fs from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from './errors.js';
import type { VMFile } from './messages.js';

export async function readText(file: string, what: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${what} "${file}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

const snakeToCamel = (key: string) => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** VMFile YAML uses snake_case keys; the wire objects are camelCase. Label maps keep their keys. */
export function camelKeys(value: unknown, parentKey = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => camelKeys(v));
  if (value === null || typeof value !== 'object') return value;
  if (parentKey === 'labels' || parentKey === 'details') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [snakeToCamel(k), camelKeys(v, k)]));
}

export interface LocalVmFile {
  file: string;
  dir: string;
  content: string;
  vmfile: VMFile;
  diskPath: string;
}

export async function readVmFile(file: string): Promise<LocalVmFile> {
  const abs = path.resolve(file);
  const content = await readText(abs, 'VMFile');
  let doc: unknown;
  try {
    // Loaded on demand: most commands never read YAML, and every process start counts.
    const { parse } = await import('yaml');
    doc = parse(content);
  } catch (err) {
    throw new UsageError(`VMFile "${file}" is not valid YAML: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object') throw new UsageError(`VMFile "${file}" is empty or not a mapping`);
  // Not checked here beyond the disk path: the daemon validates the VMFile and names the bad field.
  const vmfile = camelKeys(doc) as VMFile;
  const rel = vmfile.spec?.disk?.path;
  if (typeof rel !== 'string' || !rel) {
    throw new UsageError(`VMFile "${file}" has no spec.disk.path; name the disk file relative to the VMFile`);
  }
  const dir = path.dirname(abs);
  return { file: abs, dir, content, vmfile, diskPath: path.resolve(dir, rel) };
}

/** KEY=VALUE lines; `#` comments, `export ` prefixes and surrounding quotes allowed (docker's .env rules). */
export function parseEnvFile(text: string, file: string): Record<string, string> {
  const env: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new UsageError(`${file}:${i + 1}: expected KEY=VALUE, got "${line}"`);
    let value = m[2];
    const quoted = /^(['"])(.*)\1$/.exec(value);
    if (quoted) value = quoted[1] === '"' ? quoted[2].replace(/\\n/g, '\n').replace(/\\"/g, '"') : quoted[2];
    else value = value.replace(/\s+#.*$/, '');
    env[m[1]] = value;
  });
  return env;
}

/** `k=v` pairs from repeated options. */
export function parsePairs(pairs: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new UsageError(`${what} must be key=value, got "${pair}"`);
    out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}
