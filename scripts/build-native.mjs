#!/usr/bin/env node
// Build step (`npm run build`): compiles native/zstd.c, the in-process libzstd binding the import compresses
// windows with, into dist/src/native/zstd.node — with gcc against the headers Node ships (<prefix>/include/node)
// and Debian's libzstd-dev, so no node-gyp and no download. When a piece is missing the build goes on without
// it and says so: the daemon then compresses with the `zstd` binary and logs that at start.
//   node scripts/build-native.mjs [out.node]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.resolve(process.argv[2] ?? path.join(root, 'dist/src/native/zstd.node'));
const headers = path.join(path.dirname(process.execPath), '..', 'include', 'node');
const missing = [
  !existsSync(path.join(headers, 'node_api.h')) && `Node's headers (${headers}/node_api.h)`,
  !existsSync('/usr/include/zstd.h') && 'zstd.h (Debian package libzstd-dev)',
].filter(Boolean);
const cc = process.env.CC ?? 'gcc';
try {
  execFileSync(cc, ['--version'], { stdio: 'ignore' });
} catch {
  missing.push(`a C compiler (${cc}; Debian package gcc)`);
}
if (missing.length) {
  console.warn(`native zstd binding not built, missing ${missing.join(', ')}; imports will use the zstd binary`);
  process.exit(0);
}
mkdirSync(path.dirname(out), { recursive: true });
const tmp = `${out}.tmp`;
execFileSync(cc, ['-O2', '-shared', '-fPIC', '-Wall', '-Wextra', `-I${headers}`, '-o', tmp, path.join(root, 'native/zstd.c'), '-lzstd'], { stdio: 'inherit' });
renameSync(tmp, out);
