import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Baked in by the CLI bundle (scripts/bundle-cli.mjs); undefined in the unbundled build.
declare const VMR_BUNDLE_VERSION: string | undefined;

/** The package's version, read from package.json beside dist/ (or beside src/ when run from source). */
export function clientVersion(): string {
  if (typeof VMR_BUNDLE_VERSION === 'string') return VMR_BUNDLE_VERSION;
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.resolve(here, rel), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'vmregistry' && pkg.version) return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return 'unknown';
}
