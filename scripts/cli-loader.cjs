#!/usr/bin/env node
// `vmr` (package.json bin): runs the CLI bundle beside it (vmr-bundle.cjs, from scripts/bundle-cli.mjs) with
// the V8 code cache made at build time, so V8 neither parses the bundle nor compiles the functions a start
// runs: a third of what the bundle itself costs at start (issue 17). Node 20 has no module.enableCompileCache;
// this is the same thing by hand. A cache from another Node or V8 is rejected by V8 and the bundle compiles
// as usual. `VMR_WRITE_CODE_CACHE=1` (the build) writes the cache at exit, warmed by that run.
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
const source = fs.readFileSync(file, 'utf8').replace(/^#!.*/, '');
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
  filename: file,
  cachedData,
  importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});
if (process.env.VMR_WRITE_CODE_CACHE === '1') {
  process.once('exit', () => fs.writeFileSync(cacheFile, script.createCachedData()));
}
const mod = { exports: {} };
script.runInThisContext()(mod.exports, require('node:module').createRequire(file), mod, file, __dirname);
