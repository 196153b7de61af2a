// Compose end to end on libvirt (qemu:///system) with the tiny test guest (test/support/guest): a project
// with an isolated network and two services, the second waiting for the first's DHCP lease. up → ps shows
// both addresses on the project network → a second up changes nothing → down leaves no domain, VM files
// or network behind. VMs are created through a VmService that runs the guest's base disk directly (the
// core's VmActions adds only image resolution, which the image-store suites cover).
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { describe, it } from 'node:test';
import { isVmrError } from '../../../src/core/errors.js';
import { leaseSubnets, uniqueName } from '../../support/unique.js';
import { composeOnLibvirt, ctx } from './libvirtRig.js';

describe('compose on libvirt with real guests', () => {
  const project = uniqueName('vmrce').replace(/-/g, '');
  const subnet = `10.251.${leaseSubnets(1, 251)}.0/24`;
  const rig = composeOnLibvirt(project, 'compose-e2e');

  const file = () => `api_version: vmregistry.io/v1alpha1
kind: VMCompose
name: ${project}
networks:
  lan: { mode: isolated, subnet: ${subnet} }
services:
  first:
    image: localhost:5000/test/guest:1
    resources: { memory_mb: 256 }
    networks: [lan]
    cloud_init: { user_data: "#cloud-config\\nhostname: first\\n" }
  second:
    image: localhost:5000/test/guest:1
    resources: { memory_mb: 256 }
    networks: [lan]
    depends_on: { first: { condition: ip_assigned } }
`;
  const src = () => ({ content: file(), baseDir: '/', env: {}, projectName: '' });
  // Generous: a busybox guest takes its lease in ~10 s on an idle machine, but minutes when TCG shares 2 cores with a loaded run.
  const opts = { services: [], forceRecreate: false, timeoutSeconds: 600 };

  it('up, ps with both addresses, an idempotent second up, and a down that leaves nothing', async () => {
    const t0 = Date.now();
    const up = await rig.runner.up(src(), opts, ctx());
    const upMs = Date.now() - t0;
    assert.deepEqual(up.services.map((s) => [s.vmName, s.action]), [[`${project}-first-1`, 'created'], [`${project}-second-1`, 'created']]);

    const net = await rig.nm.get(`${project}-lan`, ctx());
    assert.equal(net.mode, 'isolated');
    assert.equal(net.subnet, subnet);

    // The second VM was started only after the first had its lease; wait for its own lease too.
    await rig.hv.waitForIp!(`${project}-second-1`, ctx());
    const ps = await rig.runner.ps(project, ctx());
    assert.deepEqual(ps.services.map((s) => s.service), ['first', 'second']);
    const prefix = subnet.split('.').slice(0, 3).join('.') + '.';
    for (const s of ps.services) {
      assert.equal(s.status, 'running');
      assert.ok(s.ipAddresses.length === 1 && s.ipAddresses[0]!.startsWith(prefix), `${s.vmName} has an address in ${subnet}: ${s.ipAddresses}`);
    }
    assert.notEqual(ps.services[0]!.ipAddresses[0], ps.services[1]!.ipAddresses[0]);
    for (const s of ps.services) assert.equal((await rig.hv.get(s.vmName, ctx())).networks[0]?.name, `${project}-lan`);

    const t1 = Date.now();
    const again = await rig.runner.up(src(), opts, ctx());
    const againMs = Date.now() - t1;
    assert.deepEqual(again.services.map((s) => s.action), ['unchanged', 'unchanged']);

    const down = await rig.runner.down(project, { removeNetworks: true }, ctx());
    assert.deepEqual(down.services.map((s) => s.vmName).sort(), [`${project}-first-1`, `${project}-second-1`]);
    assert.deepEqual(down.removedNetworks, [`${project}-lan`]);
    assert.deepEqual((await rig.hv.list(ctx())).filter((v) => v.name.startsWith(`${project}-`)), []);
    await assert.rejects(rig.nm.get(`${project}-lan`, ctx()), (e) => isVmrError(e) && e.code === 'NOT_FOUND');
    const left = (await fs.readdir(rig.stateDir, { recursive: true })).filter((f) => String(f).includes(project));
    assert.deepEqual(left, [], 'no overlay, seed or console log is left');
    console.log(`# compose e2e: first up ${upMs} ms (2 TCG guests, second after first's lease), second up ${againMs} ms`);
  });

  it('a guest without qemu-guest-agent: guest exec is UNAVAILABLE, ps says starting, cloud_init_done runs out of time', async () => {
    const withHealth = file().replace('    cloud_init: {', '    healthcheck: { test: "true", interval: 1s, timeout: 2s }\n    cloud_init: {');
    await rig.runner.up({ ...src(), content: withHealth }, opts, ctx());
    const first = `${project}-first-1`;
    // The channel exists (every VM gets one); nothing in the busybox guest answers on it.
    await assert.rejects(rig.hv.guestExec!(first, { argv: ['true'], timeoutSeconds: 5 }, ctx()),
      (e) => isVmrError(e) && e.code === 'UNAVAILABLE', 'the QEMU agent command round trip maps "agent not connected"');
    const ps = await rig.runner.ps(project, ctx());
    assert.deepEqual(ps.services.map((s) => s.health), ['starting', '']);
    // first already has its address, so the bound is spent waiting for the agent only.
    const gated = withHealth.replace('condition: ip_assigned }', 'condition: cloud_init_done, timeout_seconds: 10 }');
    await assert.rejects(rig.runner.up({ ...src(), content: gated }, opts, ctx()), (e) => isVmrError(e) && e.code === 'DEADLINE_EXCEEDED' &&
      /service "first" did not meet cloud_init_done within 10 s \(service "second" waits for it/.test(e.message));
    await rig.runner.down(project, { removeNetworks: true }, ctx());
  });
});
