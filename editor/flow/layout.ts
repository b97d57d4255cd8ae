/**
 * Auto-layout with dagre: left to right, in the direction data flows. Pure: takes nodes with
 * (measured or estimated) sizes and edges, returns new top-left positions by node id.
 */
import { Graph, layout } from '@dagrejs/dagre';

export interface LayoutNode {
  id: string;
  width?: number;
  height?: number;
}

export const ESTIMATED_NODE_SIZE = { width: 240, height: 150 };

export interface Point {
  x: number;
  y: number;
}

export interface Layout {
  /** Top-left corners by node id. */
  positions: Map<string, Point>;
  /**
   * Per edge (by index in the list given), the points dagre routes it through between its two
   * ends: an edge that skips ranks passes where no node is. Empty for neighbouring ranks.
   */
  routes: Point[][];
}

export function layoutGraph(
  nodes: readonly LayoutNode[],
  edges: readonly { source: string; target: string }[],
  options: { rankSep?: number; nodeSep?: number } = {},
): Map<string, Point> {
  return layoutWithRoutes(nodes, edges, options).positions;
}

export function layoutWithRoutes(
  nodes: readonly LayoutNode[],
  edges: readonly { source: string; target: string }[],
  options: { rankSep?: number; nodeSep?: number } = {},
): Layout {
  const g = new Graph({ multigraph: true });
  g.setGraph({ rankdir: 'LR', ranksep: options.rankSep ?? 90, nodesep: options.nodeSep ?? 40, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = new Set<string>();
  for (const n of nodes) {
    ids.add(n.id);
    g.setNode(n.id, { width: n.width ?? ESTIMATED_NODE_SIZE.width, height: n.height ?? ESTIMATED_NODE_SIZE.height });
  }
  edges.forEach((e, i) => {
    if (ids.has(e.source) && ids.has(e.target)) g.setEdge(e.source, e.target, {}, String(i));
  });
  layout(g);
  const positions = new Map<string, Point>();
  for (const n of nodes) {
    const p = g.node(n.id) as { x: number; y: number; width: number; height: number };
    // dagre gives centres; React Flow positions are top-left corners.
    positions.set(n.id, { x: Math.round(p.x - p.width / 2), y: Math.round(p.y - p.height / 2) });
  }
  const routes = edges.map((e, i) => {
    if (!ids.has(e.source) || !ids.has(e.target)) return [];
    const points = (g.edge({ v: e.source, w: e.target, name: String(i) }) as { points?: Point[] } | undefined)?.points ?? [];
    // The first and last points lie on the nodes' borders; the handles replace them.
    return points.length > 3 ? points.slice(1, -1).map((p) => ({ x: Math.round(p.x), y: Math.round(p.y) })) : [];
  });
  return { positions, routes };
}
