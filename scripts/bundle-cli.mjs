#!/usr/bin/env node
// Build step (`npm run build`, after tsc): bundles the compiled CLI (dist/src/bin/vmr.js and everything it
// imports) into one CommonJS function, dist/src/bin/vmr-bundle.cjs, run by dist/src/bin/vmr.cjs (package.json's
// `bin.vmr`, a copy of scripts/cli-loader.cjs; dist/src/bin/vmr links to it) with a V8 code cache this script
// makes by running it once. Why: Node resolves and links every ES module separately (~40 of them, plus
// commander's files) and an ES entry alone costs more than a CommonJS one; one CJS file starts in about half
// the time. The CLI needs no decorator metadata, so esbuild is fine here. The compiled contract (what
// generateDescriptor writes) and the package version are baked in, so the bundle reads no file at start.
// Rarely used, heavy packages (yaml, protobufjs) stay outside: they load from node_modules when a command
// needs them.
//   node scripts/bundle-cli.mjs [outdir]   (default dist/src/bin; writes vmr.cjs, vmr, vmr-bundle.cjs and its cache)
import { execFileSync } from 'node:child_process';
import { copyFileSync, chmodSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entry = path.join(root, 'dist/src/bin/vmr.js');
const outdir = path.resolve(process.argv[2] ?? path.join(root, 'dist/src/bin'));
const outfile = path.join(outdir, 'vmr-bundle.cjs');
const loader = path.join(outdir, 'vmr.cjs');
const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
// The descriptor as the unbundled CLI would load it: the generated one when it matches proto/, else parsed.
const { loadContract } = await import(pathToFileURL(path.join(root, 'dist/src/cli/wire/descriptor.js')).href);

// commander requires node:child_process at load for executable subcommands, which vmr has none of; that
// module (with dgram and its socket machinery) is a tenth of the start time. Commander gets it on first use.
const lazyChildProcess = {
  name: 'lazy-child-process-for-commander',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: 'lazy-child-process', namespace: 'vmr-lazy' } : undefined);
    b.onLoad({ filter: /.*/, namespace: 'vmr-lazy' }, () => ({
      contents: 'let cp; module.exports = new Proxy({}, { get: (_, key) => (cp ??= require("node:child_process"))[key] });',
      loader: 'js',
    }));
  },
};

// Builtins the CLI imports statically but a `vmr ps` never calls: node:fs/promises alone (it loads readline
// and the fs watchers) is ~5 ms of every start (issue 17). Each becomes an object of getters, one per export,
// that requires the builtin on first use; esbuild's ESM interop copies exports as getters, so named and
// default imports both stay lazy.
const lazyBuiltins = ['node:fs/promises', 'node:timers/promises', 'node:os'];
const lazyBuiltinModules = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => {
      if (!lazyBuiltins.includes(args.path) || args.kind === 'dynamic-import') return undefined;
      // The wrapper's own require is the real builtin.
      if (args.namespace === 'vmr-lazy-builtin') return { path: args.path, external: true };
      return { path: args.path, namespace: 'vmr-lazy-builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'vmr-lazy-builtin' }, async (args) => {
      const keys = Object.keys(await import(args.path)).filter((k) => k !== 'default');
      const getters = keys.map((k) => `get ${JSON.stringify(k)}() { return load()[${JSON.stringify(k)}]; }`).join(',\n');
      return { contents: `let m; const load = () => (m ??= require(${JSON.stringify(args.path)}));\nmodule.exports = {\n${getters}\n};`, loader: 'js' };
    });
  },
};

// `import('yaml')` (or of a builtin) would stay a dynamic import, which code run through vm.Script
// (the loader) cannot do on Node 20; a require behind the same lazy promise loads the package's CJS build.
const externalAsRequire = {
  name: 'external-dynamic-import-as-require',
  setup(b) {
    b.onResolve({ filter: /^(yaml|protobufjs|node:.*)$/ }, (args) =>
      args.kind === 'dynamic-import' ? { path: args.path, namespace: 'vmr-require' } : undefined);
    b.onLoad({ filter: /.*/, namespace: 'vmr-require' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['yaml', 'protobufjs'],
  // import.meta.url of every bundled module is the bundle's own; paths derived from it still resolve
  // because the bundle sits beside vmr.js at the same depth.
  // The file is the function the loader calls, as Node would wrap a CommonJS module: the loader then compiles
  // the source as read, without a wrapped copy of it.
  banner: { js: '(function (exports, require, module, __filename, __dirname) {"use strict";\nconst __vmrBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  footer: { js: '})' },
  // Less source to read and hold at every start (0.35 → 0.24 MB); names are kept, so stacks still read.
  minifyWhitespace: true,
  minifySyntax: true,
  define: {
    'import.meta.url': '__vmrBundleUrl',
    VMR_BUNDLE_VERSION: JSON.stringify(version),
    VMR_BUNDLE_CONTRACT: JSON.stringify(JSON.stringify(loadContract())),
  },
  plugins: [lazyChildProcess, lazyBuiltinModules, externalAsRequire],
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
});

// esbuild's ESM interop (__toESM) copies a module's exports as getters at every import of it: 13 copies of
// node:path, 7 of the lazy fs/promises, ~700 closures and a tenth of a start's young-generation allocations
// (enough to set off a scavenge while `vmr ps` waits for its connection, issue 17). Here each import gets an
// object that inherits from the module instead, with `default` as __toESM sets it: reads are as live as
// the getters were; only Object.keys of a namespace import would differ, which the CLI does not use. The helper
// is inserted after the calls are renamed, so its own fallback still calls esbuild's.
const bundled = readFileSync(outfile, 'utf8');
if (!/\b__toESM\(/.test(bundled)) throw new Error('bundle-cli: no __toESM calls found; the interop rewrite needs updating');
writeFileSync(outfile, bundled.replace(/\b__toESM\(/g, '__vmrToESM(').replace('"use strict";\n',
  '"use strict";\nconst __vmrToESM = (mod, isNodeMode) => mod !== null && (typeof mod === "object" || typeof mod === "function") ? ' +
  'Object.create(mod, isNodeMode || !mod.__esModule ? { default: { value: mod, enumerable: true } } : {}) : __toESM(mod, isNodeMode);\n'));

copyFileSync(path.join(root, 'scripts/cli-loader.cjs'), loader);
chmodSync(loader, 0o755);
// A checkout's own `vmr`: Node resolves the link to vmr.cjs, so the file is still read as CommonJS (this
// package is "type": "module", so an extensionless file would be an ES module).
const link = path.join(outdir, 'vmr');
rmSync(link, { force: true });
symlinkSync('vmr.cjs', link);
// The cache holds what one start compiles: make it from a `vmr --help` (commander's tree and help). No
// daemon is needed, and nothing outside the bundle's directory is written.
rmSync(`${outfile}.v8cache`, { force: true });
execFileSync(process.execPath, [loader, '--help'], { env: { ...process.env, VMR_WRITE_CODE_CACHE: '1' }, stdio: 'ignore' });
