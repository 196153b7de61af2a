// How the loader meets a plugin author's mistakes: a package folder as `module:`, settings put beside
// `module:` instead of under `config:`.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PluginHost } from '../../src/core/plugins/PluginHost.js';
import { loadConfig } from '../../src/core/config/DaemonConfig.js';
import { silentLogger } from '../../src/core/log/logger.js';

const api = path.resolve('dist/src/plugin-api/index.js');
const source = (id: string) =>
  `import { definePlugin } from ${JSON.stringify(api)};\nexport default definePlugin({ id: '${id}', apiVersion: '^1.0.0', provides: [], init: () => ({ implementations: {} }) });\n`;

describe('plugin kit: loading', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'vmrt-kit-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  const host = (plugins: Record<string, unknown>) =>
    new PluginHost({ plugins: plugins as never, required: [], bindings: {}, baseDir: dir, dataDir: dir, version: 't', log: silentLogger(), corePorts: new Map() });

  async function pkg(name: string, manifest: Record<string, unknown> | undefined, files: Record<string, string>) {
    const d = path.join(dir, name);
    await mkdir(path.join(d, 'dist'), { recursive: true });
    if (manifest) await writeFile(path.join(d, 'package.json'), JSON.stringify({ name, type: 'module', ...manifest }));
    for (const [f, text] of Object.entries(files)) await writeFile(path.join(d, f), text);
    return `./${name}`;
  }

  it('loads a package folder through its package.json exports', async () => {
    const mod = await pkg('by-exports', { exports: { '.': { import: './dist/plugin.js' } } }, { 'dist/plugin.js': source('by-exports') });
    const h = host({ 'by-exports': { module: mod } });
    await h.start();
    assert.equal(h.status()[0]!.state, 'ready');
    assert.equal(h.status()[0]!.from, path.join(dir, 'by-exports'));
  });

  it('loads a package folder through its package.json main, and index.js without one', async () => {
    const byMain = await pkg('by-main', { main: 'dist/main.js' }, { 'dist/main.js': source('by-main') });
    const bare = await pkg('bare', undefined, { 'index.js': source('bare') });
    await writeFile(path.join(dir, 'bare', 'package.json'), JSON.stringify({ type: 'module' }));
    const h = host({ 'by-main': { module: byMain }, bare: { module: bare } });
    await h.start();
    assert.deepEqual(h.status().map((s) => s.state), ['ready', 'ready']);
  });

  it('explains a folder whose entry point is missing (an unbuilt plugin) instead of Node\'s directory-import error', async () => {
    const mod = await pkg('unbuilt', { main: 'dist/index.js' }, {});
    await assert.rejects(host({ unbuilt: { module: mod } }).start(), (e: any) => {
      assert.equal(e.code, 'INVALID_ARGUMENT');
      assert.match(e.message, /plugins\.unbuilt\.module: .*unbuilt is a folder, and its package\.json "main" points at .*dist\/index\.js, which does not exist/);
      assert.doesNotMatch(e.message, /ERR_UNSUPPORTED_DIR_IMPORT/);
      return true;
    });
  });

  it('warns about settings put directly under plugins.<id>, naming the key', async () => {
    const { config, warnings } = await loadConfig({ env: {}, object: { plugins: { compose: { parallelism: 4, config: { stopTimeoutSeconds: 5 } } } } });
    assert.deepEqual(config.plugins.compose, { module: undefined, config: { stopTimeoutSeconds: 5 } });
    const w = warnings.find((x) => x.path === 'plugins.compose.parallelism');
    assert.ok(w, `expected a warning for plugins.compose.parallelism, got ${JSON.stringify(warnings)}`);
    assert.equal(w.severity, 'warning');
    assert.match(w.message, /plugins\.compose\.config\.parallelism/);
  });

  it('does not warn about module, config and enabled', async () => {
    const { warnings } = await loadConfig({ env: {}, object: { plugins: { compose: { module: 'compose', enabled: true, config: {} } } } });
    assert.deepEqual(warnings.filter((w) => w.path.startsWith('plugins.')), []);
  });
});
