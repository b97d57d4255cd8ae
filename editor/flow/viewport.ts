/**
 * Fit view that keeps node text readable: it never zooms out below the scale at which the
 * smallest text on a node is READABLE_TEXT_PX on screen. A graph too big to fit at that scale is
 * shown from its start (top left: where data flows from), to be panned.
 */
import { ESTIMATED_NODE_SIZE } from './layout';

/** The smallest text the fit view may leave on screen. */
export const READABLE_TEXT_PX = 11;
/** The smallest font size used inside a node (styles.css keeps every node text at least this). */
export const SMALLEST_NODE_FONT_PX = 11;
export const MIN_FIT_ZOOM = READABLE_TEXT_PX / SMALLEST_NODE_FONT_PX;
export const MAX_FIT_ZOOM = 1.2;
/** Room left around the fitted graph, in screen pixels. */
export const FIT_MARGIN_PX = 40;

export interface Viewport {
  x: number;
  y: number;
  zoom: number;
}

export interface SizedNode {
  position: { x: number; y: number };
  measured?: { width?: number; height?: number };
  /** The canvas's estimate for a node not measured yet (editor/flow/node-estimate.ts). */
  initialWidth?: number;
  initialHeight?: number;
}

export function boundsOf(nodes: readonly SizedNode[]): { minX: number; minY: number; maxX: number; maxY: number } | undefined {
  if (nodes.length === 0) return undefined;
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const n of nodes) {
    minX = Math.min(minX, n.position.x);
    minY = Math.min(minY, n.position.y);
    maxX = Math.max(maxX, n.position.x + (n.measured?.width ?? n.initialWidth ?? ESTIMATED_NODE_SIZE.width));
    maxY = Math.max(maxY, n.position.y + (n.measured?.height ?? n.initialHeight ?? ESTIMATED_NODE_SIZE.height));
  }
  return { minX, minY, maxX, maxY };
}

/** The viewport that shows `nodes` in a `width`×`height` canvas, never below MIN_FIT_ZOOM. */
export function fitViewport(nodes: readonly SizedNode[], width: number, height: number): Viewport {
  const b = boundsOf(nodes);
  if (!b || width <= 0 || height <= 0) return { x: 0, y: 0, zoom: 1 };
  const w = Math.max(1, b.maxX - b.minX);
  const h = Math.max(1, b.maxY - b.minY);
  const room = { w: Math.max(1, width - 2 * FIT_MARGIN_PX), h: Math.max(1, height - 2 * FIT_MARGIN_PX) };
  const zoom = Math.max(MIN_FIT_ZOOM, Math.min(MAX_FIT_ZOOM, room.w / w, room.h / h));
  // Centred along each axis where the graph fits; from its start where it does not.
  const x = w * zoom <= room.w ? width / 2 - (b.minX + w / 2) * zoom : FIT_MARGIN_PX - b.minX * zoom;
  const y = h * zoom <= room.h ? height / 2 - (b.minY + h / 2) * zoom : FIT_MARGIN_PX - b.minY * zoom;
  return { x, y, zoom };
}
