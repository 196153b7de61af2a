// vmr's VM, network and compose commands through the real daemon on the in-memory libvirt fake and the
// real compose plugin: a user's session, command by command.
import 'reflect-metadata';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fakeLibvirtPlugin, startTestDaemon, type TestDaemon } from '../../src/testing/index.js';
import composePlugin from '../../src/plugins/compose/index.js';
import { requireService } from '../support/services.js';
import { vmr } from './support/runVmr.js';

let td: TestDaemon;
let work: string;
const run = (args: string[], opts: Parameters<typeof vmr>[1] = {}) =>
  vmr(['--host', `unix://${td.socket}`, ...args], { cwd: work, timeoutMs: 120_000, ...opts });
const json = async (args: string[]) => {
  const r = await run(['--json', ...args]);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout);
};

before(async () => {
  await requireService('packages');
  work = await mkdtemp(path.join(os.tmpdir(), 'vmr-life-'));
  await chmod(work, 0o755);
  td = await startTestDaemon({ plugins: [fakeLibvirtPlugin(), composePlugin] });
  await writeFile(path.join(work, 'tiny.raw'), Buffer.alloc(2 << 20, 7));
  await writeFile(path.join(work, 'vmfile.yaml'), 'api_version: vmregistry.io/v1alpha1\nkind: VMFile\nmetadata: { name: tiny }\n' +
    'spec: { disk: { path: tiny.raw, format: raw }, resources: { memory_mb: 256, vcpu_count: 1 } }\n');
  const imp = await run(['import', '-q', '-t', 'tiny:1', 'vmfile.yaml']);
  assert.equal(imp.code, 0, imp.stderr);
});
after(async () => {
  await td?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('VMs and networks on the fake hypervisor', () => {
  test('run, ps, stop, ps -a, start, restart, rm', async () => {
    await writeFile(path.join(work, 'user-data'), '#cloud-config\nhostname: web\n');
    const r = await run(['run', '--name', 'web', '--memory', '512', '-l', 'tier=front', '--cloud-init-user-data', 'user-data', '--wait-ip', 'tiny:1']);
    assert.equal(r.code, 0, r.stderr);
    const [id, line] = r.stdout.trim().split('\n');
    assert.match(line, /^web running \d+\.\d+\.\d+\.\d+/);
    const dup = await run(['run', '--name', 'web', 'tiny:1']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /^Error: .*web/);

    const ps = await json(['ps']);
    assert.equal(ps.vms.length, 1);
    assert.equal(ps.vms[0].vmId, id);
    assert.equal(ps.vms[0].memoryMb, 512);
    assert.deepEqual(ps.vms[0].labels.tier, 'front');
    assert.match((await run(['ps'])).stdout, new RegExp(`^${id.replace(/-/g, '').slice(0, 12)}\\s+web\\s+tiny:1\\s+running`, 'm'));

    assert.equal((await run(['stop', '-t', '1', 'web'])).stdout, 'web\n');
    assert.equal((await run(['ps', '-q'])).stdout, '', 'no running VMs');
    assert.match((await run(['ps', '-a'])).stdout, /\sweb\s+tiny:1\s+\S*(stopped|shut)/);
    assert.equal((await run(['start', 'web'])).code, 0);
    assert.equal((await run(['restart', 'web'])).code, 0);
    const rmRunning = await run(['rm', 'web']);
    assert.equal(rmRunning.code, 1, 'a running VM is not removed without -f');
    assert.equal((await run(['rm', '-f', 'web'])).code, 0);
    assert.deepEqual((await json(['ls'])).vms, []);
  });

  test('network create, ls, inspect, stop, start, rm', async () => {
    const c = await run(['network', 'create', '--mode', 'isolated', '--subnet', '10.77.0.0/24', '--dhcp', '--activate', 'backend']);
    assert.equal(c.code, 0, c.stderr);
    assert.match((await run(['network', 'ls'])).stdout, /\sbackend\s+isolated\s+10\.77\.0\.0\/24\s+\S+\s+active/);
    assert.equal((await json(['network', 'inspect', 'backend'])).network.subnet, '10.77.0.0/24');
    const bad = await run(['network', 'create', '--subnet', '10.77.0.0/25', 'clash']);
    assert.equal(bad.code, 1, 'an overlapping subnet is refused by the daemon');
    assert.equal((await json(['network', 'stop', 'backend'])).network.active, false);
    assert.equal((await json(['network', 'start', 'backend'])).network.active, true);
    assert.equal((await run(['network', 'rm', '-f', 'backend'])).code, 0);
    const gone = await run(['network', 'inspect', 'backend']);
    assert.equal(gone.code, 1);
  });
});

describe('compose on the real compose plugin', () => {
  test('config, up (idempotent), ps, restart, down', async () => {
    await writeFile(path.join(work, 'vmcompose.yaml'), 'api_version: vmregistry.io/v1alpha1\nkind: VMCompose\nname: stack\n' +
      'networks:\n  back: { mode: isolated, subnet: 10.78.0.0/24 }\nservices:\n  db:\n    image: tiny:1\n    networks: [back]\n' +
      '  web:\n    image: ${IMG:-missing:1}\n    replicas: 2\n    networks: [back]\n    depends_on: { db: { condition: ip_assigned } }\n');
    await writeFile(path.join(work, '.env'), 'IMG=tiny:1\n');
    const cfg = await run(['compose', 'config', '--services']);
    assert.equal(cfg.code, 0, cfg.stderr);
    assert.equal(cfg.stdout, 'db\nweb\n');

    const up = await run(['compose', 'up', '-d']);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /^Project stack\n/);
    assert.match(up.stdout, /stack-web-2\s+tiny:1/, '${IMG} came from .env');
    const again = await json(['compose', 'up']);
    assert.ok(again.services.every((s: { action: string }) => s.action === 'unchanged'), JSON.stringify(again));

    assert.equal((await run(['compose', 'ps', '-q'])).stdout.split('\n').filter(Boolean).sort().join(' '), 'stack-db-1 stack-web-1 stack-web-2');
    const ps = await json(['compose', 'ps']);
    assert.ok(ps.services.every((s: { ipAddresses: string[] }) => s.ipAddresses[0]?.startsWith('10.78.0.')));
    assert.equal((await run(['compose', 'restart', 'web'])).stdout, 'Restarted stack-web-1\nRestarted stack-web-2\n');
    const down = await run(['compose', 'down', '--remove-networks']);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /Removed stack-db-1/);
    assert.deepEqual((await json(['ls'])).vms, []);

    await writeFile(path.join(work, 'cycle.yaml'), 'kind: VMCompose\nservices:\n  a: { image: tiny:1, depends_on: [b] }\n  b: { image: tiny:1, depends_on: [a] }\n');
    const bad = await run(['compose', '-f', 'cycle.yaml', 'config']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error: .*cycle/im);
  });
});
