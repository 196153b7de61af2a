// vmr against the real daemon core (startTestDaemon: real loader, gRPC runtime, state store) on the
// in-memory auth fake: what the lead's handlers answer is what users will see.
import 'reflect-metadata';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestDaemon, fakeAuthPlugin, type TestDaemon, type InMemoryAuthProvider } from '../../src/testing/index.js';
import { vmr } from './support/runVmr.js';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

let td: TestDaemon;
let auth!: InMemoryAuthProvider;
const run = (args: string[], opts: Parameters<typeof vmr>[1] = {}) => vmr(['--host', `unix://${td.socket}`, ...args], opts);

before(async () => {
  td = await startTestDaemon({ plugins: [fakeAuthPlugin({ alice: 'wonderland' }, (a) => { auth = a; })] });
});
after(async () => { await td.stop(); });

describe('vmr against the daemon', () => {
  test('health and version report the daemon', async () => {
    const h = await run(['--json', 'health']);
    assert.equal(h.code, 0, h.stderr);
    const health = JSON.parse(h.stdout);
    assert.equal(health.status, 'SERVING');
    assert.ok(health.components.some((c: { name: string }) => c.name === 'daemon'));
    const human = await run(['health']);
    assert.match(human.stdout, /^Daemon SERVING \(version \S+, context default\)\nCOMPONENT\s+STATUS/);
    const v = await run(['--json', 'version']);
    assert.equal(JSON.parse(v.stdout).daemon.version, health.version);
  });

  test('contexts: create, use, ls, show, update, rm, and the daemon\'s refusals', async () => {
    const c = await run(['context', 'create', '--registry', 'localhost:5000', '--insecure-registry', '--description', 'lab box', 'lab']);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.stdout, 'lab\n');
    const dup = await run(['context', 'create', 'lab']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /^Error: .*lab/);
    assert.equal((await run(['--json', 'context', 'create', 'lab'])).stdout.includes('"ALREADY_EXISTS"'), true);

    assert.equal((await run(['context', 'use', 'lab'])).code, 0);
    assert.equal((await run(['context', 'show'])).stdout, 'lab\n');
    const ls = await run(['--json', 'context', 'ls']);
    const list = JSON.parse(ls.stdout);
    assert.equal(list.current, 'lab');
    const lab = list.contexts.find((x: { name: string }) => x.name === 'lab');
    assert.equal(lab.registryUrl, 'localhost:5000');
    assert.equal(lab.insecureRegistry, true);
    assert.match((await run(['context', 'ls'])).stdout, /^lab \*\s+lab box\s+localhost:5000/m);

    assert.equal((await run(['context', 'update', '--no-insecure-registry', 'lab'])).code, 0);
    const after = JSON.parse((await run(['--json', 'context', 'inspect'])).stdout);
    assert.equal(after.context.insecureRegistry, false);
    assert.equal(after.context.description, 'lab box', 'fields outside the mask are kept');

    const rmCurrent = await run(['context', 'rm', 'lab']);
    assert.equal(rmCurrent.code, 1, 'the current context cannot be removed');
    await run(['context', 'use', 'default']);
    assert.equal((await run(['context', 'rm', 'lab'])).code, 0);
    const rmDefault = await run(['context', 'rm', 'default']);
    assert.equal(rmDefault.code, 1);
  });

  test('login with a password, wrong password, logout, register', async () => {
    const ok = await run(['login', '-u', 'alice', '--password-stdin'], { input: 'wonderland\n' });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^Login Succeeded as alice/);
    const bad = await run(['login', '-u', 'alice', '-p', 'nope']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'Error: wrong username or password\n');
    const j = await run(['--json', 'login', '-u', 'alice', '-p', 'nope']);
    assert.equal(JSON.parse(j.stdout).error.code, 'UNAUTHENTICATED');
    assert.equal((await run(['logout'])).code, 0);
    const weak = await run(['register', 'carol', '-p', 'short']);
    assert.equal(weak.code, 1);
    assert.equal(weak.stderr, 'Error: password must be at least 8 characters\n', 'the provider\'s reason, verbatim');
    const reg = await run(['--json', 'register', 'bob', '--password-stdin'], { input: 'builder-pass' });
    assert.equal(reg.code, 0, reg.stderr);
    assert.equal(JSON.parse(reg.stdout).username, 'bob');
  });

  test('login --device shows the code and completes once the user approves it', async () => {
    let approved = false;
    const r = await run(['login', '--device'], {
      onSpawn: (child) => child.stderr!.on('data', (d: Buffer) => {
        const m = /enter the code (\S+)/.exec(d.toString());
        if (m && !approved) {
          approved = true;
          auth.approveDevice(m[1], 'alice');
        }
      }),
    });
    assert.ok(approved, r.stderr);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /open memory:\/\/device and enter the code/);
    assert.match(r.stdout, /^Login Succeeded as alice/);
  });

  test('without a plugin for it, a command gets the daemon\'s refusal (exit 1, its message), streams included', async () => {
    for (const args of [['ps'], ['network', 'ls'], ['run', 'd:latest'], ['pull', 'x:1']]) {
      const r = await run(args, { timeoutMs: 60_000 });
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr.split('\n').filter(Boolean).pop()!, /^Error: no \S+( \S+)? is configured: enable a plugin that provides vmregistry\./);
      const j = await run(['--json', ...args], { timeoutMs: 60_000 });
      assert.equal(JSON.parse(j.stdout).error.code, 'FAILED_PRECONDITION', j.stdout);
    }
  });

  test('images end to end on the real store: import, images, tag, inspect, validate, export, rmi, gc', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vmr-d-'));
    after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(path.join(dir, 'disk.raw'), Buffer.alloc(3 * 1024 * 1024 + 512, 1));
    await writeFile(path.join(dir, 'vmfile.yaml'), 'api_version: vmregistry.io/v1alpha1\nkind: VMFile\n' +
      'metadata: { name: tiny, labels: { os: none } }\nspec:\n  disk: { path: disk.raw, format: raw }\n  resources: { memory_mb: 256, vcpu_count: 1 }\n');

    const imp = await run(['--json', 'import', '--verify', path.join(dir, 'vmfile.yaml')]);
    assert.equal(imp.code, 0, imp.stderr + imp.stdout);
    const imported = JSON.parse(imp.stdout);
    assert.equal(imported.reference, 'tiny:latest');
    assert.match(imported.digest, /^sha256:[0-9a-f]{64}$/);

    const list = JSON.parse((await run(['--json', 'images'])).stdout);
    assert.deepEqual(list.images.map((i: { reference: string }) => i.reference), ['tiny:latest']);
    assert.equal(list.images[0].digest, imported.digest);
    assert.deepEqual(list.images[0].labels, { os: 'none' }, 'label keys arrive as written in the VMFile');
    const table = await run(['images']);
    assert.match(table.stdout, new RegExp(`^tiny\\s+latest\\s+${imported.digest.slice(7, 19)}\\s+x86_64\\s+\\S.* ago\\s+\\d`, 'm'));

    assert.equal((await run(['tag', 'tiny:latest', 'tiny:2'])).code, 0);
    const manifest = JSON.parse((await run(['inspect', 'tiny:2'])).stdout);
    assert.equal(manifest.digest, imported.digest);
    assert.equal(manifest.config.vmfile.spec.resources.memoryMb, 256);

    const v = await run(['validate', path.join(dir, 'vmfile.yaml')]);
    assert.equal(v.code, 0, v.stderr + v.stdout);
    assert.match(v.stdout, /vmfile\.yaml: valid\n$/);

    const ex = await run(['--json', 'export', '--format', 'disk', 'tiny:2', path.join(dir, 'out.raw')]);
    assert.equal(ex.code, 0, ex.stderr + ex.stdout);
    const disk = await readFile(path.join(dir, 'out.raw'));
    assert.ok(disk.equals(Buffer.alloc(3 * 1024 * 1024 + 512, 1)), 'the exported disk is the imported one');
    const again = await run(['export', '--format', 'disk', 'tiny:2', path.join(dir, 'out.raw')]);
    assert.equal(again.code, 2, 'an existing output path is refused (by vmr, which writes it) without --force');

    const rmi = await run(['rmi', 'tiny:2', 'tiny:latest']);
    assert.equal(rmi.code, 0, rmi.stderr);
    assert.match(rmi.stdout, /Untagged: tiny:2\n[\s\S]*Untagged: tiny:latest/);
    assert.equal((await run(['images', '-q'])).stdout, '');
    const gc = JSON.parse((await run(['--json', 'gc'])).stdout);
    assert.ok(Number(gc.freedBytes) > 0, 'gc frees the untagged image\'s blobs');
    const missing = await run(['rmi', 'tiny:latest']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^Error: .*tiny/);
  });
});
