/**
 * The item indices each node will output, where the document alone decides them (draft counts,
 * picks), so validation can refuse a pick of an index that will never exist before anything is
 * spent. Unknown (undefined) wherever a count depends on run-time results.
 */
import type { AnyNodeDefinition } from './define-node';
import { topologicalOrder } from './graph';

/** Past this many items per node a count is treated as unknown: it is a check, not a run. */
const MAX_TRACKED = 100_000;

export interface StaticNode {
  id: string;
  def: AnyNodeDefinition;
  params: unknown;
}

export interface StaticEdge {
  source: string;
  target: string;
  targetHandle: string;
}

/** Output indices per node id (ascending), or undefined where unknown. */
export function staticItems(nodes: ReadonlyMap<string, StaticNode>, edges: readonly StaticEdge[]): Map<string, number[] | undefined> {
  const out = new Map<string, number[] | undefined>();
  const into = new Map<string, StaticEdge[]>();
  for (const e of edges) {
    const list = into.get(e.target);
    if (list) list.push(e);
    else into.set(e.target, [e]);
  }
  for (const id of topologicalOrder([...nodes.keys()], edges)) {
    const n = nodes.get(id)!;
    out.set(id, itemsOf(n, into.get(id) ?? [], out));
  }
  return out;
}

/** The indices arriving at a node's per-item port, interleaved as the scheduler does for several wires. */
export function arrivingIndices(n: StaticNode, wires: readonly StaticEdge[], known: ReadonlyMap<string, number[] | undefined>): number[] | undefined {
  const each = wires.filter((w) => w.targetHandle === n.def.eachItemOf);
  const lists = each.map((w) => known.get(w.source));
  if (lists.some((l) => l === undefined)) return undefined;
  if (each.length === 1) return lists[0];
  const mapped = lists.flatMap((l, wire) => l!.map((i) => i * each.length + wire));
  return mapped.sort((a, b) => a - b);
}

function itemsOf(n: StaticNode, wires: readonly StaticEdge[], known: ReadonlyMap<string, number[] | undefined>): number[] | undefined {
  let fan: number;
  try {
    fan = Math.max(0, n.def.fanOut?.(n.params as never) ?? 1);
  } catch {
    return undefined;
  }
  if (!n.def.eachItemOf) return fan <= MAX_TRACKED ? Array.from({ length: fan }, (_, i) => i) : undefined;
  const arriving = arrivingIndices(n, wires, known);
  if (!arriving || arriving.length * fan > MAX_TRACKED) return undefined;
  const out: number[] = [];
  for (const index of arriving) {
    // A node that drops items (pick) says which it passes on; without `passes`, all do.
    if (n.def.passes && !n.def.passes(n.params as never, index)) continue;
    for (let f = 0; f < fan; f++) out.push(index * fan + f);
  }
  return out;
}
