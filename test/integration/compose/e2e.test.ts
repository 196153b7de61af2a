// Compose end to end on libvirt (qemu:///system) with the tiny test guest (test/support/guest): a project
// with an isolated network and two services, the second waiting for the first's DHCP lease. up → ps shows
// both addresses on the project network → a second up changes nothing → down leaves no domain, VM files
// or network behind. VMs are created through a VmService that runs the guest's base disk directly (the
// core's VmActions adds only image resolution, which the image-store suites cover).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { isVmrError } from '../../../src/core/errors.js';
import { checkConfig } from '../../../src/core/plugins/configSchema.js';
import { PLUGIN_API_VERSION, type PluginDefinition, type PluginInstance } from '../../../src/core/plugins/definePlugin.js';
import { composePort, hypervisorPort, networksPort, vmsPort, type PortRef } from '../../../src/core/plugins/refs.js';
import { loadPluginModule } from '../../../src/core/plugins/resolvePluginModule.js';
import type { CallContext } from '../../../src/core/ports/common.js';
import type { ComposeRunner } from '../../../src/core/ports/compose.js';
import type { Hypervisor } from '../../../src/core/ports/hypervisor.js';
import type { NetworkManager } from '../../../src/core/ports/network.js';
import type { RunRequest, VmService } from '../../../src/core/ports/vms.js';
import composePlugin from '../../../src/plugins/compose/index.js';
import { defaultContextInfo, quietLogger } from '../../../src/testing/callContext.js';
import { repoRoot, requireService } from '../../support/services.js';
import { leaseSubnets, uniqueName } from '../../support/unique.js';

const URI = 'qemu:///system';
const ctx = (timeoutMs = 180_000): CallContext => ({
  signal: AbortSignal.timeout(timeoutMs),
  log: quietLogger,
  context: defaultContextInfo({ libvirtUri: URI }),
});

/** What test/support/guest.ts (libvirt branch) exports; loaded at run time so this file compiles without it. */
interface TestGuest { rawPath: string; diskSize: number }

/** Inits a plugin the way the daemon's loader does: config defaults from its schema, ports by id. */
async function initPlugin(def: PluginDefinition, config: Record<string, unknown>, dataDir: string,
  ports: Map<string, unknown>): Promise<PluginInstance> {
  const checked = def.configSchema ? checkConfig(def.configSchema, config) : { value: config, errors: [] };
  assert.deepEqual(checked.errors, [], `config of plugin ${def.id}`);
  const get = <T>(ref: PortRef<T>): T => {
    if (!ports.has(ref.id)) throw new Error(`port ${ref.id} is not bound`);
    return ports.get(ref.id) as T;
  };
  return def.init({
    config: checked.value as never,
    deps: { get, maybe: <T>(ref: PortRef<T>) => ports.get(ref.id) as T | undefined },
    log: quietLogger,
    dataDir,
    host: { version: 'test', apiVersion: PLUGIN_API_VERSION },
  });
}

