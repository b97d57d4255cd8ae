/**
 * Graph algorithms over pipeline edges: cycle finding (names the nodes in each cycle) and the
 * would-this-connection-create-a-cycle check the editor uses. The scheduler needs no order: each
 * node starts when its inputs arrive.
 */

export interface EdgeLike {
  source: string;
  target: string;
}

function adjacency(edges: readonly EdgeLike[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of edges) {
    const list = out.get(e.source);
    if (list) list.push(e.target);
    else out.set(e.source, [e.target]);
  }
  return out;
}

/** Each cycle as the list of node ids on it, in edge order (Tarjan's strongly connected components). */
export function findCycles(nodeIds: readonly string[], edges: readonly EdgeLike[]): string[][] {
  const out = adjacency(edges);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let counter = 0;
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of out.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      const selfLoop = (out.get(v) ?? []).includes(v);
      if (scc.length > 1 || selfLoop) cycles.push(scc.reverse());
    }
  };
  for (const id of nodeIds) if (!index.has(id)) visit(id);
  return cycles;
}

/** True when adding source→target would close a cycle (target already reaches source). */
export function wouldCreateCycle(edges: readonly EdgeLike[], source: string, target: string): boolean {
  if (source === target) return true;
  const out = adjacency(edges);
  const seen = new Set<string>();
  const todo = [target];
  while (todo.length) {
    const id = todo.pop()!;
    if (id === source) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    todo.push(...(out.get(id) ?? []));
  }
  return false;
}
