// The RET graph of a transfer: finding a cycle (with the path that closes it) and the order that
// puts every RET after what it requires, so a registry or a store never shows a RET whose
// requirements are not there yet.

/** The first cycle reachable from `roots`, as a path that ends where it starts, or undefined. */
export function findCycle(roots: readonly string[], edges: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    const s = state.get(n);
    if (s === 'done') return undefined;
    if (s === 'open') return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 'open');
    stack.push(n);
    for (const d of edges.get(n) ?? []) {
      const c = visit(d);
      if (c) return c;
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const r of roots) {
    const c = visit(r);
    if (c) return c;
  }
  return undefined;
}

/** Every node reachable from `roots`, requirements before the RETs that require them. Acyclic input. */
export function dependencyOrder(roots: readonly string[], edges: ReadonlyMap<string, readonly string[]>): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const visit = (n: string) => {
    if (seen.has(n)) return;
    seen.add(n);
    for (const d of edges.get(n) ?? []) visit(d);
    out.push(n);
  };
  for (const r of roots) visit(r);
  return out;
}
