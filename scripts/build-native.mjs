#!/usr/bin/env node
// Build step (`npm run build`): compiles the native helpers in native/ into dist/src/native/*.node — with gcc
// against the headers Node ships (<prefix>/include/node), so no node-gyp and no download:
//   zstd.c       the in-process libzstd imports compress and pulls decompress windows with (Debian's libzstd-dev)
//   sharedCopy.c memcpy into the shared memory a pull's bytes cross to the hash workers in
//   holes.c      lseek(SEEK_DATA): the windows of a sparse disk that are holes, which an import does not read
// When a piece is missing the build goes on without that helper and says so: the daemon then compresses with the
// `zstd` binary (and logs that at start), copies with Buffer.copy, or reads a sparse disk's holes.
//   node scripts/build-native.mjs [outdir]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.resolve(process.argv[2] ?? path.join(root, 'dist/src/native'));
const headers = path.join(path.dirname(process.execPath), '..', 'include', 'node');
const cc = process.env.CC ?? 'gcc';
const common = [
  !existsSync(path.join(headers, 'node_api.h')) && `Node's headers (${headers}/node_api.h)`,
].filter(Boolean);
try {
  execFileSync(cc, ['--version'], { stdio: 'ignore' });
} catch {
  common.push(`a C compiler (${cc}; Debian package gcc)`);
}

const helpers = [
  {
    name: 'zstd', libs: ['-lzstd'], without: 'imports will use the zstd binary',
    needs: [!existsSync('/usr/include/zstd.h') && 'zstd.h (Debian package libzstd-dev)'],
  },
  { name: 'sharedCopy', libs: [], without: 'pulls will copy with Buffer.copy', needs: [] },
  { name: 'holes', libs: [], without: 'imports will read the holes of sparse disks', needs: [] },
];

mkdirSync(outdir, { recursive: true });
for (const h of helpers) {
  const missing = [...common, ...h.needs.filter(Boolean)];
  if (missing.length) {
    console.warn(`native ${h.name} binding not built, missing ${missing.join(', ')}; ${h.without}`);
    continue;
  }
  const out = path.join(outdir, `${h.name}.node`);
  const tmp = `${out}.tmp`;
  execFileSync(cc, ['-O2', '-shared', '-fPIC', '-Wall', '-Wextra', `-I${headers}`, '-o', tmp, path.join(root, `native/${h.name}.c`), ...h.libs], { stdio: 'inherit' });
  renameSync(tmp, out);
}
