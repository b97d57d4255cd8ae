/**
 * Copy and paste of a selection. The clipboard holds a pipeline fragment (plain document nodes
 * and the edges between them), so it can also travel through the system clipboard as JSON.
 */
import type { PipelineEdge, PipelineNode } from '../../engine/core/pipeline-schema';
import { edgeId, toFlowEdge, toFlowNode } from './flow-mapping';
import { nextNodeId } from './ids';
import type { FlowEdge, FlowNode } from './types';

export interface Fragment {
  fluxgraphFragment: 1;
  nodes: PipelineNode[];
  edges: PipelineEdge[];
}

export function copyFragment(nodes: readonly FlowNode[], edges: readonly FlowEdge[]): Fragment | undefined {
  const picked = nodes.filter((n) => n.selected);
  if (picked.length === 0) return undefined;
  const ids = new Set(picked.map((n) => n.id));
  return {
    fluxgraphFragment: 1,
    nodes: picked.map((n) => ({
      id: n.id,
      type: n.data.type,
      params: structuredClone(n.data.params),
      position: { x: n.position.x, y: n.position.y },
    })),
    edges: edges
      .filter((e) => ids.has(e.source) && ids.has(e.target))
      .map((e) => ({ source: e.source, sourceHandle: e.sourceHandle ?? '', target: e.target, targetHandle: e.targetHandle ?? '' })),
  };
}

export function isFragment(value: unknown): value is Fragment {
  const v = value as Partial<Fragment> | null;
  return !!v && v.fluxgraphFragment === 1 && Array.isArray(v.nodes) && Array.isArray(v.edges);
}

/** New nodes (selected) and edges with fresh ids, shifted by `offset`. */
export function pasteFragment(
  fragment: Fragment,
  takenIds: Iterable<string>,
  offset: { x: number; y: number },
): { nodes: FlowNode[]; edges: FlowEdge[] } {
  const taken = new Set(takenIds);
  const rename = new Map<string, string>();
  for (const n of fragment.nodes) rename.set(n.id, nextNodeId(n.id, taken));
  const nodes = fragment.nodes.map((n) => ({
    ...toFlowNode({
      ...n,
      id: rename.get(n.id)!,
      params: structuredClone(n.params ?? {}),
      position: { x: (n.position?.x ?? 0) + offset.x, y: (n.position?.y ?? 0) + offset.y },
    }),
    selected: true,
  }));
  const edges = fragment.edges.map((e) => {
    const ends = { ...e, source: rename.get(e.source) ?? e.source, target: rename.get(e.target) ?? e.target };
    return { ...toFlowEdge({ ...ends, id: undefined }), id: edgeId(ends) };
  });
  return { nodes, edges };
}
