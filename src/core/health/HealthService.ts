// HealthCheck: the daemon itself plus one component per pluggable port, each from its plugin's own
// probe (NOT_CONFIGURED where no plugin provides it). Probes run in parallel with a time limit so a
// hung backend shows as NOT_SERVING instead of hanging the RPC.
import { inject, injectable } from 'tsyringe';
import type { CallContext, ComponentHealth, HealthProbe } from '../ports/common.js';
import { PLUGGABLE_PORTS } from '../plugins/refs.js';
import type { PluginHost } from '../plugins/PluginHost.js';
import type { PortRef } from '../plugins/refs.js';
import { TOKENS } from '../tokens.js';
import { hostToolsHealth } from './hostTools.js';

const NAMES: Record<string, string> = {
  'vmregistry.hypervisor.v1': 'hypervisor',
  'vmregistry.networks.v1': 'networks',
  'vmregistry.registry.v1': 'registry',
  'vmregistry.auth.v1': 'auth',
  'vmregistry.compose.v1': 'compose',
};

export interface HealthReport {
  status: 'SERVING';
  version: string;
  context: string;
  components: Array<ComponentHealth & { plugin: string }>;
}

@injectable()
export class HealthService {
  constructor(
    @inject(TOKENS.Plugins) private readonly plugins: PluginHost,
    @inject(TOKENS.Version) private readonly version: string,
  ) {}

  async check(ctx: CallContext, probeTimeoutMs = 5000): Promise<HealthReport> {
    const started = Date.now();
    const host = hostToolsHealth();
    const components = await Promise.all(PLUGGABLE_PORTS.map(async ({ ref }) => {
      const name = NAMES[ref.id] ?? ref.title;
      const impl = this.plugins.maybe(ref as PortRef<HealthProbe>);
      const plugin = this.plugins.providerOf(ref.id) ?? '';
      if (!impl) {
        const st = this.plugins.status().find((s) => s.provides.includes(ref.id));
        return st
          ? { name, plugin: st.id, status: 'NOT_SERVING' as const, message: `plugin "${st.id}" ${st.state}: ${st.reason ?? ''}`.trim(), latencyMs: 0 }
          : { name, plugin: '', status: 'NOT_CONFIGURED' as const, message: `no plugin provides ${ref.id}`, latencyMs: 0 };
      }
      const t0 = Date.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        const h = await Promise.race([
          impl.health(ctx),
          new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error(`no answer within ${probeTimeoutMs} ms`)), probeTimeoutMs); }),
        ]);
        return { ...h, name, plugin, latencyMs: h.latencyMs || Date.now() - t0 };
      } catch (err) {
        return { name, plugin, status: 'NOT_SERVING' as const, message: (err as Error).message, latencyMs: Date.now() - t0 };
      } finally {
        clearTimeout(timer);
      }
    }));
    return {
      status: 'SERVING',
      version: this.version,
      context: ctx.context.name,
      components: [
        { name: 'daemon', plugin: 'core', status: 'SERVING', message: `vmregistryd ${this.version}`, latencyMs: Date.now() - started },
        { ...(await host), plugin: 'core' },
        ...components,
      ],
    };
  }
}
