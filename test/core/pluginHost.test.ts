import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PluginHost } from '../../src/core/plugins/PluginHost.js';
import { definePlugin, SkipPluginError, type PluginDefinition } from '../../src/core/plugins/definePlugin.js';
import { createPortRef, hypervisorPort, networksPort, composePort, imagesPort } from '../../src/core/plugins/refs.js';
import { silentLogger } from '../../src/core/log/logger.js';

const portA = createPortRef<{ a: true }>('test.a.v1', 'port A');
const portB = createPortRef<{ b: true }>('test.b.v1', 'port B');
const portC = createPortRef<{ c: true }>('test.c.v1', 'port C');

function host(defs: PluginDefinition[], extra: Partial<ConstructorParameters<typeof PluginHost>[0]> = {}) {
  return new PluginHost({
    plugins: Object.fromEntries(defs.map((d) => [d.id, {}])),
    required: [], bindings: {}, baseDir: process.cwd(), dataDir: os.tmpdir(), version: '0.0.0-test', log: silentLogger(),
    corePorts: new Map([[imagesPort.id, { core: true }]]), definitions: Object.fromEntries(defs.map((d) => [d.id, d])),
    ...extra,
  });
}

function plugin(id: string, o: { provides?: any[]; requires?: any[]; optional?: any[]; log?: string[]; init?: () => void; apiVersion?: string; configSchema?: any } = {}) {
  return definePlugin({
    id, apiVersion: o.apiVersion ?? '^1.0.0', provides: o.provides ?? [], requires: o.requires ?? [], optional: o.optional ?? [],
    configSchema: o.configSchema,
    init: ({ deps }) => {
      o.init?.();
      o.log?.push(`init ${id}`);
      for (const r of o.requires ?? []) deps.get(r);
      return {
        implementations: Object.fromEntries((o.provides ?? []).map((p) => [p.id, { from: id, health: async () => ({}) }])),
        shutdown: () => { o.log?.push(`stop ${id}`); },
      };
    },
  });
}

