/**
 * The minimap's geometry: the graph's bounds scaled into the map's box (centred, with a margin),
 * and the view's rectangle in map pixels. Pure: boxes in, numbers out.
 */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface MapFrame {
  /** Map pixels per canvas unit. */
  scale: number;
  /** The map pixel of canvas point (0, 0). */
  originX: number;
  originY: number;
}

/** Map pixels kept free around the graph. */
export const MAP_MARGIN = 6;

/** Fits the boxes' bounds into a `width`×`height` map, centred. */
export function mapFrame(boxes: readonly Rect[], width: number, height: number): MapFrame {
  if (boxes.length === 0 || width <= 0 || height <= 0) return { scale: 1, originX: width / 2, originY: height / 2 };
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const b of boxes) {
    minX = Math.min(minX, b.x);
    minY = Math.min(minY, b.y);
    maxX = Math.max(maxX, b.x + b.width);
    maxY = Math.max(maxY, b.y + b.height);
  }
  const w = Math.max(1, maxX - minX);
  const h = Math.max(1, maxY - minY);
  const scale = Math.min((width - 2 * MAP_MARGIN) / w, (height - 2 * MAP_MARGIN) / h);
  return { scale, originX: (width - w * scale) / 2 - minX * scale, originY: (height - h * scale) / 2 - minY * scale };
}

/** The canvas area a view shows (React Flow's transform [x, y, zoom] over a `width`×`height` pane). */
export function viewRect(transform: readonly [number, number, number], width: number, height: number): Rect {
  const [tx, ty, zoom] = transform;
  return { x: -tx / zoom, y: -ty / zoom, width: width / zoom, height: height / zoom };
}

export function toMap(frame: MapFrame, r: Rect): Rect {
  return { x: frame.originX + r.x * frame.scale, y: frame.originY + r.y * frame.scale, width: r.width * frame.scale, height: r.height * frame.scale };
}

/** The canvas point under a map pixel. */
export function fromMap(frame: MapFrame, x: number, y: number): { x: number; y: number } {
  return { x: (x - frame.originX) / frame.scale, y: (y - frame.originY) / frame.scale };
}
