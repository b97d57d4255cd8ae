/**
 * A node's size and port places before it is drawn. The canvas of a big graph draws only the
 * nodes in view; React Flow would draw every node once to measure it unless the node says where
 * its handles are. The node's header and port rows have fixed heights (styles.css: `.fg-node`,
 * `.fg-node-header`, `.fg-port`), so a handle's place follows from its port's index; a browser
 * test checks these figures against the drawn nodes.
 */
import { Position, type NodeHandle } from '@xyflow/react';
import type { NodeDescriptor } from '../../engine/core/describe';
import type { Catalog } from './flow-mapping';
import type { FlowNode } from './types';

/** `.fg-node { width }` */
export const NODE_WIDTH = 240;
/** The handle's box: `.fg-handle` (border-box). */
export const HANDLE_SIZE = 11;
/** From the node's top to the first port row: the 3 px top border, the header (padding 6 + 4, title 14 + id 13 px lines), the ports' 2 px top padding. */
export const FIRST_PORT_TOP = 42;
/** `.fg-port` height 18 plus the 2 px gap between rows. */
export const PORT_ROW_STEP = 20;
const PORT_ROW_HEIGHT = 18;
/** The node's 1 px side border: handles sit centred on the node's inner edge. */
const SIDE_BORDER = 1;

/** Where React Flow would measure the node's handles, relative to its top-left corner. */
export function estimatedHandles(d: Pick<NodeDescriptor, 'inputs' | 'outputs'>): NodeHandle[] {
  const y = (i: number) => FIRST_PORT_TOP + i * PORT_ROW_STEP + (PORT_ROW_HEIGHT - HANDLE_SIZE) / 2;
  const common = { width: HANDLE_SIZE, height: HANDLE_SIZE };
  return [
    ...d.inputs.map((p, i) => ({ ...common, id: p.name, type: 'target' as const, position: Position.Left, x: SIDE_BORDER - HANDLE_SIZE / 2, y: y(i) })),
    ...d.outputs.map((p, i) => ({ ...common, id: p.name, type: 'source' as const, position: Position.Right, x: NODE_WIDTH - SIDE_BORDER - HANDLE_SIZE / 2, y: y(i) })),
  ];
}

/**
 * About how big the node will be drawn (its params and run details vary it): enough to decide
 * what is in view, to place nodes before they are measured and to fit the view.
 */
export function estimatedSize(d: Pick<NodeDescriptor, 'inputs' | 'outputs' | 'usesProvider'> | undefined): { width: number; height: number } {
  if (!d) return { width: NODE_WIDTH, height: 80 };
  const rows = Math.max(1, d.inputs.length, d.outputs.length);
  // Header and ports, then about one line of params, and the estimate line of a provider node.
  return { width: NODE_WIDTH, height: FIRST_PORT_TOP + rows * PORT_ROW_STEP + 4 + 24 + (d.usesProvider ? 20 : 0) };
}

const estimated = new WeakMap<FlowNode, { catalog: Catalog; node: FlowNode }>();
/** One handle list per node type (React Flow only reads it). */
const handlesByType = new WeakMap<NodeDescriptor, NodeHandle[]>();

/**
 * The node as the canvas hands it to React Flow: until it has been measured, with its estimated
 * size and handles (so it need not be drawn to be placed, culled or connected); once measured,
 * as it is, so React Flow keeps the handle places it measured. Cached per node object.
 */
export function withEstimate(node: FlowNode, catalog: Catalog): FlowNode {
  if (node.measured?.width !== undefined && node.measured.height !== undefined) return node;
  const hit = estimated.get(node);
  if (hit && hit.catalog === catalog) return hit.node;
  const d = catalog.get(node.data.type);
  if (!d) return node;
  const size = estimatedSize(d);
  let handles = handlesByType.get(d);
  if (!handles) handlesByType.set(d, (handles = estimatedHandles(d)));
  const shown: FlowNode = { ...node, initialWidth: size.width, initialHeight: size.height, handles };
  estimated.set(node, { catalog, node: shown });
  return shown;
}
