// Compose names and fixed addresses on libvirt (qemu:///system) with the tiny test guest: `db` has a fixed
// ipv4_address, `web` takes a DHCP lease. Checks the network XML (virsh net-dumpxml) for the DHCP
// reservation and the DNS host entries, that db got exactly its address, what the network's dnsmasq
// answers for the service names (queried on the bridge's gateway: the busybox guest has no way in for a
// command), that the guest got its service name as hostname, and that down removes the entries.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
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
import { queryA } from '../../support/dnsQuery.js';
import { repoRoot, requireService } from '../../support/services.js';
import { leaseSubnets, uniqueName } from '../../support/unique.js';

const pexec = promisify(execFile);

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

describe('compose names and fixed addresses on libvirt', () => {
  const project = uniqueName('vmrcn').replace(/-/g, '');
  const third = leaseSubnets(1, 252);
  const subnet = `10.252.${third}.0/24`;
  const prefix = `10.252.${third}.`;
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
    stateDir = await fs.mkdtemp(path.join(repoRoot, '.test-work/compose-names-'));
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
        ...(req.macAddress ? { macAddress: req.macAddress } : {}),
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
  db:
    image: localhost:5000/test/guest:1
    resources: { memory_mb: 256 }
    networks: { lan: { ipv4_address: ${prefix}10 } }
  web:
    image: localhost:5000/test/guest:1
    resources: { memory_mb: 256 }
    networks: [lan]
    depends_on: { db: { condition: ip_assigned } }
`;
  const src = () => ({ content: file(), baseDir: '/', env: {}, projectName: '' });
  // Generous: a busybox guest takes its lease in ~10 s on an idle machine, minutes on a loaded one under TCG.
  const opts = { services: [], forceRecreate: false, timeoutSeconds: 600 };
  const netName = () => `${project}-lan`;
  const dumpxml = async () => (await pexec('virsh', ['-c', URI, 'net-dumpxml', netName()])).stdout;

  it('reserves db\'s address, names both VMs in the network\'s DNS, sets hostnames, and down removes the entries', async () => {
    const v = await runner.validate(src(), ctx());
    assert.deepEqual(v.errors, []);
    await runner.up(src(), opts, ctx());

    const dbIps = await hv.waitForIp!(`${project}-db-1`, ctx());
    assert.deepEqual(dbIps, [`${prefix}10`], 'db has exactly its fixed address');
    const webIp = (await hv.waitForIp!(`${project}-web-1`, ctx()))[0]!;
    const db = await hv.get(`${project}-db-1`, ctx());
    const mac = db.networks[0]!.mac;

    // web's entry comes once its lease is seen (in the background after up).
    let xml = '';
    for (let i = 0; i < 120; i++) {
      xml = await dumpxml();
      if (xml.includes(`<host ip='${webIp}'>`)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.match(xml, new RegExp(`<host mac='${mac}' ip='${prefix}10'/>`), xml);
    assert.match(xml, new RegExp(`<host ip='${prefix}10'>\\s*<hostname>db</hostname>\\s*<hostname>db\\.${project}</hostname>`), xml);
    assert.match(xml, new RegExp(`<host ip='${webIp}'>\\s*<hostname>web</hostname>`), xml);

    // What a guest on the network resolves: the network's dnsmasq on the gateway.
    const gw = `${prefix}1`;
    assert.deepEqual(await queryA(gw, 'db'), [`${prefix}10`]);
    assert.deepEqual(await queryA(gw, `db.${project}`), [`${prefix}10`]);
    assert.deepEqual(await queryA(gw, 'web'), [webIp]);
    assert.deepEqual(await queryA(gw, 'web-1'), [webIp]);

    // The guest prints its seed: meta-data carries the service name as local-hostname.
    assert.ok(db.consoleLog, 'the hypervisor reports the console log file');
    assert.match(await fs.readFile(db.consoleLog, 'utf8'), /^local-hostname: db\r?$/m);

    await runner.down(project, { removeNetworks: false }, ctx());
    xml = await dumpxml();
    assert.doesNotMatch(xml, /<host /, xml);
    // Only our entry answers `db.<project>` (dnsmasq keeps the name the guest sent with its DHCP request
    // until that lease expires, so the bare `db` may still answer for a while).
    assert.deepEqual(await queryA(gw, `db.${project}`), []);
    const down = await runner.down(project, { removeNetworks: true }, ctx());
    assert.deepEqual(down.removedNetworks, [netName()]);
  });
});
