import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, BUILTIN_PLUGINS } from '../../src/core/config/DaemonConfig.js';

describe('daemon config', () => {
  it('starts from defaults with no file: every built-in plugin, SQLite state in the data dir', async () => {
    const { config } = await loadConfig({ env: {} });
    assert.deepEqual(Object.keys(config.plugins).sort(), [...BUILTIN_PLUGINS].sort());
    assert.equal(config.state.url, `sqlite://${path.join(config.dataDir, 'state.sqlite')}`);
    assert.equal(config.maxMessageBytes, 64 << 20);
    assert.equal(config.images.maxDiskGiB, 2048);
    assert.match(config.socket, /vmregistry\.sock$/);
  });

  it('flags beat the environment, which beats the file', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vmrt-cfg-'));
    const file = path.join(dir, 'c.yaml');
    await writeFile(file, 'socket: /tmp/from-file.sock\ndataDir: /tmp/from-file\nlogLevel: warn\nplugins:\n  compose: {}\n  libvirt: { config: { uri: "test:///default" } }\n');
    const { config } = await loadConfig({ file, env: { VMR_DATA_DIR: '/tmp/from-env', VMR_SOCKET: '/tmp/env.sock' }, flags: { socket: '/tmp/flag.sock' } });
    assert.equal(config.socket, '/tmp/flag.sock');
    assert.equal(config.dataDir, '/tmp/from-env');
    assert.equal(config.logLevel, 'warn');
    assert.deepEqual(Object.keys(config.plugins), ['compose', 'libvirt']);
    assert.deepEqual(config.plugins.libvirt!.config, { uri: 'test:///default' });
    assert.equal(config.baseDir, dir);
  });

  it('bounds images.maxDiskGiB', async () => {
    assert.equal((await loadConfig({ env: {}, object: { images: { maxDiskGiB: 8 } } })).config.images.maxDiskGiB, 8);
    await assert.rejects(loadConfig({ env: {}, object: { images: { maxDiskGiB: 0 } } }), /images\.maxDiskGiB/);
  });

  it('names the culprit of a type error, a YAML error, an unknown required plugin', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vmrt-cfg-'));
    const f = (name: string, text: string) => { const p = path.join(dir, name); return writeFile(p, text).then(() => p); };
    await assert.rejects(loadConfig({ env: {}, file: await f('t.yaml', 'maxMessageBytes: lots\n') }), /maxMessageBytes must be a number, got string/);
    await assert.rejects(loadConfig({ env: {}, file: await f('y.yaml', 'plugins: [unclosed\n') }), /is not valid YAML/);
    await assert.rejects(loadConfig({ env: {}, file: await f('r.yaml', 'plugins: {}\nrequired: [libvirt]\n') }), /required plugin "libvirt" is not configured/);
    await assert.rejects(loadConfig({ env: {}, file: await f('p.yaml', 'plugins:\n  Bad_Id: {}\n') }), /plugin id "Bad_Id" must be kebab-case/);
    await assert.rejects(loadConfig({ env: {}, file: path.join(dir, 'missing.yaml') }), /cannot read config file/);
    await assert.rejects(loadConfig({ env: {}, file: await f('l.yaml', 'logLevel: chatty\n') }), /logLevel must be one of/);
  });

  it('disables a plugin with false or enabled: false', async () => {
    const { config } = await loadConfig({ env: {}, object: { plugins: { libvirt: false, compose: { enabled: false }, 'registry-oci': null } } });
    assert.deepEqual(Object.keys(config.plugins), ['registry-oci']);
  });
});
