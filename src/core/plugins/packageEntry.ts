// A plugin given as a folder (`module: ./my-plugin`) is loaded like an installed package: its
// package.json names the entry point. Node's import() refuses a directory with a bare
// ERR_UNSUPPORTED_DIR_IMPORT, which tells an author nothing about what to fix.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../errors.js';

type Exports = string | null | { [key: string]: Exports } | Exports[];

/** The file a package folder's `exports` (the "." entry, import/node/default conditions) or `main` names. */
export function packageEntry(dir: string, field: string): string {
  const pkgFile = path.join(dir, 'package.json');
  let pkg: { exports?: Exports; main?: string } = {};
  if (existsSync(pkgFile)) {
    try {
      pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as typeof pkg;
    } catch (err) {
      throw new InvalidArgumentError(`${field}: ${pkgFile} is not valid JSON: ${(err as Error).message}`, { cause: err, field });
    }
  }
  const rel = exportTarget(pkg.exports) ?? pkg.main ?? 'index.js';
  const file = path.resolve(dir, rel);
  if (!existsSync(file)) {
    const how = pkg.exports !== undefined ? 'its package.json "exports"' : pkg.main !== undefined ? 'its package.json "main"' : 'the default index.js (no package.json main/exports)';
    throw new InvalidArgumentError(`${field}: ${dir} is a folder, and ${how} points at ${file}, which does not exist` +
      ' (build the plugin, or fix its package.json)', { field });
  }
  return file;
}

function exportTarget(e: Exports | undefined): string | undefined {
  if (e === undefined || e === null) return undefined;
  if (typeof e === 'string') return e;
  if (Array.isArray(e)) return e.map(exportTarget).find((x) => x !== undefined);
  const keys = Object.keys(e);
  // Either a map of subpaths ({ ".": …, "./x": … }) or of conditions ({ import: …, default: … }).
  if (keys.some((k) => k.startsWith('.'))) return exportTarget(e['.']);
  for (const cond of ['import', 'node', 'default']) {
    const t = exportTarget(e[cond]);
    if (t !== undefined) return t;
  }
  return undefined;
}
