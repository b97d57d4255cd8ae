/**
 * Lookups derived from the editor's node and edge arrays, computed once per array (the arrays
 * are immutable, so identity says when to recompute). Per-node selectors use these instead of
 * scanning the graph, which keeps a 500-node canvas cheap to update.
 */
import { pickTargetOf } from '../flow/picks';
import type { FlowEdge, FlowNode } from '../flow/types';

const byIdCache = new WeakMap<readonly FlowNode[], Map<string, FlowNode>>();

export function nodeById(nodes: readonly FlowNode[]): Map<string, FlowNode> {
  let map = byIdCache.get(nodes);
  if (!map) {
    map = new Map(nodes.map((n) => [n.id, n]));
    byIdCache.set(nodes, map);
  }
  return map;
}

const pickCache = new WeakMap<readonly FlowEdge[], { nodes: readonly FlowNode[]; targets: Map<string, string> }>();

/** For each node whose images feed exactly one pick-images node: that node's id. */
export function pickTargets(nodes: readonly FlowNode[], edges: readonly FlowEdge[]): Map<string, string> {
  const hit = pickCache.get(edges);
  if (hit && hit.nodes === nodes) return hit.targets;
  const index = nodeById(nodes);
  const typeOf = (id: string) => index.get(id)?.data.type;
  // Types never change, so a cached result stays right while only positions move.
  if (hit && hit.nodes.length === nodes.length && nodes.every((n) => typeOf(n.id) !== undefined && nodeById(hit.nodes).has(n.id))) {
    pickCache.set(edges, { nodes, targets: hit.targets });
    return hit.targets;
  }
  const targets = new Map<string, string>();
  for (const source of new Set(edges.map((e) => e.source))) {
    const pick = pickTargetOf(source, edges, typeOf);
    if (pick) targets.set(source, pick);
  }
  pickCache.set(edges, { nodes, targets });
  return targets;
}
