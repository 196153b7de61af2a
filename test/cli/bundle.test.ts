// The bundled CLI (scripts/bundle-cli.mjs: one CommonJS file run by a loader with a V8 code cache) is what
// `vmr` is once installed (package.json bin). It must behave as the unbundled dist/src/bin/vmr.js the other
// CLI suites drive: version, help, a real call to a daemon, a refusal, and the lazily required yaml.
import 'reflect-metadata';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fakeLibvirtPlugin, startTestDaemon, type TestDaemon } from '../../src/testing/index.js';
import { repoRoot } from '../support/services.js';
import { testHome } from './support/runVmr.js';

const pexec = promisify(execFile);
let td: TestDaemon;
let dir: string;
let launcher: string;

type Ran = { code: number | null; stdout: string; stderr: string };

// Runs `file args` as a user would run the installed vmr (the launcher, or a link to it).
function start(file: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, VMR_HOST: `unix://${td.socket}`, NO_COLOR: '1', HOME: testHome(), XDG_CONFIG_HOME: undefined, ...extraEnv };
    const child = spawn(file, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
const bundled = (args: string[]): Promise<Ran> => start(launcher, args);

before(async () => {
  // Inside the repo, so the bundle finds node_modules (yaml) the way an installed package does.
  dir = await mkdtemp(path.join(repoRoot, 'dist', '.bundle-test-'));
  await pexec(process.execPath, [path.join(repoRoot, 'scripts/bundle-cli.mjs'), dir]);
  launcher = path.join(dir, 'vmr.cjs');
  td = await startTestDaemon({ plugins: [fakeLibvirtPlugin()] });
});
after(async () => {
  await td?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the bundled vmr', () => {
  test('is what package.json installs as vmr, with its code cache beside it', async () => {
    const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };
    assert.equal(pkg.bin.vmr, 'dist/src/bin/vmr.cjs');
    assert.equal(await readlink(path.join(dir, 'vmr')), 'vmr.cjs', "a checkout's vmr links to it");
    assert.ok(existsSync(path.join(dir, 'vmr-bundle.cjs')));
    assert.ok(existsSync(path.join(dir, 'vmr-bundle.cjs.v8cache')));
    const v = await bundled(['--version']);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout.trim(), pkg.version);
  });

  test('prints help for the program and for a command', async () => {
    const h = await bundled(['--help']);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /^Usage: vmr /);
    assert.match(h.stdout, /\bps\b/);
    const run = await bundled(['help', 'run']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Usage: vmr run /);
    const bad = await bundled(['no-such-command']);
    assert.equal(bad.code, 2);
  });

  test('talks to a daemon: ps, images, version, and a refusal', async () => {
    const ps = await bundled(['ps']);
    assert.equal(ps.code, 0, ps.stderr);
    assert.match(ps.stdout, /^VM ID\s+NAME\s+IMAGE/);
    const images = await bundled(['images']);
    assert.equal(images.code, 0, images.stderr);
    assert.match(images.stdout, /^REPOSITORY\s+TAG/);
    const version = await bundled(['--json', 'version']);
    assert.equal(version.code, 0, version.stderr);
    assert.ok(JSON.parse(version.stdout).daemon.version);
    const missing = await bundled(['rmi', 'no/such:image']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^Error: .*no\/such/);
  });

  test('starts Node without NODE_EXTRA_CA_CERTS (loaded at start, unused by the CLI), also through a link', async () => {
    // A file that does not exist: Node warns at start when it tries to load it, so the warning tells.
    const certs = path.join(dir, `no-such-ca-${process.pid}-${Date.now()}.pem`);
    const direct = await start(process.execPath, [path.join(dir, 'vmr.cjs'), '--version'], { NODE_EXTRA_CA_CERTS: certs });
    assert.match(direct.stderr, /Ignoring extra certs/, 'Node run on the file itself loads them');
    const links = await mkdtemp(path.join(os.tmpdir(), 'vmr-bin-'));
    try {
      await symlink(launcher, path.join(links, 'vmr'));
      const r = await start(path.join(links, 'vmr'), ['--version'], { NODE_EXTRA_CA_CERTS: certs });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, /^\d+\.\d+\.\d+/);
    } finally {
      await rm(links, { recursive: true, force: true });
    }
  });

  test('loads yaml from node_modules when a command reads a VMFile', async () => {
    const file = path.join(dir, 'VMFile.yaml');
    await writeFile(file, 'api_version: vmregistry.io/v1alpha1\nkind: VMFile\nmetadata: { name: bundled }\nspec:\n  disk: { path: ./not-there.qcow2, format: qcow2 }\n');
    const r = await bundled(['import', '--inline', file]);
    // The disk path comes out of the parsed YAML: the file was read with yaml, then the missing disk refused.
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /not-there\.qcow2/);
  });
});
