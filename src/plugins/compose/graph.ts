// Dependency order of services: levels of a topological sort (each level only depends on earlier ones).

/** Cycles in `edges` (service → its dependencies), each as a path `a → b → a`; unknown targets are ignored. */
export function findCycles(edges: Map<string, string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[][] = [];
  const stack: string[] = [];
  const visit = (n: string) => {
    state.set(n, 'open');
    stack.push(n);
    for (const d of edges.get(n) ?? []) {
      if (!edges.has(d)) continue;
      if (state.get(d) === 'open') cycles.push([...stack.slice(stack.indexOf(d)), d]);
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...edges.keys()].sort()) if (!state.has(n)) visit(n);
  return cycles;
}

/** Levels: level 0 has no dependencies inside `edges`; throws on a cycle (validate first). */
export function levels(edges: Map<string, string[]>): string[][] {
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const d = (n: string): number => {
    const known = depth.get(n);
    if (known !== undefined) return known;
    if (visiting.has(n)) throw new Error(`dependency cycle through "${n}"`);
    visiting.add(n);
    const deps = (edges.get(n) ?? []).filter((x) => edges.has(x));
    const v = deps.length ? Math.max(...deps.map(d)) + 1 : 0;
    visiting.delete(n);
    depth.set(n, v);
    return v;
  };
  const out: string[][] = [];
  for (const n of [...edges.keys()].sort()) (out[d(n)] ??= []).push(n);
  return out.filter(Boolean);
}

/** `names` plus everything they depend on, transitively. */
export function withDependencies(names: string[], edges: Map<string, string[]>): Set<string> {
  const out = new Set<string>();
  const add = (n: string) => {
    if (out.has(n)) return;
    out.add(n);
    for (const d of edges.get(n) ?? []) add(d);
  };
  names.forEach(add);
  return out;
}