describe('PluginHost', () => {
  it('initialises providers before their users and shuts down in reverse', async () => {
    const log: string[] = [];
    const h = host([
      plugin('c-user', { requires: [portB], provides: [portC], log }),
      plugin('a-base', { provides: [portA], log }),
      plugin('b-mid', { requires: [portA], provides: [portB], log }),
    ]);
    await h.start();
    assert.deepEqual(log, ['init a-base', 'init b-mid', 'init c-user']);
    assert.equal((h.get(portC) as any).from, 'c-user');
    await h.stop();
    assert.deepEqual(log.slice(3), ['stop c-user', 'stop b-mid', 'stop a-base']);
  });

  it('reports a cycle with its path', async () => {
    const h = host([plugin('x', { requires: [portB], provides: [portA] }), plugin('y', { requires: [portA], provides: [portB] })]);
    await assert.rejects(h.start(), /plugin dependency cycle: (x → y → x|y → x → y)/);
  });

  it('names the plugin and the missing port', async () => {
    const h = host([plugin('needs-hv', { requires: [hypervisorPort] })]);
    await assert.rejects(h.start(), /plugin "needs-hv" requires vmregistry\.hypervisor\.v1 \(hypervisor\).*enable the "libvirt" plugin/);
  });

  it('refuses two providers of one port unless bindings choose', async () => {
    const defs = [plugin('one', { provides: [portA] }), plugin('two', { provides: [portA] })];
    await assert.rejects(host(defs).start(), /plugins "one" and "two" all provide test\.a\.v1; choose one under bindings/);
    const h = host(defs, { bindings: { 'test.a.v1': 'two' } });
    await h.start();
    assert.equal((h.get(portA) as any).from, 'two');
    await assert.rejects(host(defs, { bindings: { 'test.a.v1': 'three' } }).start(), /bound to "three", but only one, two provide it/);
  });

  it('rejects an incompatible apiVersion with a message naming both versions', async () => {
    await assert.rejects(host([plugin('future', { apiVersion: '^2.0.0' })]).start(),
      /plugin "future" needs plugin API \^2\.0\.0, but this daemon implements 1\.0\.0/);
    await assert.rejects(host([plugin('garbage', { apiVersion: 'not-a-range' })]).start(), /invalid apiVersion range/);
  });

  it('a skipping optional plugin leaves its port unbound and its dependents skipped; a required one fails startup', async () => {
    const skipper = plugin('skipper', { provides: [portA], init: () => { throw new SkipPluginError('no backend here'); } });
    const user = plugin('user', { requires: [portA], provides: [portB] });
    const h = host([skipper, user]);
    await h.start();
    assert.equal(h.maybe(portA), undefined);
    assert.deepEqual(h.status().map((s) => [s.id, s.state]).sort(), [['skipper', 'skipped'], ['user', 'skipped']]);
    assert.throws(() => h.get(portA), /port A is unavailable: plugin "skipper" skipped \(no backend here\)/);
    await assert.rejects(host([skipper], { required: ['skipper'] }).start(), /required plugin "skipper" skipped: no backend here/);
  });

  it('a failing optional plugin degrades; a failing required plugin fails startup naming it', async () => {
    const bad = plugin('bad', { provides: [portA], init: () => { throw new Error('boom in init'); } });
    const h = host([bad]);
    await h.start();
    assert.equal(h.status()[0]!.state, 'failed');
    assert.throws(() => h.get(portA), (e: any) => e.code === 'UNAVAILABLE' && /boom in init/.test(e.message));
    await assert.rejects(host([bad], { required: ['bad'] }).start(), /required plugin "bad" failed to start: boom in init/);
  });

  it('an unbound pluggable port says which plugin to configure', () => {
    const h = host([]);
    assert.throws(() => h.get(composePort), (e: any) => e.code === 'FAILED_PRECONDITION' && /"compose" under plugins/.test(e.message));
    assert.throws(() => h.get(networksPort), /"libvirt"/);
  });

  it('checks plugin config against its schema: type errors fail, defaults fill, unknown keys warn', async () => {
    let seen: any;
    const def = definePlugin({
      id: 'cfg', apiVersion: '^1.0.0', provides: [],
      configSchema: { type: 'object', properties: { uri: { type: 'string', default: 'qemu:///system' }, workers: { type: 'integer', minimum: 1, default: 4 } } },
      init: ({ config }) => { seen = config; return { implementations: {} }; },
    });
    const bad = host([def], { plugins: { cfg: { config: { workers: 'many' } } } });
    await assert.rejects(bad.start(), /plugins\.cfg\.config\.workers must be a number, got string/);
    const ok = host([def], { plugins: { cfg: { config: { colour: 'blue' } } } });
    const { warnings } = await ok.start();
    assert.deepEqual(seen, { uri: 'qemu:///system', workers: 4 });
    assert.equal(warnings[0]!.path, 'plugins.cfg.config.colour');
  });

  it('refuses implementations that do not match provides', async () => {
    const liar = definePlugin({ id: 'liar', apiVersion: '^1.0.0', provides: [portA], init: () => ({ implementations: {} }) });
    await assert.rejects(host([liar]).start(), /init returned implementations for \[\] but declares provides \[test\.a\.v1\]/);
  });

  it('does not let a plugin reach a port it did not declare', async () => {
    const sneaky = definePlugin({ id: 'sneaky', apiVersion: '^1.0.0', provides: [], init: ({ deps }) => { deps.get(imagesPort); return { implementations: {} }; } });
    const h = host([sneaky]);
    await h.start();
    assert.equal(h.status()[0]!.state, 'failed');
    assert.match(h.status()[0]!.reason!, /without declaring it/);
  });

  it('loads plugins by path and explains unknown ids, non-plugins and id mismatches', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vmrt-plug-'));
    const api = path.resolve('dist/src/plugin-api/index.js');
    await writeFile(path.join(dir, 'good.mjs'), `import { definePlugin } from ${JSON.stringify(api)};\nexport default definePlugin({ id: 'good', apiVersion: '^1.0.0', provides: [], init: () => ({ implementations: {} }) });\n`);
    await writeFile(path.join(dir, 'notplugin.mjs'), 'export default { hello: 1 };\n');
    const mk = (plugins: any) => new PluginHost({ plugins, required: [], bindings: {}, baseDir: dir, dataDir: dir, version: 't', log: silentLogger(), corePorts: new Map() });
    const h = mk({ good: { module: './good.mjs' } });
    await h.start();
    assert.equal(h.status()[0]!.state, 'ready');
    await assert.rejects(mk({ 'no-such-thing': {} }).start(), /plugin "no-such-thing": unknown plugin or package "no-such-thing"/);
    await assert.rejects(mk({ np: { module: './notplugin.mjs' } }).start(), /does not export a plugin/);
    await assert.rejects(mk({ other: { module: './good.mjs' } }).start(), /defines plugin "good"; use "good" as its key/);
    await assert.rejects(mk({ gone: { module: './missing.mjs' } }).start(), /module path .*missing\.mjs does not exist/);
  });

  it('stop is idempotent and bounded by a timeout', async () => {
    const hang = definePlugin({ id: 'hang', apiVersion: '^1.0.0', provides: [], init: () => ({ implementations: {}, shutdown: () => new Promise(() => {}) }) });
    const h = host([hang], { shutdownTimeoutMs: 50 });
    await h.start();
    const a = h.stop();
    assert.equal(h.stop(), a);
    await assert.rejects(a, (e: any) => /shutdown timed out/.test(e.errors[0].message));
  });
});