describe('compose on libvirt with real guests', () => {
  const project = uniqueName('vmrce').replace(/-/g, '');
  const subnet = `10.251.${leaseSubnets(1, 251)}.0/24`;
  let guest: TestGuest;
  let stateDir: string;
  let hv: Hypervisor;
  let nm: NetworkManager;
  let runner: ComposeRunner;
  const instances: PluginInstance[] = [];

  before(async () => {
    await requireService('libvirtd');
    const guestModule = pathToFileURL(path.join(repoRoot, 'dist/test/support/guest.js')).href;
    const { testGuest } = (await import(guestModule).catch((e: Error) => {
      throw new Error(`the test guest builder (test/support/guest.ts, libvirt branch) is not in this tree: ${e.message}`);
    })) as { testGuest: () => Promise<TestGuest> };
    guest = await testGuest();
    await fs.mkdir(path.join(repoRoot, '.test-work'), { recursive: true });
    stateDir = await fs.mkdtemp(path.join(repoRoot, '.test-work/compose-e2e-'));
    await fs.chmod(stateDir, 0o755);

    const ports = new Map<string, unknown>();
    const { def: libvirt } = await loadPluginModule('libvirt', undefined, repoRoot);
    const lv = await initPlugin(libvirt, { uri: URI, stateDir }, stateDir, ports);
    instances.push(lv);
    hv = lv.implementations[hypervisorPort.id] as Hypervisor;
    nm = lv.implementations[networksPort.id] as NetworkManager;
    ports.set(hypervisorPort.id, hv);
    ports.set(networksPort.id, nm);
    // RunVM without the image store: the guest's base disk directly (the core's VmActions adds only
    // image resolution, which the image-store suites cover).
    const vms: VmService = {
      run: (req: RunRequest, c: CallContext) => hv.run({
        name: req.name,
        image: {
          reference: req.image, digest: 'sha256:' + createHash('sha256').update(req.image).digest('hex'),
          baseDiskPath: guest.rawPath, diskSize: guest.diskSize, firmware: 'bios', architecture: 'x86_64',
        },
        memoryMb: req.memoryMb || 256, vcpuCount: req.vcpuCount || 1, diskSizeGb: req.diskSizeGb, ephemeral: req.ephemeral,
        ...(req.cloudInit ? { cloudInit: req.cloudInit } : {}), networkName: req.networkName, activateNetwork: req.activateNetwork,
        labels: req.labels, ...(req.compose ? { compose: req.compose } : {}), waitForIp: req.waitForIp, start: true,
      }, c),
    };
    ports.set(vmsPort.id, vms);
    const cp = await initPlugin(composePlugin as unknown as PluginDefinition, { parallelism: 2, stopTimeoutSeconds: 5 }, stateDir, ports);
    instances.push(cp);
    runner = cp.implementations[composePort.id] as ComposeRunner;
  });

  after(async () => {
    // Whatever a failed assertion left behind; libvirtd may be restarting (other suites restart it), so retry.
    for (let i = 0; runner && i < 5; i++) {
      const ok = await runner.down(project, { removeNetworks: true }, ctx()).then(() => true, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 3000));
    }
    for (const i of instances.reverse()) await i.shutdown?.();
    if (stateDir) await fs.rm(stateDir, { recursive: true, force: true });
  });

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
    const up = await runner.up(src(), opts, ctx());
    const upMs = Date.now() - t0;
    assert.deepEqual(up.services.map((s) => [s.vmName, s.action]), [[`${project}-first-1`, 'created'], [`${project}-second-1`, 'created']]);

    const net = await nm.get(`${project}-lan`, ctx());
    assert.equal(net.mode, 'isolated');
    assert.equal(net.subnet, subnet);

    // The second VM was started only after the first had its lease; wait for its own lease too.
    await hv.waitForIp!(`${project}-second-1`, ctx());
    const ps = await runner.ps(project, ctx());
    assert.deepEqual(ps.services.map((s) => s.service), ['first', 'second']);
    const prefix = subnet.split('.').slice(0, 3).join('.') + '.';
    for (const s of ps.services) {
      assert.equal(s.status, 'running');
      assert.ok(s.ipAddresses.length === 1 && s.ipAddresses[0]!.startsWith(prefix), `${s.vmName} has an address in ${subnet}: ${s.ipAddresses}`);
    }
    assert.notEqual(ps.services[0]!.ipAddresses[0], ps.services[1]!.ipAddresses[0]);
    for (const s of ps.services) assert.equal((await hv.get(s.vmName, ctx())).networks[0]?.name, `${project}-lan`);

    const t1 = Date.now();
    const again = await runner.up(src(), opts, ctx());
    const againMs = Date.now() - t1;
    assert.deepEqual(again.services.map((s) => s.action), ['unchanged', 'unchanged']);

    const down = await runner.down(project, { removeNetworks: true }, ctx());
    assert.deepEqual(down.services.map((s) => s.vmName).sort(), [`${project}-first-1`, `${project}-second-1`]);
    assert.deepEqual(down.removedNetworks, [`${project}-lan`]);
    assert.deepEqual((await hv.list(ctx())).filter((v) => v.name.startsWith(`${project}-`)), []);
    await assert.rejects(nm.get(`${project}-lan`, ctx()), (e) => isVmrError(e) && e.code === 'NOT_FOUND');
    const left = (await fs.readdir(stateDir, { recursive: true })).filter((f) => String(f).includes(project));
    assert.deepEqual(left, [], 'no overlay, seed or console log is left');
    console.log(`# compose e2e: first up ${upMs} ms (2 TCG guests, second after first's lease), second up ${againMs} ms`);
  });

  it('a guest without qemu-guest-agent: guest exec is UNAVAILABLE, ps says starting, cloud_init_done runs out of time', async () => {
    const withHealth = file().replace('    cloud_init: {', '    healthcheck: { test: "true", interval: 1s, timeout: 2s }\n    cloud_init: {');
    await runner.up({ ...src(), content: withHealth }, opts, ctx());
    const first = `${project}-first-1`;
    // The channel exists (every VM gets one); nothing in the busybox guest answers on it.
    await assert.rejects(hv.guestExec!(first, { argv: ['true'], timeoutSeconds: 5 }, ctx()),
      (e) => isVmrError(e) && e.code === 'UNAVAILABLE', 'the QEMU agent command round trip maps "agent not connected"');
    const ps = await runner.ps(project, ctx());
    assert.deepEqual(ps.services.map((s) => s.health), ['starting', '']);
    // first already has its address, so the bound is spent waiting for the agent only.
    const gated = withHealth.replace('condition: ip_assigned }', 'condition: cloud_init_done, timeout_seconds: 10 }');
    await assert.rejects(runner.up({ ...src(), content: gated }, opts, ctx()), (e) => isVmrError(e) && e.code === 'DEADLINE_EXCEEDED' &&
      /service "first" did not meet cloud_init_done within 10 s \(service "second" waits for it/.test(e.message));
    await runner.down(project, { removeNetworks: true }, ctx());
  });
});
