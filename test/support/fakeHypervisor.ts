// A minimal hypervisor plugin for ops tests: a fixed VM list and a lifecycle-event hook the test fires.
import { NotImplementedError } from '../../src/core/errors.js';
import { definePlugin, type PluginDefinition } from '../../src/core/plugins/definePlugin.js';
import { hypervisorPort } from '../../src/core/plugins/refs.js';
import type { Hypervisor, HypervisorEvent, VMRecord, VMStatus } from '../../src/core/ports/hypervisor.js';

export interface FakeHypervisorHandle {
  fire(e: HypervisorEvent): void;
  listeners(): number;
}

const vm = (name: string, status: VMStatus): VMRecord => ({
  id: `id-${name}`, name, status, image: 'example/vm:1', imageDigest: 'sha256:0', created: new Date(0).toISOString(),
  memoryMb: 512, vcpuCount: 1, ephemeral: false, labels: {}, networks: [],
});

/** `statuses`: one VM per entry; `hang`: list() never answers (a wedged libvirtd), except through its signal. */
export function fakeHypervisorPlugin(statuses: VMStatus[], onInit: (h: FakeHypervisorHandle) => void, opts: { hang?: boolean } = {}): PluginDefinition {
  return definePlugin({
    id: 'fake-hypervisor', apiVersion: '^1.0.0', provides: [hypervisorPort],
    init: () => {
      const listeners = new Set<(e: HypervisorEvent) => void>();
      const no = async (): Promise<never> => { throw new NotImplementedError('the ops test hypervisor only lists VMs'); };
      const hv: Hypervisor = {
        run: no, start: no, stop: no, restart: no, delete: no, get: no,
        list: async (ctx) => {
          if (opts.hang) await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }));
          return statuses.map((s, i) => vm(`vm${i}`, s));
        },
        health: async () => ({ name: 'hypervisor', status: 'SERVING', message: 'fake', latencyMs: 0 }),
        onEvent: (l) => { listeners.add(l); return () => listeners.delete(l); },
      };
      onInit({ fire: (e) => { for (const l of listeners) l(e); }, listeners: () => listeners.size });
      return { implementations: { [hypervisorPort.id]: hv } };
    },
  });
}
