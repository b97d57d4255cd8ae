/** Fit view for the canvas: readable text first (see flow/viewport.ts). */
import type { ReactFlowInstance } from '@xyflow/react';
import type { FlowEdge, FlowNode } from '../flow/types';
import { fitViewport, type SizedNode } from '../flow/viewport';

function canvasSize(): { width: number; height: number } | undefined {
  const el = document.querySelector('.fg-canvas');
  if (!el) return undefined;
  const { width, height } = el.getBoundingClientRect();
  return { width, height };
}

/** Moves the view to fit `nodes` (default: all of them, as measured). */
export function fitReadable(flow: ReactFlowInstance<FlowNode, FlowEdge>, options: { duration?: number; nodes?: readonly SizedNode[] } = {}): void {
  const size = canvasSize();
  if (!size) return;
  const nodes = options.nodes ?? flow.getNodes();
  if (nodes.length === 0) return;
  void flow.setViewport(fitViewport(nodes, size.width, size.height), options.duration ? { duration: options.duration } : undefined);
}
