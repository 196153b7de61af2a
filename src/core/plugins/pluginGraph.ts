// Orders plugins by their port edges: a plugin initialises after the providers of what it requires.
import { InvalidArgumentError } from '../errors.js';
import type { PluginDefinition } from './definePlugin.js';
import { PLUGGABLE_PORTS } from './refs.js';

export interface GraphInput {
  plugins: PluginDefinition[];
  /** Ports bound before any plugin (the core's own). */
  corePorts: Set<string>;
  bindings: Record<string, string>;
}

export interface PluginGraph {
  /** Init order. */
  order: PluginDefinition[];
  /** Port id → providing plugin id. */
  providers: Map<string, string>;
}

export function buildPluginGraph({ plugins, corePorts, bindings }: GraphInput): PluginGraph {
  const byId = new Map(plugins.map((p) => [p.id, p]));
  const candidates = new Map<string, string[]>();
  for (const p of plugins) {
    for (const ref of p.provides) {
      if (corePorts.has(ref.id)) throw new InvalidArgumentError(`plugin "${p.id}" provides ${ref.id}, which the core provides itself`);
      candidates.set(ref.id, [...(candidates.get(ref.id) ?? []), p.id]);
    }
  }
  for (const [port, chosen] of Object.entries(bindings)) {
    const list = candidates.get(port) ?? [];
    if (!list.includes(chosen)) {
      throw new InvalidArgumentError(`bindings: ${port} is bound to "${chosen}", but ${list.length ? `only ${list.join(', ')} provide it` : 'no enabled plugin provides it'}`, { field: `bindings.${port}` });
    }
  }
  const providers = new Map<string, string>();
  for (const [port, list] of candidates) {
    if (list.length === 1) providers.set(port, list[0]!);
    else if (bindings[port]) providers.set(port, bindings[port]!);
    else throw new InvalidArgumentError(`plugins ${list.map((x) => `"${x}"`).join(' and ')} all provide ${port}; choose one under bindings: { "${port}": "<plugin id>" }`, { field: 'bindings' });
  }
  const deps = new Map<string, string[]>();
  for (const p of plugins) {
    const d: string[] = [];
    for (const ref of p.requires ?? []) {
      if (corePorts.has(ref.id)) continue;
      const prov = providers.get(ref.id);
      if (!prov) {
        const hint = PLUGGABLE_PORTS.find((x) => x.ref.id === ref.id)?.suggest;
        throw new InvalidArgumentError(`plugin "${p.id}" requires ${ref.id} (${ref.title}), which no enabled plugin provides${hint ? `; enable the "${hint}" plugin` : ''}`, { field: `plugins.${p.id}` });
      }
      if (prov !== p.id) d.push(prov);
    }
    for (const ref of p.optional ?? []) {
      const prov = providers.get(ref.id);
      if (prov && prov !== p.id) d.push(prov);
    }
    deps.set(p.id, d);
  }
  // Depth-first topological sort; a grey node met again is a cycle, reported with its path.
  const order: PluginDefinition[] = [];
  const state = new Map<string, 'grey' | 'black'>();
  const visit = (id: string, trail: string[]) => {
    const s = state.get(id);
    if (s === 'black') return;
    if (s === 'grey') {
      const cycle = [...trail.slice(trail.indexOf(id)), id];
      throw new InvalidArgumentError(`plugin dependency cycle: ${cycle.join(' → ')}`, { field: 'plugins' });
    }
    state.set(id, 'grey');
    for (const d of deps.get(id) ?? []) visit(d, [...trail, id]);
    state.set(id, 'black');
    order.push(byId.get(id)!);
  };
  for (const p of [...plugins].sort((a, b) => a.id.localeCompare(b.id))) visit(p.id, []);
  return { order, providers };
}
