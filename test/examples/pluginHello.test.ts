// The proof that the README's plugin guide works for an outside author: vmregistry is packed (`npm pack`,
// what a registry would serve), installed into a temp copy of examples/plugin-hello, the example is
// type-checked against the packed declarations (`npm run build`), runs its own tests against the packed
// `vmregistry/testing` (`npm test`), and a daemon from the packed copy loads it from the config file.
//
// Installing: the packed tarball is unpacked into the copy's node_modules/vmregistry, and vmregistry's own
// dependencies are symlinks to this checkout's node_modules. `npm install --offline <tarball>` is not
// reliable: it needs the registry metadata (packuments) of every dependency in the npm cache, which a
// fresh CI machine that ran `npm ci` does not have, and better-sqlite3 would fetch a prebuilt binary.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, realpath, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestDaemon } from '../../src/testing/index.js';
import { repoRoot } from '../support/services.js';

const pexec = promisify(execFile);
const example = path.join(repoRoot, 'examples', 'plugin-hello');

/** Runs a command in `cwd`; on failure the assertion carries its whole output. */
async function run(cwd: string, cmd: string, args: string[]): Promise<string> {
  try {
    // Without this runner's NODE_TEST_CONTEXT, the example's `node --test` runs as a top-level test run.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const { stdout, stderr } = await pexec(cmd, args, { cwd, maxBuffer: 64 << 20, env: { ...env, NODE_OPTIONS: '' } });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    assert.fail(`${cmd} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

describe('example third-party plugin (examples/plugin-hello) as an outside package', () => {
  let tmp: string;
  let plugin: string;
  let td: TestDaemon | undefined;

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'vmrt-hello-'));
    plugin = path.join(tmp, 'plugin-hello');
    await cp(example, plugin, { recursive: true, filter: (src) => !src.includes(`${path.sep}node_modules`) });
    // `--ignore-scripts`: the test runner built dist/ already; prepack would build it again.
    const out = await run(repoRoot, 'npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp]);
    const tarball = path.join(tmp, (JSON.parse(out.slice(out.indexOf('['))) as Array<{ filename: string }>)[0]!.filename);
    const installed = path.join(plugin, 'node_modules', 'vmregistry');
    await mkdir(installed, { recursive: true });
    await run(tmp, 'tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
    const deps = path.join(repoRoot, 'node_modules');
    for (const name of await readdir(deps)) {
      if ((name.startsWith('.') && name !== '.bin') || name === 'vmregistry') continue;
      await symlink(await realpath(path.join(deps, name)), path.join(plugin, 'node_modules', name));
    }
  });
  after(async () => {
    await td?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('type-checks against the packed package (typed implementations, error classes)', async () => {
    await run(plugin, 'npm', ['run', 'build', '--silent']);
  });

  it('passes its own tests: the auth contract suite from vmregistry/testing and a daemon round trip', async () => {
    const out = await run(plugin, 'npm', ['test', '--silent']);
    assert.match(out, /# fail 0/);
    assert.match(out, /Auth contract: hello/);
  });

  it('is loaded by the packed daemon from the config file and serves Login, Logout and HealthCheck', async () => {
    const { startTestDaemon } = await import(path.join(plugin, 'node_modules', 'vmregistry', 'dist', 'src', 'testing', 'index.js')) as typeof import('../../src/testing/index.js');
    td = await startTestDaemon({
      config: { plugins: { hello: { module: plugin, config: { greeting: 'good morning', secret: 's3cret', colour: 'x' } } } },
    });
    const h = await td.client.call('HealthCheck');
    const auth = h.components.find((c: any) => c.name === 'auth');
    assert.equal(auth.plugin, 'hello');
    assert.equal(auth.status, 'SERVING');
    assert.equal(auth.message, 'good morning from the hello plugin');
    const r = await td.client.call('Login', { username: 'alice', password: 's3cret' });
    assert.equal(r.message, 'good morning, alice!');
    await assert.rejects(td.client.call('Login', { username: 'alice', password: 'nope' }), (e: any) => e.code === 16 /* UNAUTHENTICATED */);
    assert.equal((await td.client.call('Logout', {})).message, 'goodbye');
    assert.equal((await td.client.call('Logout', {})).message, 'not logged in');
    await assert.rejects(td.client.call('Register', { username: 'bob', password: 'pw' }), (e: any) => e.code === 12 /* UNIMPLEMENTED */ && /cannot register/.test(e.details));
    const st = td.daemon.plugins.status().find((s) => s.id === 'hello');
    assert.equal(st?.state, 'ready');
    assert.equal(st?.from, plugin, 'loaded from the package folder through its package.json');
  });
});
