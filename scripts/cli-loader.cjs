#!/bin/sh
":" //; if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then VMR_NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS; export VMR_NODE_EXTRA_CA_CERTS; unset NODE_EXTRA_CA_CERTS; fi; exec node "$0" "$@"
// `vmr` (package.json bin; dist/src/bin/vmr.cjs). One file, two languages: /bin/sh runs the line above, and
// Node reads it as a string and a comment. The shell part starts Node on this same file without
// NODE_EXTRA_CA_CERTS: Node 20 reads that file and builds its whole root certificate store at process start,
// before any script runs (~40 ms of every `vmr ps` here, where the variable is set), and the CLI speaks no TLS
// (only the daemon's socket). The value travels as VMR_NODE_EXTRA_CA_CERTS and the CLI puts it back for the
// programs it runs (src/cli/launchEnv.ts). Node resolves the link npm installs to this file, so no `readlink`
// runs (a fork and exec: ~7 ms of a start, issue 17).
//
// The JavaScript part runs the CLI bundle beside it (vmr-bundle.cjs, from scripts/bundle-cli.mjs, already
// wrapped as a CommonJS function) with the V8 code cache made at build time, so V8 neither parses the bundle
// nor compiles the functions a start runs. Node 20 has no module.enableCompileCache; this is the same thing
// by hand. A cache from another Node or V8 is rejected by V8 and the bundle compiles as usual.
// `VMR_WRITE_CODE_CACHE=1` (the build) writes the cache at exit, warmed by that run.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const file = path.join(__dirname, 'vmr-bundle.cjs');
const cacheFile = `${file}.v8cache`;
let cachedData;
try {
  cachedData = fs.readFileSync(cacheFile);
} catch {
  // no cache (plain bundle build): compile as usual
}
// The source is used as read: a copy of it (a wrapper added here) would be one more 0.2 MB string to flatten.
const script = new vm.Script(fs.readFileSync(file, 'utf8'), {
  filename: file,
  cachedData,
  importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});
if (process.env.VMR_WRITE_CODE_CACHE === '1') {
  process.once('exit', () => fs.writeFileSync(cacheFile, script.createCachedData()));
}
const mod = { exports: {} };
script.runInThisContext()(mod.exports, require('node:module').createRequire(file), mod, file, __dirname);
