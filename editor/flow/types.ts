/**
 * The canvas model: React Flow nodes and edges that map one to one onto the pipeline document
 * (design.md 1.3). A flow node's `data` holds exactly the document node's `type` and `params`;
 * everything else the canvas shows (run state, issues) lives in stores keyed by node id.
 */
import type { Edge, Node } from '@xyflow/react';

export interface FlowNodeData extends Record<string, unknown> {
  /** The pipeline node type, e.g. "flux-flex-generate". */
  type: string;
  /** Params the user set; defaults are not copied in, so saved files stay small. */
  params: Record<string, unknown>;
}

/** Every pipeline node renders with the one generic component registered under this key. */
export const FLOW_NODE_TYPE = 'pipeline' as const;

export type FlowNode = Node<FlowNodeData, typeof FLOW_NODE_TYPE>;

export interface FlowEdgeData extends Record<string, unknown> {
  /** The document gave this edge an explicit id, so saving writes it back. */
  keepId?: boolean;
  /**
   * View only (never saved): the points an auto-layout routed this edge through, with where its
   * two nodes stood then; the route is used while they stay there.
   */
  route?: { points: { x: number; y: number }[]; source: { x: number; y: number }; target: { x: number; y: number } };
}

export type FlowEdge = Edge<FlowEdgeData>;

/** An edge as the document and the connection check see it (handle id = port name). */
export interface EdgeEnds {
  source: string;
  sourceHandle: string;
  target: string;
  targetHandle: string;
}
