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

/**
 * Each cycle as the list of node ids on it, in edge order (Tarjan's strongly connected
 * components). Iterative over integer indices: a 100,000-node chain must not overflow the call
 * stack, and checking it stays linear.
 */
export function findCycles(nodeIds: readonly string[], edges: readonly EdgeLike[]): string[][] {
  // Number every node (edge endpoints outside `nodeIds` too: they are reached, never roots).
  const ids: string[] = [];
  const number = new Map<string, number>();
  const numberOf = (id: string): number => {
    let n = number.get(id);
    if (n === undefined) {
      n = ids.length;
      ids.push(id);
      number.set(id, n);
    }
    return n;
  };
  for (const id of nodeIds) numberOf(id);
  const from = new Int32Array(edges.length);
  const to = new Int32Array(edges.length);
  edges.forEach((e, i) => {
    from[i] = numberOf(e.source);
    to[i] = numberOf(e.target);
  });
  const n = ids.length;
  // Out-edges of node v are targets[first[v] .. first[v + 1]), in edge order.
  const first = new Int32Array(n + 1);
  for (let i = 0; i < edges.length; i++) first[from[i] + 1]++;
  for (let v = 0; v < n; v++) first[v + 1] += first[v];
  const fill = first.slice(0, n);
  const targets = new Int32Array(edges.length);
  for (let i = 0; i < edges.length; i++) targets[fill[from[i]]++] = to[i];

  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const stack = new Int32Array(n);
  let stackTop = 0;
  // The depth-first path: each frame is a node and the next of its out-edges to follow.
  const path = new Int32Array(n);
  const next = new Int32Array(n);
  let depth = 0;
  let counter = 0;
  const cycles: string[][] = [];
  const enter = (v: number) => {
    index[v] = low[v] = counter++;
    stack[stackTop++] = v;
    onStack[v] = 1;
    path[depth] = v;
    next[depth++] = first[v];
  };
  const roots = nodeIds.length;
  for (let root = 0; root < roots; root++) {
    if (index[root] !== -1) continue;
    enter(root);
    while (depth > 0) {
      const v = path[depth - 1];
      if (next[depth - 1] < first[v + 1]) {
        const w = targets[next[depth - 1]++];
        if (index[w] === -1) enter(w);
        else if (onStack[w]) low[v] = Math.min(low[v], index[w]);
        continue;
      }
      // v is done: close its component if it is the component's root, then report its low link up.
      if (low[v] === index[v]) {
        const scc: string[] = [];
        let w: number;
        do {
          w = stack[--stackTop];
          onStack[w] = 0;
          scc.push(ids[w]);
        } while (w !== v);
        if (scc.length > 1 || hasSelfLoop(targets, first[v], first[v + 1], v)) cycles.push(scc.reverse());
      }
      depth--;
      if (depth > 0) {
        const parent = path[depth - 1];
        low[parent] = Math.min(low[parent], low[v]);
      }
    }
  }
  return cycles;
}

function hasSelfLoop(targets: Int32Array, start: number, end: number, v: number): boolean {
  for (let i = start; i < end; i++) if (targets[i] === v) return true;
  return false;
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

/** Node ids in an order where every edge's source comes before its target (Kahn); nodes on cycles are left out. */
export function topologicalOrder(nodeIds: readonly string[], edges: readonly EdgeLike[]): string[] {
  const out = adjacency(edges);
  const indegree = new Map<string, number>(nodeIds.map((id) => [id, 0]));
  for (const e of edges) if (indegree.has(e.target) && indegree.has(e.source)) indegree.set(e.target, indegree.get(e.target)! + 1);
  const ready = nodeIds.filter((id) => indegree.get(id) === 0);
  const order: string[] = [];
  for (let i = 0; i < ready.length; i++) {
    const id = ready[i];
    order.push(id);
    for (const t of out.get(id) ?? []) {
      const d = indegree.get(t);
      if (d === undefined) continue;
      indegree.set(t, d - 1);
      if (d === 1) ready.push(t);
    }
  }
  return order;
}
