// The compose plugin on real libvirt (qemu:///system) with the tiny test guest (test/support/guest), set up as
// the daemon's loader would: the libvirt plugin provides the hypervisor and networks, and a VmService runs the
// guest's base disk directly (the core's VmActions adds only image resolution, which the image-store suites cover).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before } from 'node:test';
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

export const URI = 'qemu:///system';

export const ctx = (timeoutMs = 180_000): CallContext => ({
  signal: AbortSignal.timeout(timeoutMs),
  log: quietLogger,
  context: defaultContextInfo({ libvirtUri: URI }),
});

/** What test/support/guest.ts (libvirt branch) exports; loaded at run time so this file compiles without it. */
interface TestGuest { rawPath: string; diskSize: number }

export interface ComposeRig {
  hv: Hypervisor;
  nm: NetworkManager;
  runner: ComposeRunner;
  /** The plugins' state dir (a fresh one under .test-work). */
  stateDir: string;
}

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

/**
 * Call inside a describe: its before() starts the plugins and fills the returned rig; its after() takes down
 * `project` (whatever a failed assertion left behind) and the plugins, and removes the state dir.
 */
export function composeOnLibvirt(project: string, stateDirPrefix: string): ComposeRig {
  const rig = {} as ComposeRig;
  const instances: PluginInstance[] = [];

  before(async () => {
    await requireService('libvirtd');
    const guestModule = pathToFileURL(path.join(repoRoot, 'dist/test/support/guest.js')).href;
    const { testGuest } = (await import(guestModule).catch((e: Error) => {
      throw new Error(`the test guest builder (test/support/guest.ts, libvirt branch) is not in this tree: ${e.message}`);
    })) as { testGuest: () => Promise<TestGuest> };
    const guest = await testGuest();
    await fs.mkdir(path.join(repoRoot, '.test-work'), { recursive: true });
    rig.stateDir = await fs.mkdtemp(path.join(repoRoot, `.test-work/${stateDirPrefix}-`));
    await fs.chmod(rig.stateDir, 0o755);

    const ports = new Map<string, unknown>();
    const { def: libvirt } = await loadPluginModule('libvirt', undefined, repoRoot);
    const lv = await initPlugin(libvirt, { uri: URI, stateDir: rig.stateDir }, rig.stateDir, ports);
    instances.push(lv);
    const hv = lv.implementations[hypervisorPort.id] as Hypervisor;
    rig.hv = hv;
    rig.nm = lv.implementations[networksPort.id] as NetworkManager;
    ports.set(hypervisorPort.id, hv);
    ports.set(networksPort.id, rig.nm);
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
    const cp = await initPlugin(composePlugin as unknown as PluginDefinition, { parallelism: 2, stopTimeoutSeconds: 5 }, rig.stateDir, ports);
    instances.push(cp);
    rig.runner = cp.implementations[composePort.id] as ComposeRunner;
  });

  after(async () => {
    // libvirtd may be restarting (other suites restart it), so retry.
    for (let i = 0; rig.runner && i < 5; i++) {
      const ok = await rig.runner.down(project, { removeNetworks: true }, ctx()).then(() => true, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 3000));
    }
    for (const i of instances.reverse()) await i.shutdown?.();
    if (rig.stateDir) await fs.rm(rig.stateDir, { recursive: true, force: true });
  });

  return rig;
}
